//! SimCLR v2's distillation: a student learns the teacher's temperature-softened predictions.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::Backend;

/// `-sum_y P_T(y|x; tau) log P_S(y|x; tau)`, mean over the batch, where `P = softmax(logits /
/// tau)` of `[n, classes]` logits. No `tau^2` factor (SimCLR v2's loss, unlike Hinton et al.'s).
/// The teacher's logits are a target: callers pass them without a gradient.
pub fn distillation<B: Backend>(
    student_logits: Tensor<B, 2>,
    teacher_logits: Tensor<B, 2>,
    temperature: f64,
) -> Tensor<B, 1> {
    let teacher = softmax(teacher_logits.div_scalar(temperature), 1);
    let student = log_softmax(student_logits.div_scalar(temperature), 1);
    (teacher * student).sum_dim(1).mean().neg()
}
