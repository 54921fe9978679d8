/// Why a method cannot be built or trained on the data it was given.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "method = \"cmc\" needs RGB images (it splits Lab colour into L and ab views), but \
         {dataset} has {channels} channel(s); use an RGB dataset"
    )]
    NeedsRgb { dataset: String, channels: usize },
    #[error("instdisc.negatives = {negatives}: at most the number of training images ({images})")]
    TooManyNegatives { negatives: usize, images: usize },
    #[error("copying the initial weights to the device failed: {0}")]
    WeightCopy(String),
    #[error("initialising {method}")]
    Initialising {
        method: &'static str,
        #[source]
        source: Box<TrainError>,
    },
}
