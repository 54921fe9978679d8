use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use selfsup_backbones::seeded_module;

type B = Autodiff<Flex>;

fn weights(module: &Linear<B>) -> Vec<f64> {
    let mut values: Vec<f64> = module
        .weight
        .val()
        .into_data()
        .convert::<f64>()
        .into_vec()
        .unwrap();
    let bias: Vec<f64> = module
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .convert::<f64>()
        .into_vec()
        .unwrap();
    values.extend(bias);
    values
}

/// Two linears with different weights, each drawn from its own seed under the process's
/// generator lock (the tests run in parallel threads).
fn pair() -> (Linear<B>, Linear<B>) {
    let device = Default::default();
    let config = LinearConfig::new(5, 3);
    let linear = |seed| seeded_module(&device, seed, |device| config.init(device));
    (linear(7), linear(8))
}

#[test]
fn momentum_zero_copies_one_keeps_and_between_blends() {
    for momentum in [0.0, 1.0, 0.99] {
        let (target, online) = pair();
        let (t, o) = (weights(&target), weights(&online));
        assert_ne!(t, o);
        let updated = selfsup_memory::ema_update(target, &online, momentum);
        for ((got, t), o) in weights(&updated).iter().zip(&t).zip(&o) {
            let want = momentum * t + (1.0 - momentum) * o;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "m = {momentum}: {got} vs {want}"
            );
        }
        if momentum == 1.0 {
            assert_eq!(
                weights(&updated),
                t,
                "m = 1 must leave the target as it was"
            );
        }
        if momentum == 0.0 {
            assert_eq!(weights(&updated), o, "m = 0 must copy the online module");
        }
    }
}

#[test]
fn the_target_is_detached_and_the_online_module_untouched() {
    let (target, online) = pair();
    let before = weights(&online);
    let updated = selfsup_memory::ema_update(target, &online, 0.5);
    assert!(!updated.weight.val().is_require_grad());
    assert_eq!(weights(&online), before);
    assert_eq!(updated.num_params(), online.num_params());
}
