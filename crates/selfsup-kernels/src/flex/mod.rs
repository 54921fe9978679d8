//! The kernels as operations of Burn's flex backend, and of `Autodiff<Flex>` with their own
//! backward steps. Other backends never reach these files (see `lib.rs`).

pub mod batch_norm;
pub mod conv;

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;
use burn::tensor::backend::Backend;

pub type Trained = burn::backend::Autodiff<Flex>;

/// `tensor`'s values in logical order: itself when it is stored that way, a copy otherwise.
pub(crate) fn contiguous(tensor: FlexTensor) -> FlexTensor {
    if tensor.layout().contiguous_offsets().is_some() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

pub(crate) fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("the fast path takes contiguous f32 tensors")
}

pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether `B` is the backend `T` (so a value of one type is a value of the other).
pub fn is<B: Backend, T: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<T>()
}
