//! Heads that sit on the backbone's pooled features.

mod projection;

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
}
