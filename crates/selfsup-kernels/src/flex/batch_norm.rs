//! The fused batch-norm kernels as operations of flex (inference: the affine map) and of
//! `Autodiff<Flex>` (training: batch statistics, with its own backward step).

use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::FloatTensor;

use super::{Trained, contiguous, tensor, values};
use crate::batch_norm::{self, BatchNormShape, ChannelStatistics, Epilogue, ForwardRecord};
use crate::written::written;

fn shape_of(dims: [usize; 4]) -> BatchNormShape {
    BatchNormShape {
        batch: dims[0],
        channels: dims[1],
        spatial: dims[2] * dims[3],
    }
}

/// `relu?(x * scale[c] + shift[c] + residual?)` on flex tensors: batch norm with running
/// statistics folded into `scale` and `shift`.
pub fn affine(
    x: FlexTensor,
    scale: FlexTensor,
    shift: FlexTensor,
    residual: Option<FlexTensor>,
    relu: bool,
    dims: [usize; 4],
) -> FlexTensor {
    let (x, scale, shift) = (contiguous(x), contiguous(scale), contiguous(shift));
    let residual = residual.map(contiguous);
    let shape = shape_of(dims);
    let epilogue = Epilogue {
        residual: residual.as_ref().map(values),
        relu,
    };
    // SAFETY: `affine` writes every row of its output, whose length it asserts.
    let (output, ()) = unsafe {
        written(shape.len(), |output| {
            batch_norm::affine(
                values(&x),
                values(&scale),
                values(&shift),
                epilogue,
                shape,
                output,
            )
        })
    };
    tensor(output, dims)
}

/// What the backward step keeps of the forward pass.
#[derive(Debug, Clone)]
struct Record {
    input: FlexTensor,
    output: FlexTensor,
    gamma: Vec<f32>,
    stats: Vec<ChannelStatistics>,
    epsilon: f64,
    relu: bool,
    dims: [usize; 4],
}

/// Computes the gradients and registers them for the parents that want one: the input, gamma,
/// beta and (when the forward added a tracked one) the residual, in that order.
fn register_gradients(
    parents: [Option<NodeId>; 4],
    node_grad: FlexTensor,
    record: Record,
    grads: &mut Gradients,
) {
    let output_grad = contiguous(node_grad);
    let (dims, shape) = (record.dims, shape_of(record.dims));
    let forward = ForwardRecord {
        input: values(&record.input),
        output: values(&record.output),
        gamma: &record.gamma,
        stats: &record.stats,
        epsilon: record.epsilon,
        relu: record.relu,
        residual_gradient: parents[3].is_some(),
    };
    let computed = batch_norm::backward(values(&output_grad), &forward, shape);
    let [x, gamma, beta, residual] = parents;
    if let Some(id) = x {
        grads.register::<Flex>(id, tensor(computed.input, dims));
    }
    if let Some(id) = gamma {
        grads.register::<Flex>(id, tensor(computed.gamma, [shape.channels]));
    }
    if let Some(id) = beta {
        grads.register::<Flex>(id, tensor(computed.beta, [shape.channels]));
    }
    if let (Some(id), Some(values)) = (residual, computed.residual) {
        grads.register::<Flex>(id, tensor(values, dims));
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = Record;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, gamma, beta] = ops.parents.map(|p| p.map(|node| node.id));
        let node_grad = grads.consume::<Flex>(&ops.node);
        register_gradients([x, gamma, beta, None], node_grad, ops.state, grads);
    }
}

#[derive(Debug)]
struct BatchNormResidualBackward;

impl Backward<Flex, 4> for BatchNormResidualBackward {
    type State = Record;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        let node_grad = grads.consume::<Flex>(&ops.node);
        register_gradients(parents, node_grad, ops.state, grads);
    }
}

/// Training-mode batch norm fused with its residual add and ReLU, as a tracked operation of
/// `Autodiff<Flex>`. Returns the output and each channel's batch statistics.
pub fn training(
    x: FloatTensor<Trained>,
    gamma: FloatTensor<Trained>,
    beta: FloatTensor<Trained>,
    residual: Option<FloatTensor<Trained>>,
    epsilon: f64,
    relu: bool,
    dims: [usize; 4],
) -> (FloatTensor<Trained>, Vec<ChannelStatistics>) {
    let input = contiguous(x.primitive.clone());
    let gamma_values = values(&contiguous(gamma.primitive.clone())).to_vec();
    let beta_values = contiguous(beta.primitive.clone());
    let residual_values = residual.as_ref().map(|r| contiguous(r.primitive.clone()));
    let shape = shape_of(dims);
    let epilogue = Epilogue {
        residual: residual_values.as_ref().map(values),
        relu,
    };
    // SAFETY: `forward` ends in `affine`, which writes every row of its output.
    let (output, stats) = unsafe {
        written(shape.len(), |output| {
            batch_norm::forward(
                values(&input),
                &gamma_values,
                values(&beta_values),
                epsilon,
                epilogue,
                shape,
                output,
            )
        })
    };
    let output = tensor(output, dims);
    let record = Record {
        input,
        output: output.clone(),
        gamma: gamma_values,
        stats: stats.clone(),
        epsilon,
        relu,
        dims,
    };
    let tracked = match residual {
        None => match BatchNormBackward
            .prepare::<NoCheckpointing>([x.node, gamma.node, beta.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(record, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
        Some(residual) => match BatchNormResidualBackward
            .prepare::<NoCheckpointing>([x.node, gamma.node, beta.node, residual.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(record, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    };
    (tracked, stats)
}
