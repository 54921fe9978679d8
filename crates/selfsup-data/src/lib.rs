//! On-disk image datasets decoded into compact u8 images with labels. No Burn here: the data
//! layer knows nothing about tensors or devices.

pub mod cifar;
mod dataset;
mod encoded_files;
mod error;
pub mod idx;
pub mod imagefolder;
pub mod images;
pub mod mnist;
pub mod stl10;

pub use cifar::{CIFAR10_CLASSES, Cifar100Labels, load_cifar10, load_cifar100};
pub use dataset::{Dataset, ImageRef};
pub use encoded_files::{EncodedFiles, ImageFolderOptions, Storage};
pub use error::{DataError, Result};
pub use imagefolder::{ClassChoice, ImageFolderSplit, TRAIN, load_image_folder, test_split};
pub use images::{FolderSurvey, ImageFiles, image_paths, load_images, survey};
pub use mnist::{DEFAULT_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, Split};
pub use stl10::{STL10_CLASSES, StlSplit, load_stl10};
