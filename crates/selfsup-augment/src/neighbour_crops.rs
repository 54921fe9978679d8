/// KNN multi-crop (WCL): the images each image's local crops are cut from, its nearest
/// neighbours by the encoder's features at the last epoch's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourCrops {
    k: usize,
    /// Row-major `[images, k]`: image i's k nearest other images, nearest first.
    table: Vec<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NeighbourCropsError {
    #[error("a neighbour table needs k >= 1")]
    ZeroK,
    #[error("a neighbour table of {len} entries is not whole rows of k = {k}")]
    Ragged { len: usize, k: usize },
    #[error("image {image} lists neighbour {neighbour}, but there are {images} images")]
    OutOfRange {
        image: usize,
        neighbour: u32,
        images: usize,
    },
    #[error("image {image} lists itself as its own neighbour")]
    SelfNeighbour { image: usize },
}

impl NeighbourCrops {
    /// `table` is `[images, k]` row-major; every entry must name another image of the set.
    pub fn new(k: usize, table: Vec<u32>) -> Result<Self, NeighbourCropsError> {
        if k == 0 {
            return Err(NeighbourCropsError::ZeroK);
        }
        if !table.len().is_multiple_of(k) {
            return Err(NeighbourCropsError::Ragged {
                len: table.len(),
                k,
            });
        }
        let images = table.len() / k;
        for (image, row) in table.chunks(k).enumerate() {
            if let Some(&neighbour) = row.iter().find(|&&n| n as usize >= images) {
                return Err(NeighbourCropsError::OutOfRange {
                    image,
                    neighbour,
                    images,
                });
            }
            if row.contains(&(image as u32)) {
                return Err(NeighbourCropsError::SelfNeighbour { image });
            }
        }
        Ok(Self { k, table })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn images(&self) -> usize {
        self.table.len() / self.k
    }

    /// Row-major `[images, k]`.
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    /// The image that local crop number `crop` of `image` is cut from: its neighbours in turn,
    /// nearest first (crop k uses the nearest again).
    pub fn source(&self, image: usize, crop: usize) -> usize {
        self.table[image * self.k + crop % self.k] as usize
    }
}
