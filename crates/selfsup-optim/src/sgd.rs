use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;

/// SGD with PyTorch's semantics, which the papers' recipes assume: momentum without dampening
/// (Burn's default dampening is 0.1), and weight decay added to the gradient only when it is
/// above zero.
pub fn momentum_sgd(momentum: f64, nesterov: bool, weight_decay: f64) -> SgdConfig {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum,
            dampening: 0.0,
            nesterov,
        }))
        .with_weight_decay(
            (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
        )
}
