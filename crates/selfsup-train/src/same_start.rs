//! The check that every peer of a data-parallel run holds the same weights at the same step:
//! at the start (each peer built them from the seed, or read the same checkpoint) and after the
//! first step (the averaged gradients were applied alike). Only the trained weights are
//! compared: each peer's batch-norm running statistics follow its own share of the batch (the
//! first peer's are the ones saved), until synchronised batch norm makes them the same.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use selfsup_distributed::{Collective, CollectiveError, check_same_values};

/// Compares the step number and a fingerprint of the weights' bits between the peers; nothing
/// to do on one device.
pub(crate) fn check_same_start<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    step: usize,
    peers: &dyn Collective<B::InnerBackend>,
    device: &B::Device,
    when: &str,
) -> Result<(), CollectiveError> {
    if peers.world() == 1 {
        return Ok(());
    }
    let mut fingerprint = Fingerprint::<B> {
        hash: FNV_OFFSET,
        tensors: 0,
        _backend: std::marker::PhantomData,
    };
    model.visit(&mut fingerprint);
    let step_values = [step as f32, fingerprint.tensors as f32];
    check_same_values::<B::InnerBackend>(peers, &format!("the step {when}"), &step_values, device)?;
    check_same_values::<B::InnerBackend>(
        peers,
        &format!("the weights {when} (a hash of their bits, in 16-bit parts)"),
        &hash_parts(fingerprint.hash),
        device,
    )
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A 64-bit hash as four values below 2^16, each exact in f32 and in a sum with zeros.
fn hash_parts(hash: u64) -> [f32; 4] {
    std::array::from_fn(|i| ((hash >> (16 * i)) & 0xffff) as f32)
}

/// FNV-1a over the bits of every trained weight, in visit order: equal exactly when the
/// weights are (a sum of the values on the device would not do: its order of additions may
/// vary).
struct Fingerprint<B: AutodiffBackend> {
    hash: u64,
    tensors: usize,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Fingerprint<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        self.tensors += 1;
        let values = value.inner().into_data().convert::<f32>();
        for value in values.iter::<f32>() {
            self.hash = (self.hash ^ u64::from(value.to_bits())).wrapping_mul(FNV_PRIME);
        }
    }
}
