use burn::module::{Module, Param, RunningState};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use selfsup_distributed::{BatchNormState, synced_batch_norm};

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
        self.forward_fused(x, None, false)
    }

    /// `relu?(self.forward(x) + residual?)`: a ResNet block's batch norm with the residual add
    /// and the ReLU after it, one fused kernel on the CPU fast path (selfsup-kernels), the
    /// same tensor operations as before on every other backend.
    pub fn forward_fused(
        &self,
        x: Tensor<B, 4>,
        residual: Option<Tensor<B, 4>>,
        relu: bool,
    ) -> Tensor<B, 4> {
        let synced = self.forward_synced(x.clone());
        if synced.is_none()
            && let Some(out) = self.forward_on_kernels(&x, residual.as_ref(), relu)
        {
            return out;
        }
        let mut out = synced.unwrap_or_else(|| self.forward_generic(x));
        if let Some(residual) = residual {
            out = out + residual;
        }
        if relu {
            out = burn::tensor::activation::relu(out);
        }
        out
    }

    fn forward_on_kernels(
        &self,
        x: &Tensor<B, 4>,
        residual: Option<&Tensor<B, 4>>,
        relu: bool,
    ) -> Option<Tensor<B, 4>> {
        let device = x.device();
        if B::ad_enabled(&device) {
            let trained = selfsup_kernels::batch_norm_training(
                x,
                &self.gamma.val(),
                &self.beta.val(),
                residual,
                self.epsilon,
                relu,
            )?;
            let channels = trained.mean.len();
            let as_tensor =
                |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [channels]), &device);
            self.blend(&self.running_mean, as_tensor(trained.mean), &device);
            self.blend(&self.running_var, as_tensor(trained.variance), &device);
            Some(trained.output)
        } else {
            let (scale, shift) = self.inference_affine(&device);
            selfsup_kernels::batch_norm_inference(x, &scale, &shift, residual, relu)
        }
    }

    /// The batch norm of every peer's batch, inside a synchronised forward pass of a
    /// data-parallel run (`model.sync_bn`).
    fn forward_synced(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 4>> {
        let [batch, channels, h, w] = x.dims();
        let state = BatchNormState {
            gamma: &self.gamma,
            beta: &self.beta,
            running_mean: &self.running_mean,
            running_var: &self.running_var,
            momentum: self.momentum,
            epsilon: self.epsilon,
        };
        let synced = synced_batch_norm(x.reshape([batch, channels, h * w]), state)?;
        Some(synced.reshape([batch, channels, h, w]))
    }

    /// `running = (1 - momentum) running + momentum batch`, outside the autodiff graph.
    fn blend(
        &self,
        state: &RunningState<Tensor<B, 1>>,
        batch_value: Tensor<B, 1>,
        device: &B::Device,
    ) {
        let old = state.value_sync().to_device(device);
        state.update(
            old.mul_scalar(1.0 - self.momentum)
                .add(batch_value.detach().mul_scalar(self.momentum))
                .detach(),
        );
    }

    /// The running statistics as `x * scale + shift`.
    fn inference_affine(&self, device: &B::Device) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let mean = self.running_mean.value().to_device(device);
        let var = self.running_var.value().to_device(device);
        let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
        let shift = self.beta.val() - mean * scale.clone();
        (scale, shift)
    }

    fn forward_generic(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
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
            self.blend(&self.running_mean, mean, &device);
            self.blend(&self.running_var, var.clone(), &device);
            let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
            centered * per_row(scale) + per_row(self.beta.val())
        } else {
            let (scale, shift) = self.inference_affine(&device);
            rows * per_row(scale) + per_row(shift)
        };
        out.reshape([batch, channels, h, w])
    }
}
