#![no_main]
//! IDX image and label files, raw or gzipped: any bytes give images or an error, never a panic
//! or an allocation the input does not pay for.

use libfuzzer_sys::fuzz_target;
use selfsup_data::idx::{parse_images, parse_labels};

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.idx");
    if let Ok(images) = parse_images(data, path) {
        assert_eq!(
            images.pixels.len(),
            images.count * images.rows * images.cols
        );
    }
    let _ = parse_labels(data, path);
});
