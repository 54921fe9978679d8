//! The one place a method's name becomes its type: [`with_method`], generated from the registry.

use burn::tensor::backend::AutodiffBackend;

use super::method::Method;
use super::registry::{MethodKind, for_each_method};

/// Runs `job` with the method type a [`MethodKind`] names ([`with_method`]).
pub trait MethodJob<B: AutodiffBackend> {
    type Output;
    fn run<M: Method<B>>(self) -> Self::Output;
}

/// Defines [`with_method`] from the registry.
macro_rules! declare_dispatch {
    ($($variant:ident: $module:ident::{$method:ident, $settings:ident}, $about:literal;)*) => {
        /// Runs `job` with the method type `kind` names.
        pub fn with_method<B: AutodiffBackend, J: MethodJob<B>>(
            kind: MethodKind,
            job: J,
        ) -> J::Output {
            match kind {
                $(MethodKind::$variant => job.run::<super::$module::$method<B>>(),)*
            }
        }
    };
}

for_each_method!(declare_dispatch);
