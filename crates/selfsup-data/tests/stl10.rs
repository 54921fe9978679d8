//! STL-10 on small files written here in the official binary layout (planes, column-major).

use selfsup_data::stl10::{UNLABELED, parse_images};
use selfsup_data::{DataError, StlSplit, load_stl10};

const SIDE: usize = 96;

/// One image: value of (channel c, row r, col k) = (c * 50 + r + 2 * k) % 256, column-major.
fn image(seed: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; 3 * SIDE * SIDE];
    for c in 0..3 {
        for r in 0..SIDE {
            for k in 0..SIDE {
                bytes[c * SIDE * SIDE + k * SIDE + r] = ((seed + c * 50 + r + 2 * k) % 256) as u8;
            }
        }
    }
    bytes
}

#[test]
fn labelled_and_unlabeled_splits_read_column_major_planes_channels_last() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train_X.bin"),
        [image(0), image(7)].concat(),
    )
    .unwrap();
    std::fs::write(dir.path().join("train_y.bin"), [1u8, 10]).unwrap();
    std::fs::write(dir.path().join("unlabeled_X.bin"), image(3)).unwrap();
    let train = load_stl10(dir.path(), StlSplit::Train).unwrap();
    assert_eq!(train.labels, vec![0, 9]);
    assert_eq!((train.height, train.width, train.channels), (96, 96, 3));
    // Image 1, row 2, column 5: R G B.
    let pixel = &train.image(1).pixels[(2 * SIDE + 5) * 3..(2 * SIDE + 5) * 3 + 3];
    assert_eq!(pixel, &[7 + 2 + 10, 7 + 50 + 2 + 10, 7 + 100 + 2 + 10]);
    let unlabeled = load_stl10(dir.path(), StlSplit::Unlabeled).unwrap();
    assert_eq!(unlabeled.labels, vec![UNLABELED]);
}

#[test]
fn bad_files_name_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_stl10(dir.path(), StlSplit::Test).unwrap_err();
    assert!(err.to_string().contains("test_X.bin"), "{err}");
    assert!(err.to_string().contains("stl10_binary"), "{err}");

    std::fs::write(dir.path().join("test_X.bin"), [image(0), image(1)].concat()).unwrap();
    std::fs::write(dir.path().join("test_y.bin"), [3u8]).unwrap();
    let err = load_stl10(dir.path(), StlSplit::Test).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 2,
                labels: 1,
                ..
            }
        ),
        "{err}"
    );

    std::fs::write(dir.path().join("test_y.bin"), [3u8, 0]).unwrap();
    let err = load_stl10(dir.path(), StlSplit::Test).unwrap_err();
    assert!(
        err.to_string().contains("label 1 is 0, expected 1..=10"),
        "{err}"
    );

    let err = parse_images(&image(0)[..1000], std::path::Path::new("x.bin")).unwrap_err();
    assert!(err.to_string().contains("x.bin: 1000 bytes"), "{err}");
}
