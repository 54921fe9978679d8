#![no_main]
//! CIFAR-10 and CIFAR-100 binary records.

use libfuzzer_sys::fuzz_target;
use selfsup_data::cifar::{empty, parse_records};

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.bin");
    for (label_bytes, offset, classes) in [(1, 0, 10), (2, 0, 20), (2, 1, 100)] {
        let mut dataset = empty(classes);
        if parse_records(data, path, label_bytes, offset, classes, &mut dataset).is_ok() {
            assert_eq!(dataset.images.len(), dataset.len() * 32 * 32 * 3);
            assert!(dataset.labels.iter().all(|&l| (l as usize) < classes));
        }
    }
});
