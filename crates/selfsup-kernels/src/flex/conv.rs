//! The convolution kernels as an operation of flex, and of `Autodiff<Flex>` with its own
//! backward step.

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::FloatTensor;

use super::{Trained, contiguous, tensor, values};
use crate::conv;
use crate::geometry::ConvGeometry;
use crate::written::written;

/// The forward convolution on flex tensors.
pub fn conv2d(x: FlexTensor, weight: FlexTensor, g: &ConvGeometry) -> FlexTensor {
    let (x, weight) = (contiguous(x), contiguous(weight));
    // SAFETY: `forward_into` writes every value of its output, whose length it asserts.
    let (output, ()) = unsafe {
        written(g.output_len(), |output| {
            conv::forward_into(values(&x), values(&weight), g, output)
        })
    };
    tensor(
        output,
        [g.batch, g.out_channels, g.out_height(), g.out_width()],
    )
}

#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 2> for Conv2dBackward {
    /// The input and weight as the forward pass read them (contiguous), and the geometry.
    type State = (FlexTensor, FlexTensor, ConvGeometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let output_grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, weight, g) = ops.state;
        if let Some(node) = node_x {
            // SAFETY: `backward_input_into` writes every value of its output, whose length it
            // asserts.
            let (input_grad, ()) = unsafe {
                written(g.input_len(), |input_grad| {
                    conv::backward_input_into(values(&output_grad), values(&weight), &g, input_grad)
                })
            };
            let shape = [g.batch, g.in_channels, g.height, g.width];
            grads.register::<Flex>(node.id, tensor(input_grad, shape));
        }
        if let Some(node) = node_weight {
            let mut weight_grad = vec![0.0f32; g.weight_len()];
            conv::backward_weight(values(&x), values(&output_grad), &g, &mut weight_grad);
            let shape = [g.out_channels, g.in_channels, g.kernel[0], g.kernel[1]];
            grads.register::<Flex>(node.id, tensor(weight_grad, shape));
        }
    }
}

/// The convolution as a tracked operation of `Autodiff<Flex>`, its backward step the kernels'.
pub fn conv2d_tracked(
    x: FloatTensor<Trained>,
    weight: FloatTensor<Trained>,
    g: &ConvGeometry,
) -> FloatTensor<Trained> {
    let prep = Conv2dBackward
        .prepare::<NoCheckpointing>([x.node.clone(), weight.node.clone()])
        .compute_bound()
        .stateful();
    let (x_values, weight_values) = (contiguous(x.primitive), contiguous(weight.primitive));
    let output = conv2d(x_values.clone(), weight_values.clone(), g);
    match prep {
        OpsKind::Tracked(prep) => prep.finish((x_values, weight_values, *g), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}
