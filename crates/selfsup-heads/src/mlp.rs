use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;

use crate::batch_norm::batch_norm;

/// An MLP of any depth: every layer but the last is Linear -> BN -> ReLU; the last is Linear,
/// followed by BN when `batch_norm_last` (SimSiam's projector, Barlow Twins' would not).
/// Covers SimSiam's 3-layer projector and bottleneck predictor, BYOL's projector and predictor,
/// Barlow Twins' projector and SimCLR v2's 3-layer head.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input, hidden and output sizes: `[in, h1, ..., out]`, at least two.
    pub dims: Vec<usize>,
    #[config(default = false)]
    pub batch_norm_last: bool,
}

/// One layer of an [`Mlp`]: Linear, then BN and ReLU where the layer has them.
#[derive(Module, Debug)]
pub struct MlpLayer<B: Backend> {
    linear: Linear<B>,
    bn: Option<BatchNorm<B>>,
    relu: bool,
}

impl<B: Backend> MlpLayer<B> {
    /// A hidden layer, Linear -> BN -> ReLU: the shape of every layer but an MLP's last (and
    /// what SimCLR v2 keeps of its head for fine-tuning).
    pub fn hidden(input: usize, output: usize, device: &B::Device) -> Self {
        Self {
            linear: LinearConfig::new(input, output).init(device),
            bn: Some(BatchNormConfig::new(output).init(device)),
            relu: true,
        }
    }

    pub fn output_dim(&self) -> usize {
        self.linear.weight.dims()[1]
    }

    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut x = self.linear.forward(x);
        if let Some(bn) = &self.bn {
            x = batch_norm(bn, x);
        }
        if self.relu { relu(x) } else { x }
    }
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    layers: Vec<MlpLayer<B>>,
}

impl MlpConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        assert!(self.dims.len() >= 2, "an MLP needs input and output sizes");
        let last = self.dims.len() - 2;
        let layers = self
            .dims
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let hidden = i < last;
                MlpLayer {
                    linear: LinearConfig::new(pair[0], pair[1]).init(device),
                    bn: (hidden || self.batch_norm_last)
                        .then(|| BatchNormConfig::new(pair[1]).init(device)),
                    relu: hidden,
                }
            })
            .collect();
        Mlp { layers }
    }
}

impl<B: Backend> Mlp<B> {
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        self.layers
            .iter()
            .fold(features, |x, layer| layer.forward(x))
    }

    /// The first layer (Linear -> BN -> ReLU for a deep MLP): SimCLR v2 fine-tunes from it.
    pub fn first_layer(&self) -> &MlpLayer<B> {
        &self.layers[0]
    }

    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, MlpLayer::output_dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn shapes_and_layer_structure() {
        let device = Default::default();
        let mlp: Mlp<Flex> = MlpConfig::new(vec![8, 16, 16, 4])
            .with_batch_norm_last(true)
            .init(&device);
        assert_eq!(mlp.layers.len(), 3);
        assert!(mlp.layers.iter().all(|l| l.bn.is_some()));
        assert_eq!(mlp.layers.iter().filter(|l| l.relu).count(), 2);
        let x = Tensor::<Flex, 2>::ones([5, 8], &device);
        assert_eq!(mlp.forward(x.clone()).dims(), [5, 4]);
        assert_eq!(mlp.first_layer().forward(x.clone()).dims(), [5, 16]);
        assert_eq!(mlp.first_layer().output_dim(), 16);
        assert_eq!(mlp.output_dim(), 4);
        // A stand-alone hidden layer has the same parameters as an MLP's first layer.
        let hidden = MlpLayer::<Flex>::hidden(8, 16, &device);
        assert_eq!(hidden.num_params(), mlp.first_layer().num_params());
        assert!(hidden.bn.is_some() && hidden.relu);
        let plain: Mlp<Flex> = MlpConfig::new(vec![8, 4]).init(&device);
        assert!(plain.layers[0].bn.is_none() && !plain.layers[0].relu);
    }
}
