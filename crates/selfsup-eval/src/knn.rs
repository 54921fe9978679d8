use burn::tensor::backend::Backend;
use burn::tensor::linalg::vector_normalize;
use burn::tensor::{ElementConversion, Int, Tensor};

/// Weighted kNN of InstDisc: cosine similarity to every stored feature, the k most similar vote
/// with weight `exp(s / temperature)`, the class with the largest sum wins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    pub k: usize,
    pub temperature: f64,
    /// Queries per chunk: memory is `chunk_size x stored` floats at a time.
    pub chunk_size: usize,
    /// How each query's k-th largest similarity is found.
    pub kth: KthValue,
}

/// Two ways to the k-th largest similarity of each query, with the same votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KthValue {
    /// Burn's `topk`. Fast on the CPU backend. On the cubecl backends (wgpu, cuda) it is a
    /// reduction holding k values per thread; with k = 200 Mesa's lavapipe spent minutes
    /// compiling that kernel, so those backends use bisection instead.
    #[default]
    TopK,
    /// Bisection on the threshold: 32 rounds of compare-and-count, only element-wise ops and
    /// sums that every backend compiles quickly. The threshold ends within 2^-31 of the k-th
    /// value; a stored feature closer than that to it (a near-tie) also votes.
    Bisection,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            k: 200,
            temperature: 0.07,
            chunk_size: 256,
            kth: KthValue::TopK,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnAccuracy {
    pub top1: f64,
    pub top5: f64,
    pub queries: usize,
}

/// Top-1 and top-5 (or top-classes, when fewer) accuracy of per-class `scores` `[n, classes]`.
pub fn top_k_accuracy<B: Backend>(scores: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> KnnAccuracy {
    let [count, classes] = scores.dims();
    let top = 5.min(classes);
    let (_, ranked) = scores.sort_descending_with_indices(1);
    let hits = ranked
        .narrow(1, 0, top)
        .equal(labels.unsqueeze_dim::<2>(1))
        .int();
    let top1 = hits.clone().narrow(1, 0, 1).sum().into_scalar();
    let top5 = hits.sum().into_scalar();
    let rate = |hits: i64| hits as f64 / count.max(1) as f64;
    KnnAccuracy {
        top1: rate(top1.elem::<i64>()),
        top5: rate(top5.elem::<i64>()),
        queries: count,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KnnError {
    #[error("kNN: k = {k} but only {stored} stored features (k must be between 1 and {stored})")]
    BadK { k: usize, stored: usize },
    #[error("kNN: stored features have {stored} dims, queries {queries}")]
    DimMismatch { stored: usize, queries: usize },
    #[error("kNN: {features} stored features but {labels} labels")]
    LabelCount { features: usize, labels: usize },
    #[error("kNN: temperature must be positive, got {0}")]
    BadTemperature(f64),
    #[error("kNN: chunk_size must be positive")]
    BadChunk,
}

/// Stored (training) features with their labels, normalised once and kept on the device.
pub struct KnnIndex<B: Backend> {
    features_t: Tensor<B, 2>,
    one_hot: Tensor<B, 2>,
    stored: usize,
    num_classes: usize,
}

impl<B: Backend> KnnIndex<B> {
    pub fn new(
        features: Tensor<B, 2>,
        labels: Tensor<B, 1, Int>,
        num_classes: usize,
    ) -> Result<Self, KnnError> {
        let [stored, _] = features.dims();
        let [label_count] = labels.dims();
        if stored != label_count {
            return Err(KnnError::LabelCount {
                features: stored,
                labels: label_count,
            });
        }
        Ok(Self {
            features_t: vector_normalize(features, 2.0, 1, 1e-12).transpose(),
            one_hot: labels.one_hot::<2>(num_classes).float(),
            stored,
            num_classes,
        })
    }

    /// Class scores `[queries, num_classes]`: the sum of `exp(s / t)` over the k nearest stored
    /// features of each class. Computed `chunk_size` queries at a time.
    pub fn class_scores(
        &self,
        queries: Tensor<B, 2>,
        config: &KnnConfig,
    ) -> Result<Tensor<B, 2>, KnnError> {
        let [count, dim] = queries.dims();
        let [stored_dim, _] = self.features_t.dims();
        if config.k == 0 || config.k > self.stored {
            return Err(KnnError::BadK {
                k: config.k,
                stored: self.stored,
            });
        }
        if dim != stored_dim {
            return Err(KnnError::DimMismatch {
                stored: stored_dim,
                queries: dim,
            });
        }
        if config.temperature <= 0.0 || config.temperature.is_nan() {
            return Err(KnnError::BadTemperature(config.temperature));
        }
        if config.chunk_size == 0 {
            return Err(KnnError::BadChunk);
        }
        let queries = vector_normalize(queries, 2.0, 1, 1e-12);
        let chunks = (0..count)
            .step_by(config.chunk_size)
            .map(|start| {
                let end = (start + config.chunk_size).min(count);
                let similarity = queries
                    .clone()
                    .narrow(0, start, end - start)
                    .matmul(self.features_t.clone());
                self.chunk_scores(similarity, config)
            })
            .collect::<Vec<_>>();
        Ok(if chunks.is_empty() {
            Tensor::zeros([0, self.num_classes], &self.one_hot.device())
        } else {
            Tensor::cat(chunks, 0)
        })
    }

    /// Burn's top-k returns values or sorted indices; instead of gathering labels through
    /// indices, the k-th largest similarity of each row becomes a threshold and the vote is one
    /// matmul with the one-hot labels. Exact unless several stored features tie at the k-th
    /// similarity, in which case all of them vote.
    fn chunk_scores(&self, similarity: Tensor<B, 2>, config: &KnnConfig) -> Tensor<B, 2> {
        let kth = match config.kth {
            KthValue::TopK => similarity
                .clone()
                .topk(config.k, 1)
                .narrow(1, config.k - 1, 1),
            KthValue::Bisection => kth_largest_by_bisection(similarity.clone(), config.k),
        };
        let in_top_k = similarity.clone().greater_equal(kth).float();
        let weights = similarity.div_scalar(config.temperature).exp() * in_top_k;
        weights.matmul(self.one_hot.clone())
    }

    /// Top-1 and top-5 accuracy (top-5 only counts when there are at least 5 classes; with
    /// fewer it equals 1).
    pub fn accuracy(
        &self,
        queries: Tensor<B, 2>,
        labels: Tensor<B, 1, Int>,
        config: &KnnConfig,
    ) -> Result<KnnAccuracy, KnnError> {
        let scores = self.class_scores(queries, config)?;
        Ok(top_k_accuracy(scores, labels))
    }
}

const BISECTION_ROUNDS: usize = 32;

/// `[rows, 1]`: for each row, a threshold t with at least k entries >= t, within 2^-31 of
/// the row's k-th largest entry (entries are cosine similarities in [-1, 1]).
fn kth_largest_by_bisection<B: Backend>(values: Tensor<B, 2>, k: usize) -> Tensor<B, 2> {
    // Invariant: at least k entries >= low; fewer than k entries >= high (high starts above
    // the maximum).
    let mut low = values.clone().min_dim(1);
    let mut high = values.clone().max_dim(1).add_scalar(1e-6);
    for _ in 0..BISECTION_ROUNDS {
        let middle = (low.clone() + high.clone()).div_scalar(2.0);
        let count = values
            .clone()
            .greater_equal(middle.clone())
            .float()
            .sum_dim(1);
        let enough = count.greater_equal_elem(k as f32);
        low = low.mask_where(enough.clone(), middle.clone());
        high = high.mask_where(enough.bool_not(), middle);
    }
    low
}
