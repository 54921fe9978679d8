use serde::{Deserialize, Serialize};

use super::BankLoss;
use crate::ConfigError;
use crate::error::{positive, positive_int, probability};

/// How CMC splits a Lab image into views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmcViews {
    /// L and ab (the paper's two views).
    #[serde(rename = "l_ab")]
    LAb,
    /// L, a and b as three views.
    #[serde(rename = "l_a_b")]
    LAndAAndB,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmcGraph {
    /// The first view (L) against each other view.
    Core,
    /// Every pair of views.
    Full,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmcConfig {
    pub temperature: f64,
    /// Noise samples per anchor from the other view's bank (nce / softmax).
    pub negatives: usize,
    pub bank_momentum: f64,
    /// "nce", "softmax" or "in_batch".
    pub loss: BankLoss,
    /// "l_ab" (two views) or "l_a_b" (three views).
    pub views: CmcViews,
    /// With more than two views: "core" (L against each) or "full" (every pair).
    pub graph: CmcGraph,
}

impl Default for CmcConfig {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            negatives: 4096,
            bank_momentum: 0.5,
            loss: BankLoss::Nce,
            views: CmcViews::LAb,
            graph: CmcGraph::Core,
        }
    }
}

impl CmcConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive("cmc.temperature", self.temperature)?;
        positive_int("cmc.negatives", self.negatives)?;
        probability("cmc.bank_momentum", self.bank_momentum)
    }
}
