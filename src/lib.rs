//! selfsup: self-supervised visual representation learning on Burn.
//!
//! This facade re-exports the workspace's crates so a user can depend on one package; the
//! `selfsup` binary is built from this package too.

pub use selfsup_augment as augment;
pub use selfsup_backbones as backbones;
pub use selfsup_data as data;
pub use selfsup_distributed as distributed;
pub use selfsup_eval as eval;
pub use selfsup_heads as heads;
pub use selfsup_losses as losses;
pub use selfsup_memory as memory;
pub use selfsup_optim as optim;
pub use selfsup_train as train;
pub use selfsup_weaklabel as weaklabel;
