//! The general sections of the run configuration (data, model, train, eval + distill,
//! checkpoint), the names of methods, backends and datasets, and the checks' error type and
//! helpers. The whole `Config` (these sections and every method's own) is assembled, loaded
//! and validated in `selfsup-train`'s `config` module, beside the methods that own their
//! sections.

mod checkpoint;
mod data;
mod error;
mod eval;
mod kinds;
mod model;
mod train;

pub use checkpoint::*;
pub use data::*;
pub use error::{ConfigError, invalid, non_negative, positive, positive_int, probability};
pub use eval::*;
pub use kinds::*;
pub use model::*;
pub use train::*;
