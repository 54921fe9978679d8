//! The one copy of the optimisers and learning-rate schedules that pretraining
//! (`selfsup-train`) and evaluation (`selfsup-eval`'s linear probe and fine-tuning) both use.

pub mod lars;
pub mod schedule;
pub mod sgd;

pub use lars::{Lars, LarsConfig};
pub use schedule::LrSchedule;
pub use sgd::momentum_sgd;
