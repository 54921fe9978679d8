//! The "your own loop" example (examples/own_loop.rs): SimCLR from selfsup's building blocks
//! in a plain Burn loop trains, and repeats itself exactly from the same seed.

#[path = "../examples/own_loop.rs"]
mod own_loop;

use burn::backend::{Autodiff, Flex};

#[test]
fn own_loop_example_learns_and_repeats_itself() {
    let images = own_loop::generated_images(64, 4);
    let losses = own_loop::train::<Autodiff<Flex>>(&images, 16, 32, 2, 7);
    assert_eq!(losses.len(), 16);
    assert!(losses.iter().all(|loss| loss.is_finite()), "{losses:?}");
    // 64 views of 32 images: a random embedding scores about ln(63) = 4.14, and the loop has
    // to do better than where it started.
    let start = losses[..4].iter().sum::<f64>() / 4.0;
    let end = losses[12..].iter().sum::<f64>() / 4.0;
    assert!(end < start - 0.05, "no progress: {losses:?}");

    let again = own_loop::train::<Autodiff<Flex>>(&images, 16, 32, 2, 7);
    assert_eq!(losses, again, "the same seed gives the same run");
}
