//! Each method's own section (`[simclr]`, `[wcl]`, ...): one file per method with its settings,
//! their defaults and their checks.

mod barlow;
mod byol;
mod cmc;
mod exemplar;
mod instdisc;
mod moco;
mod simclr;
mod simsiam;
mod swav;
mod wcl;

pub use barlow::BarlowConfig;
pub use byol::ByolConfig;
pub use cmc::{CmcConfig, CmcGraph, CmcViews};
pub use exemplar::ExemplarConfig;
pub use instdisc::{BankLoss, InstDiscConfig};
pub use moco::MocoConfig;
pub use simclr::SimclrConfig;
pub use simsiam::SimsiamConfig;
pub use swav::SwavConfig;
pub use wcl::WclConfig;
