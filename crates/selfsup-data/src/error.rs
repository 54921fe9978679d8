use std::path::PathBuf;

/// Everything that can go wrong turning files on disk into a [`crate::Dataset`].
/// Each variant names the file so a user can act on the message alone.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: file not found{hint}")]
    Missing { path: PathBuf, hint: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: bad magic number {found:#010x}, expected {expected:#010x} (not an IDX {kind} file)"
    )]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        kind: &'static str,
    },
    #[error("{path}: truncated: header promises {expected} bytes of data, file holds {found}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "{path}: {size} bytes is not a whole number of {record}-byte records (truncated, or not this dataset's binary format)"
    )]
    PartialRecord {
        path: PathBuf,
        size: u64,
        record: usize,
    },
    #[error("{path}: data continues past the {expected} bytes the header promises")]
    TrailingData { path: PathBuf, expected: u64 },
    #[error("{path}: invalid header: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("{path}: no images in this class folder (remove it or add images)")]
    EmptyClass { path: PathBuf },
    #[error(
        "{path}: no image files found at any depth (looked for files whose extension names an image format: .png, .jpg, .jpeg, .webp, .bmp, ...)"
    )]
    NoImages { path: PathBuf },
    #[error("{path}: no class folders (expected {path}/<class>/<image>)")]
    NoClasses { path: PathBuf },
    #[error("{path}: class {class} is not among the training classes {known:?}")]
    UnknownClass {
        path: PathBuf,
        class: String,
        known: Vec<String>,
    },
    #[error(
        "{count} image file(s) cannot be decoded: {list}; fix or remove them, or set data.skip_bad = true to skip them"
    )]
    BadImages { count: usize, list: String },
    #[error("{images_path} holds {images} images but {labels_path} holds {labels} labels")]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
}

pub type Result<T> = std::result::Result<T, DataError>;
