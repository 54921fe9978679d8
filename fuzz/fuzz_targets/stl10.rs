#![no_main]
//! STL-10 image and label files.

use libfuzzer_sys::fuzz_target;
use selfsup_data::stl10::{parse_images, parse_labels};

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.bin");
    if let Ok(pixels) = parse_images(data, path) {
        assert_eq!(pixels.len(), data.len());
    }
    if let Ok(labels) = parse_labels(data, path) {
        assert!(labels.iter().all(|&l| l < 10));
    }
});
