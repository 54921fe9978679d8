//! Heads that sit on the backbone's pooled features.

mod batch_norm;
mod mlp;
mod projection;

pub use mlp::{Mlp, MlpConfig, MlpLayer};
pub use projection::{ProjectionMlp, ProjectionMlpConfig};

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::module::Module;
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let device = Default::default();
        let head = ProjectionMlpConfig::new(512, 512, 128).init::<Flex>(&device);
        // Two linears with bias, plus BN's gamma, beta and (counted by Burn) running mean and var.
        assert_eq!(
            head.num_params(),
            512 * 512 + 512 + 4 * 512 + 512 * 128 + 128
        );
        let z = head.forward(Tensor::random([4, 512], Distribution::Default, &device));
        assert_eq!(z.dims(), [4, 128]);
    }

    #[test]
    fn moco_v2_head_has_no_batch_norm() {
        let device = Default::default();
        let head = ProjectionMlpConfig::new(64, 64, 16)
            .with_batch_norm(false)
            .init::<Flex>(&device);
        assert_eq!(head.num_params(), 64 * 64 + 64 + 64 * 16 + 16);
        // Without BN, one sample's output does not depend on the rest of the batch.
        let x = Tensor::<Flex, 2>::random([3, 64], Distribution::Default, &device);
        let alone = head.forward(x.clone().narrow(0, 0, 1));
        let together = head.forward(x).narrow(0, 0, 1);
        alone
            .into_data()
            .assert_approx_eq::<f32>(&together.into_data(), Default::default());
    }
}
