//! The whole run configuration: selfsup-config's general sections (data, model, train, eval,
//! checkpoint, distill) and every method's own section, whose type lives in the method's file
//! (`methods::wcl::WclConfig`, ...). TOML with unknown keys refused, `--set key=value`
//! overrides (load.rs), every bad value reported with its key (validate.rs: the general
//! sections, each method's `validate`, the rules across sections), and what a resumed run may
//! change (resume.rs).

mod datasets;
mod load;
mod resume;
mod sections;
mod validate;
mod validate_views;

pub use crate::methods::{
    BankLoss, BarlowConfig, ByolConfig, CmcConfig, CmcGraph, CmcViews, ExemplarConfig,
    InstDiscConfig, MethodKind, MocoConfig, SimclrConfig, SimsiamConfig, SwavConfig, WclConfig,
};
pub use resume::material_differences;
pub use sections::Config;
pub use selfsup_config::*;
