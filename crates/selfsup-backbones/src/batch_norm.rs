use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Batch norm over `[batch, channels, h, w]`, numerically the same as `burn::nn::BatchNorm`
/// (biased batch variance, running statistics with momentum 0.1, eps 1e-5) and with the same
/// parameter names. Written by hand for speed: Burn's version broadcasts `[1, C, 1, 1]`
/// operands and transposes to channel-major, and the flex CPU backend runs middle-axis
/// broadcasts and that transpose about 20x slower than a per-row broadcast (measured with
/// `examples/bcast_timing.rs`); it made batch norm cost four times the convolutions. Here the
/// input is viewed as `[batch * channels, h * w]` and every per-channel factor is a column.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    momentum: f64,
    epsilon: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let device = x.device();
        let [batch, channels, h, w] = x.dims();
        let rows = x.reshape([batch * channels, h * w]);
        let per_row = |v: Tensor<B, 1>| {
            v.reshape([1, channels])
                .repeat_dim(0, batch)
                .reshape([batch * channels, 1])
        };
        let per_channel_sum = |t: Tensor<B, 2>| {
            t.sum_dim(1)
                .reshape([batch, channels])
                .sum_dim(0)
                .reshape([channels])
        };
        let out = if B::ad_enabled(&device) {
            let count = (batch * h * w) as f64;
            let mean = per_channel_sum(rows.clone()).div_scalar(count);
            let centered = rows - per_row(mean.clone());
            let var = per_channel_sum(centered.clone().powi_scalar(2)).div_scalar(count);
            let blend = |state: &RunningState<Tensor<B, 1>>, batch_value: Tensor<B, 1>| {
                let old = state.value_sync().to_device(&device);
                state.update(
                    old.mul_scalar(1.0 - self.momentum)
                        .add(batch_value.detach().mul_scalar(self.momentum))
                        .detach(),
                );
            };
            blend(&self.running_mean, mean);
            blend(&self.running_var, var.clone());
            let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
            centered * per_row(scale) + per_row(self.beta.val())
        } else {
            let mean = self.running_mean.value().to_device(&device);
            let var = self.running_var.value().to_device(&device);
            let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
            let shift = self.beta.val() - mean * scale.clone();
            rows * per_row(scale) + per_row(shift)
        };
        out.reshape([batch, channels, h, w])
    }
}
