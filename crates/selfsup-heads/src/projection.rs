use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use crate::batch_norm::batch_norm;

/// SimCLR v1 / WCL projection head: Linear -> BN -> ReLU -> Linear; MoCo v2's is the same
/// without the BN (`with_batch_norm(false)`).
///
/// ```
/// use burn::backend::Flex;
/// use burn::tensor::Tensor;
/// use selfsup_heads::ProjectionMlpConfig;
///
/// let device = Default::default();
/// let head = ProjectionMlpConfig::new(512, 2048, 128).init::<Flex>(&device);
/// let features = Tensor::<Flex, 2>::ones([4, 512], &device);
/// assert_eq!(head.forward(features).dims(), [4, 128]);
/// ```
#[derive(Config, Debug)]
pub struct ProjectionMlpConfig {
    pub input_dim: usize,
    pub hidden_dim: usize,
    pub output_dim: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl ProjectionMlpConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> ProjectionMlp<B> {
        ProjectionMlp {
            hidden: LinearConfig::new(self.input_dim, self.hidden_dim).init(device),
            bn: self
                .batch_norm
                .then(|| BatchNormConfig::new(self.hidden_dim).init(device)),
            output: LinearConfig::new(self.hidden_dim, self.output_dim).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct ProjectionMlp<B: Backend> {
    hidden: Linear<B>,
    bn: Option<BatchNorm<B>>,
    output: Linear<B>,
}

impl<B: Backend> ProjectionMlp<B> {
    /// `[batch, input_dim]` -> `[batch, output_dim]` (not normalised: losses normalise).
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut x = self.hidden.forward(features);
        if let Some(bn) = &self.bn {
            x = batch_norm(bn, x);
        }
        let x = relu(x);
        self.output.forward(x)
    }
}
