use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use selfsup_backbones::{ResNetConfig, Stem};

type B = Flex;

#[test]
fn small_stem_resnet18_maps_grayscale_28px_to_8x_width_features() {
    let device = Default::default();
    let net = ResNetConfig::resnet18()
        .with_width(8)
        .with_in_channels(1)
        .init::<B>(&device);
    let x = Tensor::<B, 4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let h = net.forward(x);
    assert_eq!(h.dims(), [3, 64]);
    assert_eq!(net.feature_dim(), 64);
    assert!(
        h.into_data()
            .into_vec::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite())
    );
}

#[test]
fn parameter_count_matches_torchvision_resnet18_without_fc() {
    // torchvision resnet18: 11_689_512 parameters, of which fc has 512 * 1000 + 1000. Its stem
    // is 7x7x3x64; the small stem 3x3x3x64 removes (49 - 9) * 3 * 64 weights. Burn also counts
    // BatchNorm's running mean and variance (buffers in PyTorch): 2 x 4800 BN channels.
    const BN_BUFFERS: usize = 2 * 4800;
    let device = Default::default();
    let imagenet = ResNetConfig::resnet18()
        .with_stem(Stem::ImageNet)
        .init::<B>(&device);
    assert_eq!(imagenet.num_params(), 11_689_512 - 513_000 + BN_BUFFERS);
    let small = ResNetConfig::resnet18().init::<B>(&device);
    assert_eq!(
        small.num_params(),
        11_689_512 - 513_000 - 40 * 3 * 64 + BN_BUFFERS
    );
}

/// torchvision's parameter count of `resnet34` / `resnet50` with `fc` replaced by `Identity`
/// (`sum(p.numel() for p in m.parameters())`, torchvision 0.29.2), and the channels of its batch
/// norms (`running_mean` sizes): Burn counts running mean and variance as parameters.
#[test]
fn parameter_counts_match_torchvision_resnet34_and_resnet50_without_fc() {
    let device = Default::default();
    for (config, torchvision_params, bn_channels) in [
        (ResNetConfig::resnet34(), 21_284_672, 8_512),
        (ResNetConfig::resnet50(), 23_508_032, 26_560),
    ] {
        let net = config.with_stem(Stem::ImageNet).init::<B>(&device);
        assert_eq!(net.num_params(), torchvision_params + 2 * bn_channels);
    }
}

#[test]
fn resnet50_features_are_32x_width_from_any_stem_and_channels() {
    let device = Default::default();
    for (stem, side) in [(Stem::Small, 16), (Stem::ImageNet, 64)] {
        let config = ResNetConfig::resnet50()
            .with_width(2)
            .with_in_channels(1)
            .with_stem(stem);
        assert_eq!(config.feature_dim(), 64);
        let net = config.init::<B>(&device);
        let x = Tensor::<B, 4>::random([2, 1, side, side], Distribution::Default, &device);
        assert_eq!(net.forward(x).dims(), [2, 64]);
        assert_eq!(net.feature_dim(), 64);
    }
}

#[test]
fn every_trainable_tensor_of_resnet50_gets_a_gradient() {
    let net = ResNetConfig::resnet50()
        .with_width(2)
        .init::<Autodiff<B>>(&Default::default());
    // 53 convolutions (stem, 3 x 16 in bottlenecks, 4 shortcuts), each with a batch norm.
    assert_every_trainable_tensor_gets_a_gradient(&net, [2, 3, 16, 16], 53 + 2 * 53);
}

#[test]
fn imagenet_stem_downsamples_by_32() {
    let device = Default::default();
    let net = ResNetConfig::resnet18()
        .with_width(4)
        .with_stem(Stem::ImageNet)
        .init::<B>(&device);
    let x = Tensor::<B, 4>::zeros([2, 3, 64, 64], &device);
    assert_eq!(net.forward(x).dims(), [2, 32]);
}

#[test]
fn every_trainable_tensor_gets_a_gradient() {
    let net = ResNetConfig::resnet18()
        .with_width(4)
        .with_in_channels(2)
        .init::<Autodiff<B>>(&Default::default());
    // 20 convolutions (stem, 16 in blocks, 3 shortcuts) and 20 batch norms with gamma and beta.
    assert_every_trainable_tensor_gets_a_gradient(&net, [4, 2, 16, 16], 20 + 2 * 20);
}

/// `trainable` tensors in `net`, each with a non-zero gradient of a loss on an input of `shape`.
fn assert_every_trainable_tensor_gets_a_gradient(
    net: &selfsup_backbones::ResNet<Autodiff<B>>,
    shape: [usize; 4],
    trainable: usize,
) {
    let x = Tensor::<Autodiff<B>, 4>::random(shape, Distribution::Default, &Default::default());
    let grads = net.forward(x).powf_scalar(2.0).sum().backward();
    let mut visitor = GradCount {
        grads: &grads,
        trainable: 0,
        with_gradient: 0,
    };
    net.visit(&mut visitor);
    assert_eq!(visitor.trainable, trainable);
    assert_eq!(visitor.with_gradient, visitor.trainable);
}

struct GradCount<'a> {
    grads: &'a <Autodiff<B> as burn::tensor::backend::AutodiffBackend>::Gradients,
    trainable: usize,
    with_gradient: usize,
}

impl burn::module::ModuleVisitor<Autodiff<B>> for GradCount<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<Autodiff<B>, D>>) {
        // Batch-norm running statistics are visited too but never require a gradient.
        if !param.val().is_require_grad() {
            return;
        }
        self.trainable += 1;
        if let Some(g) = param.val().grad(self.grads)
            && g.abs().sum().into_scalar() > 0.0
        {
            self.with_gradient += 1;
        }
    }
}

#[test]
fn channel_group_encoder_feeds_each_part_its_channels_and_concatenates() {
    use selfsup_backbones::Encoder;
    let device = Default::default();
    let part = |c| {
        ResNetConfig::resnet18()
            .with_width(4)
            .with_in_channels(c)
            .init::<B>(&device)
    };
    let (l, ab) = (part(1), part(2));
    let x = Tensor::<B, 4>::random([2, 3, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let want = Tensor::cat(
        vec![
            l.forward(x.clone().narrow(1, 0, 1)),
            ab.forward(x.clone().narrow(1, 1, 2)),
        ],
        1,
    );
    let encoder = Encoder::channel_groups(vec![l, ab]);
    assert_eq!(encoder.in_channels(), 3);
    let got = encoder.forward(x);
    assert_eq!(got.dims(), [2, 64]);
    assert_eq!(encoder.feature_dim(), 64);
    got.into_data().assert_eq(&want.into_data(), true);
}
