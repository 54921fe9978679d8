use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use selfsup_data::idx::{self, IdxImages};
use selfsup_data::mnist::{self, Split};
use selfsup_data::{DEFAULT_FASHION_MNIST_DIR, DataError};

fn sample_images(count: usize) -> IdxImages {
    IdxImages {
        count,
        rows: 3,
        cols: 2,
        pixels: (0..count * 6).map(|i| (i * 37 % 256) as u8).collect(),
    }
}

fn write_file(path: &Path, bytes: &[u8], gzip: bool) {
    let mut file = std::fs::File::create(path).unwrap();
    if gzip {
        let mut enc = GzEncoder::new(file, Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        file.write_all(bytes).unwrap();
    }
}

fn image_bytes(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::new();
    idx::write_images(&mut out, images).unwrap();
    out
}

fn label_bytes(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    idx::write_labels(&mut out, labels).unwrap();
    out
}

fn write_split(dir: &Path, prefix: &str, images: &IdxImages, labels: &[u8], gzip: bool) {
    let ext = if gzip { ".gz" } else { "" };
    write_file(
        &dir.join(format!("{prefix}-images-idx3-ubyte{ext}")),
        &image_bytes(images),
        gzip,
    );
    write_file(
        &dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
        &label_bytes(labels),
        gzip,
    );
}

#[test]
fn round_trip_raw_and_gzip() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let images = sample_images(5);
        let labels = [0u8, 3, 1, 3, 2];
        write_split(dir.path(), "train", &images, &labels, gzip);
        let ds = mnist::load_split(dir.path(), Split::Train).unwrap();
        assert_eq!(ds.images, images.pixels, "gzip={gzip}");
        assert_eq!(ds.labels, vec![0, 3, 1, 3, 2]);
        assert_eq!((ds.height, ds.width, ds.channels), (3, 2, 1));
        assert_eq!(ds.num_classes, 4);
        assert_eq!(ds.image(1).pixels, &images.pixels[6..12]);
    }
}

#[test]
fn missing_file_names_the_path_and_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let err = mnist::load_split(dir.path(), Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("t10k-images-idx3-ubyte.gz"), "{msg}");
    assert!(msg.contains("dataset-fashion-mnist"), "{msg}");
}

#[test]
fn bad_magic_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    // A label file where an image file is expected.
    write_file(&path, &label_bytes(&[1, 2]), false);
    match idx::read_images(&path).unwrap_err() {
        DataError::BadMagic {
            found, expected, ..
        } => {
            assert_eq!(found, idx::LABELS_MAGIC);
            assert_eq!(expected, idx::IMAGES_MAGIC);
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
}

#[test]
fn truncated_payload_is_reported_raw_and_gzip() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let mut bytes = image_bytes(&sample_images(4));
        bytes.truncate(bytes.len() - 5);
        write_file(&path, &bytes, gzip);
        match idx::read_images(&path).unwrap_err() {
            DataError::Truncated {
                expected, found, ..
            } => assert_eq!((expected, found), (24, 19)),
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn truncated_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    write_file(&path, &image_bytes(&sample_images(1))[..7], false);
    assert!(matches!(
        idx::read_images(&path).unwrap_err(),
        DataError::Truncated { .. }
    ));
    write_file(&path, &[], false);
    assert!(matches!(
        idx::read_images(&path).unwrap_err(),
        DataError::Truncated { .. }
    ));
}

#[test]
fn huge_claimed_size_does_not_allocate_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    let mut bytes = idx::IMAGES_MAGIC.to_be_bytes().to_vec();
    for dim in [u32::MAX, u32::MAX, u32::MAX] {
        bytes.extend(dim.to_be_bytes());
    }
    write_file(&path, &bytes, false);
    assert!(matches!(
        idx::read_images(&path).unwrap_err(),
        DataError::BadHeader { .. }
    ));
    // Large but plausible: 1M images of 64x64 claimed, 10 bytes present.
    let mut bytes = idx::IMAGES_MAGIC.to_be_bytes().to_vec();
    for dim in [1_000_000u32, 64, 64] {
        bytes.extend(dim.to_be_bytes());
    }
    bytes.extend([0u8; 10]);
    write_file(&path, &bytes, false);
    assert!(matches!(
        idx::read_images(&path).unwrap_err(),
        DataError::Truncated { found: 10, .. }
    ));
}

#[test]
fn trailing_bytes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    let mut bytes = label_bytes(&[1, 2, 3]);
    bytes.push(9);
    write_file(&path, &bytes, false);
    assert!(matches!(
        idx::read_labels(&path).unwrap_err(),
        DataError::TrailingData { expected: 3, .. }
    ));
}

#[test]
fn image_label_count_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train", &sample_images(5), &[0, 1, 2], true);
    match mnist::load_split(dir.path(), Split::Train).unwrap_err() {
        DataError::CountMismatch { images, labels, .. } => assert_eq!((images, labels), (5, 3)),
        other => panic!("expected CountMismatch, got {other:?}"),
    }
}

/// The real files from Debian's `dataset-fashion-mnist`; CI installs the package, so there the
/// test must not pass vacuously.
#[test]
fn real_fashion_mnist_has_the_published_shape() {
    let dir = Path::new(DEFAULT_FASHION_MNIST_DIR);
    if !dir.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install dataset-fashion-mnist"
        );
        eprintln!("skipping: {} not installed", dir.display());
        return;
    }
    let train = mnist::load_split(dir, Split::Train).unwrap();
    let test = mnist::load_split(dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!((train.height, train.width, train.num_classes), (28, 28, 10));
    // Fashion-MNIST is exactly balanced: 6000 training images per class.
    let mut counts = [0usize; 10];
    train.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [6000; 10]);
}
