//! CIFAR loaders on small files written here in the official binary layout.

use std::path::Path;

use selfsup_data::{Cifar100Labels, DataError, Split, load_cifar10, load_cifar100};

/// A record: label byte(s), then R, G and B planes of 32x32. Pixel (y, x) of channel c holds
/// `(seed + c * 80 + y * 2 + x) % 256`, so every position and channel is distinguishable.
fn record(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut bytes = labels.to_vec();
    for c in 0..3usize {
        for y in 0..32usize {
            for x in 0..32usize {
                bytes.push(((seed as usize + c * 80 + y * 2 + x) % 256) as u8);
            }
        }
    }
    bytes
}

fn write(path: &Path, records: &[Vec<u8>]) {
    std::fs::write(path, records.concat()).unwrap();
}

#[test]
fn cifar10_reads_five_training_batches_and_the_test_batch_channels_last() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=5u8 {
        write(
            &dir.path().join(format!("data_batch_{i}.bin")),
            &[record(&[i], i), record(&[9], 100 + i)],
        );
    }
    write(&dir.path().join("test_batch.bin"), &[record(&[3], 7)]);
    let train = load_cifar10(dir.path(), Split::Train).unwrap();
    assert_eq!(train.len(), 10);
    assert_eq!((train.height, train.width, train.channels), (32, 32, 3));
    assert_eq!(train.num_classes, 10);
    assert_eq!(train.labels, vec![1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    let test = load_cifar10(dir.path(), Split::Test).unwrap();
    assert_eq!(test.labels, vec![3]);
    // Pixel (y = 1, x = 2): channels last, R G B.
    let pixel = &test.image(0).pixels[(32 + 2) * 3..(32 + 2) * 3 + 3];
    assert_eq!(pixel, &[7 + 4, 7 + 80 + 4, 7 + 160 + 4]);
}

#[test]
fn cifar100_takes_the_fine_or_the_coarse_label() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("train.bin"),
        &[record(&[4, 57], 0), record(&[19, 99], 1)],
    );
    let fine = load_cifar100(dir.path(), Split::Train, Cifar100Labels::Fine).unwrap();
    assert_eq!((fine.labels.clone(), fine.num_classes), (vec![57, 99], 100));
    let coarse = load_cifar100(dir.path(), Split::Train, Cifar100Labels::Coarse).unwrap();
    assert_eq!(
        (coarse.labels.clone(), coarse.num_classes),
        (vec![4, 19], 20)
    );
    assert_eq!(fine.images, coarse.images);
}

#[test]
fn missing_truncated_and_foreign_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_cifar10(dir.path(), Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    assert!(err.to_string().contains("test_batch.bin"), "{err}");
    assert!(err.to_string().contains("cifar-10-batches-bin"), "{err}");

    let mut cut = record(&[1], 0);
    cut.truncate(1000);
    write(&dir.path().join("test_batch.bin"), &[record(&[1], 0), cut]);
    let err = load_cifar10(dir.path(), Split::Test).unwrap_err();
    assert!(
        matches!(err, DataError::PartialRecord { record: 3073, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("test_batch.bin"), "{err}");

    // Labels beyond the dataset's classes: not this CIFAR.
    write(&dir.path().join("test.bin"), &[record(&[50, 50], 0)]);
    let err = load_cifar100(dir.path(), Split::Test, Cifar100Labels::Coarse).unwrap_err();
    assert!(err.to_string().contains("label 50"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("test_batch.bin"), b"").unwrap();
    let err = load_cifar10(&empty, Split::Test).unwrap_err();
    assert!(err.to_string().contains("0 bytes"), "{err}");
}
