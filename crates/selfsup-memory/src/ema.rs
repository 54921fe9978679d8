use std::collections::VecDeque;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// `theta_target <- momentum * theta_target + (1 - momentum) * theta_online` for every float
/// tensor of two modules of the same structure (MoCo's key encoder, BYOL's target network).
/// `momentum = 1` leaves the target as it is, `momentum = 0` copies the online module.
///
/// Tensors are paired by visiting order, which is the same for two values of one module type;
/// a differing count panics. Batch-norm running statistics are float state too and are averaged
/// like the weights; MoCo and BYOL copy only `parameters()`, but their target networks always
/// run in training mode (batch statistics), so their running statistics are never read.
/// The result is detached: no gradient flows into the target.
pub fn ema_update<B: Backend, M: Module<B>>(target: M, online: &M, momentum: f64) -> M {
    let mut collector = Collector {
        tensors: VecDeque::new(),
    };
    online.visit(&mut collector);
    let expected = collector.tensors.len();
    let mut blender = Blender {
        online: collector.tensors,
        momentum,
    };
    let target = target.map(&mut blender);
    assert!(
        blender.online.is_empty(),
        "EMA: the online module has {expected} float tensors, the target {} fewer",
        blender.online.len()
    );
    target
}

struct Collector<B: Backend> {
    tensors: VecDeque<Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collector<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = param.val().detach();
        let len = tensor.shape().num_elements();
        self.tensors.push_back(tensor.reshape([len]));
    }
}

struct Blender<B: Backend> {
    online: VecDeque<Tensor<B, 1>>,
    momentum: f64,
}

impl<B: Backend> ModuleMapper<B> for Blender<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let online = self
            .online
            .pop_front()
            .expect("EMA: the target has more float tensors than the online module");
        let shape = tensor.shape();
        assert_eq!(
            online.shape().num_elements(),
            shape.num_elements(),
            "EMA: tensor shapes differ"
        );
        let blended = tensor
            .detach()
            .mul_scalar(self.momentum)
            .add(online.reshape(shape).mul_scalar(1.0 - self.momentum));
        Param::from_mapped_value(id, blended, mapper)
    }
}
