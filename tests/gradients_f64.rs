//! The whole backward pass of SimCLR and WCL (ResNet-18 backbone, heads, loss) on the CPU
//! backend in float32, against the same computation in float64, on real augmented views.

mod common;

use burn::backend::{Autodiff, Flex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use selfsup::runner::methods::{Method, Simclr, Wcl};

type Cpu = Autodiff<Flex>;

fn check<M: Method<Cpu>>(method: &str, views: &[Vec<f32>]) {
    let config = common::grads::tiny_config(method);
    let shape = [64, 1, 28, 28];
    let reference = common::grads::gradients_f64::<M>(&config, views, shape);
    let measured = common::grads::gradients::<Cpu, M>(&config, views, shape);
    assert!(reference.len() > 40);
    // Measured: at most 8.2e-6 (SimCLR, blocks.0.bn2.gamma).
    for (name, error) in common::grads::relative_errors(&reference, &measured) {
        assert!(error <= 5e-5, "{method}: {name} is {error:e} from float64");
    }
}

#[test]
fn simclr_gradients_match_float64() {
    let views = common::grads::real_views(&common::grads::tiny_config("simclr"));
    check::<Simclr<Cpu>>("simclr", &views);
}

/// On real views two images' embeddings can be so close that float32 and float64 pick
/// different nearest neighbours, a different weak-label graph and so a different loss; random
/// views keep the graph the same in both precisions.
#[test]
fn wcl_gradients_match_float64() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let views: Vec<Vec<f32>> = (0..2)
        .map(|_| {
            (0..64 * 28 * 28)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    check::<Wcl<Cpu>>("wcl", &views);
}
