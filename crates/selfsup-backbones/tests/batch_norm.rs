//! Our BatchNorm2d must be Burn's BatchNorm in all but speed.
use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::BatchNormConfig;
use burn::tensor::{Distribution, Tensor};
use selfsup_backbones::BatchNorm2d;

type A = Autodiff<Flex>;

fn max_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn matches_burn_batch_norm_in_training_inference_and_gradients() {
    let device = Default::default();
    let ours = BatchNorm2d::<A>::new(6, &device);
    let theirs = BatchNormConfig::new(6).init::<A>(&device);
    // Non-trivial gamma/beta in both.
    let gamma = Tensor::<A, 1>::random([6], Distribution::Uniform(0.5, 1.5), &device);
    let beta = Tensor::<A, 1>::random([6], Distribution::Uniform(-1.0, 1.0), &device);
    let mut ours = ours;
    let mut theirs = theirs;
    let copy = |t: &Tensor<A, 1>| {
        burn::module::Param::from_tensor(Tensor::<A, 1>::from_data(t.to_data(), &device))
    };
    ours.gamma = copy(&gamma);
    ours.beta = copy(&beta);
    theirs.gamma = copy(&gamma);
    theirs.beta = copy(&beta);

    for step in 0..3 {
        let x = Tensor::<Flex, 4>::random(
            [5, 6, 7, 3],
            Distribution::Normal(step as f64, 2.0),
            &device,
        );
        // Separate graphs: a backward pass consumes the graph it runs on.
        let x_ours = Tensor::<A, 4>::from_inner(x.clone()).require_grad();
        let x_theirs = Tensor::<A, 4>::from_inner(x).require_grad();
        let weights = Tensor::<A, 4>::random([5, 6, 7, 3], Distribution::Default, &device);
        let y_ours = ours.forward(x_ours.clone());
        let y_theirs = theirs.forward(x_theirs.clone());
        assert!(max_diff(y_ours.clone().inner(), y_theirs.clone().inner()) < 1e-5);
        let g_ours = (y_ours * weights.clone()).sum().backward();
        let g_theirs = (y_theirs * weights).sum().backward();
        assert!(
            max_diff(
                x_ours.grad(&g_ours).unwrap(),
                x_theirs.grad(&g_theirs).unwrap()
            ) < 1e-5
        );
        assert!(
            max_diff(
                ours.gamma.grad(&g_ours).unwrap(),
                theirs.gamma.grad(&g_theirs).unwrap()
            ) < 1e-4
        );
        assert!(
            max_diff(
                ours.beta.grad(&g_ours).unwrap(),
                theirs.beta.grad(&g_theirs).unwrap()
            ) < 1e-4
        );
    }
    assert!(
        max_diff(
            ours.running_mean.value().inner(),
            theirs.running_mean.value().inner()
        ) < 1e-5
    );
    assert!(
        max_diff(
            ours.running_var.value().inner(),
            theirs.running_var.value().inner()
        ) < 1e-5
    );

    let (ours, theirs) = (ours.valid(), theirs.valid());
    let x = Tensor::<Flex, 4>::random([4, 6, 2, 2], Distribution::Default, &device);
    assert!(max_diff(ours.forward(x.clone()), theirs.forward(x)) < 1e-5);
}
