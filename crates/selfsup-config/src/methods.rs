//! Each method's own section (`[simclr]`, `[wcl]`, ...), with its defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimclrConfig {
    pub temperature: f64,
    /// Projection head depth: 2 (v1: Linear-BN-ReLU-Linear) or 3 (v2: Linear-BN-ReLU twice,
    /// then Linear-BN).
    pub head_layers: usize,
}

impl Default for SimclrConfig {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            head_layers: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WclConfig {
    /// Temperature of both heads' losses.
    pub temperature: f64,
    /// lambda: weight of the swapped weak-label loss.
    pub swap_weight: f64,
    /// beta: weight of the multi-crop instance term L_cNCE (with `augment.local_crops > 0`).
    pub crop_nce_weight: f64,
    /// gamma: weight of the multi-crop weak-label term L_cswap.
    pub crop_swap_weight: f64,
    /// KNN multi-crop: after `knn_warmup_epochs` epochs of ordinary multi-crop, cut each
    /// image's local crops from its `knn_neighbours` nearest training images (backbone
    /// features, cosine, recomputed at every epoch's end).
    pub knn_crops: bool,
    pub knn_neighbours: usize,
    pub knn_warmup_epochs: usize,
}

impl Default for WclConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            swap_weight: 1.0,
            crop_nce_weight: 0.5,
            crop_swap_weight: 0.5,
            knn_crops: false,
            knn_neighbours: 4,
            knn_warmup_epochs: 1,
        }
    }
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MocoConfig {
    /// 1: linear head, tau 0.07. 2: MLP head (no BN), tau 0.2.
    pub version: u8,
    /// Unset: 0.07 for version 1, 0.2 for version 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// K, keys in the queue (the batch size need not divide it).
    pub queue_size: usize,
    /// m of the key encoder's EMA (0.999 in the paper for 200 ImageNet epochs).
    pub momentum: f64,
    /// Shuffled groups the keys are encoded in, each with its own batch-norm statistics: the
    /// single-device stand-in for shuffle-BN. 1 turns it off.
    pub bn_splits: usize,
}

impl Default for MocoConfig {
    fn default() -> Self {
        Self {
            version: 2,
            temperature: None,
            queue_size: 4096,
            momentum: 0.99,
            bn_splits: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByolConfig {
    /// tau of the target's EMA at step 0; it rises to 1 on a cosine over the run (0.996 in the
    /// paper; 0.99 suits short runs, as solo-learn's CIFAR recipe).
    pub momentum_base: f64,
    /// Hidden size of the projector and of the predictor (4096 in the paper); the projection
    /// size is model.proj_output_dim (256 in the paper).
    pub hidden_dim: usize,
}

impl Default for ByolConfig {
    fn default() -> Self {
        Self {
            momentum_base: 0.99,
            hidden_dim: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimsiamConfig {
    /// Width of the 3-layer projector's layers and its output (2048 in the paper).
    pub proj_dim: usize,
    /// The predictor's bottleneck (512 in the paper: a quarter of proj_dim).
    pub pred_hidden_dim: usize,
    /// `false` removes the stop-gradient: the paper's ablation, which collapses (its
    /// Figure 2); the training-health metrics should then warn.
    pub stop_gradient: bool,
}

impl Default for SimsiamConfig {
    fn default() -> Self {
        Self {
            proj_dim: 512,
            pred_hidden_dim: 128,
            stop_gradient: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarlowConfig {
    /// Width of the 3-layer projector's layers and its output (8192 in the paper, 2048 in
    /// solo-learn's CIFAR recipe).
    pub proj_dim: usize,
    /// lambda: weight of the off-diagonal (redundancy) term (5e-3 in the paper).
    pub lambda: f64,
}

impl Default for BarlowConfig {
    fn default() -> Self {
        Self {
            proj_dim: 1024,
            lambda: 5e-3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwavConfig {
    /// K prototypes (3000 in the paper; solo-learn's CIFAR recipe too).
    pub prototypes: usize,
    /// tau of the softmax over prototype scores.
    pub temperature: f64,
    /// epsilon of the Sinkhorn-Knopp codes.
    pub epsilon: f64,
    pub sinkhorn_iterations: usize,
    /// Epochs during which the prototypes get no update (the paper: the first).
    pub freeze_prototypes_epochs: usize,
    /// Feature queue: projections of this many earlier global crops (per global crop) join
    /// each batch's Sinkhorn-Knopp problem once full; 0 = off (the paper's small-batch option).
    pub queue_length: usize,
    /// Epoch (0-based) from which the queue is filled (official code: 15).
    pub queue_start_epoch: usize,
}

impl Default for SwavConfig {
    fn default() -> Self {
        Self {
            prototypes: 3000,
            temperature: 0.1,
            epsilon: 0.05,
            sinkhorn_iterations: 3,
            freeze_prototypes_epochs: 1,
            queue_length: 0,
            queue_start_epoch: 15,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarConfig {
    /// N surrogate classes: seed images drawn (seeded) from the training set, each a class of
    /// its own (the paper: 8000 was best).
    pub classes: usize,
}

impl Default for ExemplarConfig {
    fn default() -> Self {
        Self { classes: 8000 }
    }
}

impl MocoConfig {
    pub fn temperature(&self) -> f64 {
        self.temperature
            .unwrap_or(if self.version == 1 { 0.07 } else { 0.2 })
    }
}
