//! LARS (You et al. 2017) as SimCLR, BYOL and WCL train with it. Burn 0.21 ships SGD, Adam and
//! friends but no LARS, hence this file: a `SimpleOptimizer`, so Burn's adaptor handles the
//! module traversal, records and devices.
//!
//! For every weight with more than one dimension: `g <- g + wd * w`, then
//! `g <- g * eta * ||w|| / ||g||` (1 when either norm is 0), then momentum `v <- m v + g` and
//! `w <- w - lr v` (the facebookresearch / solo-learn form, with the learning rate outside the
//! momentum buffer as in Burn's SGD). One-dimensional tensors (batch-norm scales and shifts,
//! biases) get neither weight decay nor the trust ratio: plain momentum SGD, as the papers do.

use burn::module::AutodiffModule;
use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::record::Record;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LarsConfig {
    pub momentum: f64,
    pub weight_decay: f64,
    /// eta, the trust coefficient (0.001 in the papers).
    pub eta: f64,
}

impl LarsConfig {
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(&self) -> OptimizerAdaptor<Lars, M, B> {
        OptimizerAdaptor::from(Lars { config: *self })
    }
}

#[derive(Debug, Clone)]
pub struct Lars {
    config: LarsConfig,
}

#[derive(Record, Clone)]
pub struct LarsState<B: Backend, const D: usize> {
    pub velocity: Tensor<B, D>,
}

impl<B: Backend> SimpleOptimizer<B> for Lars {
    type State<const D: usize> = LarsState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let LarsConfig {
            momentum,
            weight_decay,
            eta,
        } = self.config;
        let grad = if D > 1 {
            let grad = grad + tensor.clone().mul_scalar(weight_decay);
            let norm = |t: &Tensor<B, D>| -> f64 {
                t.clone().powi_scalar(2).sum().sqrt().into_scalar().elem()
            };
            let (weight_norm, grad_norm) = (norm(&tensor), norm(&grad));
            let trust = if weight_norm > 0.0 && grad_norm > 0.0 {
                eta * weight_norm / grad_norm
            } else {
                1.0
            };
            grad.mul_scalar(trust)
        } else {
            grad
        };
        let velocity = match state {
            Some(state) => state.velocity.mul_scalar(momentum) + grad,
            None => grad,
        };
        let updated = tensor - velocity.clone().mul_scalar(lr);
        (updated, Some(LarsState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        LarsState {
            velocity: state.velocity.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    use super::*;

    /// Momentum 0.9, weight decay 0.1, eta 0.001.
    fn lars() -> Lars {
        Lars {
            config: LarsConfig {
                momentum: 0.9,
                weight_decay: 0.1,
                eta: 0.001,
            },
        }
    }

    fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f64> {
        t.into_data()
            .into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// Two steps on a matrix against the formulas in float64.
    #[test]
    fn matrices_get_weight_decay_and_the_trust_ratio() {
        let lars = lars();
        let device = Default::default();
        let w0 = [1.0, -2.0, 0.5, 3.0];
        let g = [0.3, 0.1, -0.2, 0.4];
        let tensor = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<Flex, 2>::from_data(TensorData::new(v, [2, 2]), &device)
        };
        let (lr1, lr2) = (0.5, 0.25);
        let (w1, state) = lars.step(lr1, tensor(&w0), tensor(&g), None);
        let (w2, _) = lars.step(lr2, w1.clone(), tensor(&g), state);

        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scaled = |w: &[f64]| -> Vec<f64> {
            let d: Vec<f64> = g.iter().zip(w).map(|(g, w)| g + 0.1 * w).collect();
            let trust = 0.001 * norm(w) / norm(&d);
            d.iter().map(|x| x * trust).collect()
        };
        let v1 = scaled(&w0);
        let want1: Vec<f64> = w0.iter().zip(&v1).map(|(w, v)| w - lr1 * v).collect();
        let d2 = scaled(&want1);
        let v2: Vec<f64> = v1.iter().zip(&d2).map(|(v, d)| 0.9 * v + d).collect();
        let want2: Vec<f64> = want1.iter().zip(&v2).map(|(w, v)| w - lr2 * v).collect();
        for (got, want) in values(w1)
            .iter()
            .zip(&want1)
            .chain(values(w2).iter().zip(&want2))
        {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    /// Biases and batch-norm parameters: momentum SGD, no decay, no trust ratio.
    #[test]
    fn vectors_are_plain_momentum_sgd() {
        let lars = lars();
        let device = Default::default();
        let w = Tensor::<Flex, 1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device);
        let g = Tensor::<Flex, 1>::from_data(TensorData::new(vec![0.5f32, -1.0], [2]), &device);
        let (w1, state) = lars.step(0.1, w, g.clone(), None);
        let (w2, _) = lars.step(0.1, w1.clone(), g, state);
        let expect = |got: Vec<f64>, want: [f64; 2]| {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        };
        expect(values(w1), [0.95, 2.1]);
        // velocity 0.9 * g + g = 1.9 g.
        expect(values(w2), [0.95 - 0.1 * 0.95, 2.1 + 0.1 * 1.9]);
    }
}
