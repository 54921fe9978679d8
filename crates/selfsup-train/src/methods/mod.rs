//! One file per method. A method names the views it wants, builds its backbone and heads, and
//! sums its losses; the shared loop (trainer.rs) does everything else. State that is not
//! trained (memory banks, queues, EMA targets, NCE's Z) lives in the method's module as
//! `RunningState`s, so checkpoints save it with the weights. What a method needs of the run
//! around it (data checks, normalisation, training set, encoder parts) are hooks of the
//! [`Method`] trait, reached by name through [`hooks`].

mod dispatch;
mod hooks;
mod init;
mod method;
mod parts;
mod registry;

pub use cmc::{CmcGraph, CmcViews};
pub use dispatch::{MethodJob, with_method};
pub use exemplar::exemplar_seeds;
pub use hooks::{MethodHooks, check_data, encoder_parts, hooks, normalization, training_set};
pub use init::{init_portable, init_portable_module};
pub use instdisc::BankLoss;
pub use method::{DataInfo, Method, MethodSettings, StepBatch, StepLoss};
pub use parts::{
    backbone_config, bank_rows, embed_by_resolution, linear_head, noise_rows,
    normalizer_over_peers, projection_config,
};
pub use registry::MethodKind;
pub(crate) use registry::for_each_method;
pub use simclr::head_layer_shape;

/// Declares the registry's modules and re-exports each method and its settings.
macro_rules! declare_methods {
    ($($variant:ident: $module:ident::{$method:ident, $settings:ident}, $about:literal;)*) => {
        $(
            mod $module;
            pub use $module::{$method, $settings};
        )*
    };
}

for_each_method!(declare_methods);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostBackend;

    /// The name a checkpoint records (`Method::NAME`) is the registry's name of the method.
    #[test]
    fn every_method_type_carries_its_registry_name() {
        struct Name;
        impl MethodJob<HostBackend> for Name {
            type Output = &'static str;
            fn run<M: Method<HostBackend>>(self) -> &'static str {
                M::NAME
            }
        }
        for &kind in MethodKind::ALL {
            assert_eq!(with_method(kind, Name), kind.name());
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        let error = "simclrr".parse::<MethodKind>().unwrap_err();
        assert!(
            error.contains("`simclrr`") && error.contains("wcl, instdisc"),
            "{error}"
        );
    }
}

/// What the unit tests of the methods share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::RefCell;

    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Test inputs uniform in [0, 1), from a seeded stream of their own: a test that drew them
    /// from the backend's generator would move another test's initialisation (issue 15).
    pub struct Draws(RefCell<ChaCha8Rng>);

    impl Draws {
        pub fn new(seed: u64) -> Self {
            Self(RefCell::new(ChaCha8Rng::seed_from_u64(seed)))
        }

        pub fn uniform<B: Backend, const D: usize>(&self, shape: [usize; D]) -> Tensor<B, D> {
            let mut rng = self.0.borrow_mut();
            let values: Vec<f32> = (0..shape.iter().product())
                .map(|_| rng.random::<f32>())
                .collect();
            Tensor::from_data(TensorData::new(values, shape), &Default::default())
        }
    }
}
