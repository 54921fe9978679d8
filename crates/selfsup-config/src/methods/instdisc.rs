use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::error::{invalid, non_negative, positive, positive_int, probability};

/// How a memory-bank method turns scores into a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankLoss {
    /// NCE with noise density 1/n and a fixed Z (InstDisc, CMC).
    Nce,
    /// (m+1)-way softmax, positive first.
    Softmax,
    /// CMC only: the other view's batch as candidates, no bank.
    InBatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstDiscConfig {
    pub temperature: f64,
    /// m: noise samples per anchor, drawn uniformly from the bank.
    pub negatives: usize,
    /// Weight of the old entry in the bank update (0.5 in the paper).
    pub bank_momentum: f64,
    /// "nce" or "softmax".
    pub loss: BankLoss,
    /// lambda of the proximal term ||v_t - v_(t-1)||^2; 0 turns it off.
    pub proximal: f64,
}

impl Default for InstDiscConfig {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            negatives: 4096,
            bank_momentum: 0.5,
            loss: BankLoss::Nce,
            proximal: 0.0,
        }
    }
}

impl InstDiscConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        positive("instdisc.temperature", self.temperature)?;
        positive_int("instdisc.negatives", self.negatives)?;
        probability("instdisc.bank_momentum", self.bank_momentum)?;
        if self.loss == BankLoss::InBatch {
            return Err(invalid(
                "instdisc.loss",
                "\"in_batch\"",
                "\"nce\" or \"softmax\" (in_batch is CMC's)",
            ));
        }
        non_negative("instdisc.proximal", self.proximal)
    }
}
