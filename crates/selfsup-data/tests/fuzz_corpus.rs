//! Replays the fuzzers' kept corpus (fuzz/corpus, grown by `cargo +nightly fuzz run`) through
//! the parsers on the stable toolchain: every input must give data or an error, never a panic.

use std::path::{Path, PathBuf};

use selfsup_data::cifar::{empty, parse_records};
use selfsup_data::{idx, stl10};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{}: empty corpus", dir.display());
    inputs
}

#[test]
fn idx_corpus() {
    for (path, bytes) in corpus("idx") {
        if let Ok(images) = idx::parse_images(bytes.as_slice(), &path) {
            assert_eq!(
                images.pixels.len(),
                images.count * images.rows * images.cols
            );
        }
        let _ = idx::parse_labels(bytes.as_slice(), &path);
    }
}

#[test]
fn cifar_corpus() {
    for (path, bytes) in corpus("cifar") {
        for (label_bytes, offset, classes) in [(1, 0, 10), (2, 0, 20), (2, 1, 100)] {
            let mut dataset = empty(classes);
            if parse_records(&bytes, &path, label_bytes, offset, classes, &mut dataset).is_ok() {
                assert_eq!(dataset.images.len(), dataset.len() * 3072);
            }
        }
    }
}

#[test]
fn stl10_corpus() {
    for (path, bytes) in corpus("stl10") {
        if let Ok(pixels) = stl10::parse_images(&bytes, &path) {
            assert_eq!(pixels.len(), bytes.len());
        }
        let _ = stl10::parse_labels(&bytes, &path);
    }
}
