//! ImageFolder trees of real image files written here (PNG, JPEG, BMP; sizes that need resizing).

use std::path::Path;

use image::{Rgb, RgbImage};
use selfsup_data::{ClassChoice, DataError, ImageFolderOptions, Storage, load_image_folder};

fn solid(path: &Path, w: u32, h: u32, colour: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(w, h, Rgb(colour)).save(path).unwrap();
}

fn options(channels: usize, skip_bad: bool) -> ImageFolderOptions {
    ImageFolderOptions {
        image_size: 8,
        channels,
        skip_bad,
        storage: Storage::Memory,
    }
}

#[test]
fn classes_sorted_images_resized_and_converted() {
    let root = tempfile::tempdir().unwrap();
    let train = root.path().join("train");
    solid(&train.join("zebra/1.png"), 10, 12, [255, 0, 0]);
    solid(&train.join("zebra/2.bmp"), 8, 8, [255, 0, 0]);
    solid(&train.join("ant/1.jpg"), 30, 20, [128, 128, 128]);
    solid(&root.path().join("test/zebra/1.png"), 5, 5, [255, 0, 0]);

    let split =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, false)).unwrap();
    assert_eq!(split.classes, vec!["ant", "zebra"]);
    let data = &split.dataset;
    assert_eq!(data.labels, vec![0, 1, 1]);
    assert_eq!((data.height, data.width, data.channels), (8, 8, 3));
    assert_eq!(data.images.len(), 3 * 8 * 8 * 3);
    // A solid red PNG stays red after resizing.
    assert_eq!(&data.image(1).pixels[..3], &[255, 0, 0]);
    // JPEG is lossy: the gray is close.
    assert!(
        data.image(0)
            .pixels
            .iter()
            .all(|&p| (p as i32 - 128).abs() <= 3)
    );

    let gray =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(1, false)).unwrap();
    assert_eq!(gray.dataset.image_len(), 64);
    assert!(
        gray.dataset
            .image(0)
            .pixels
            .iter()
            .all(|&p| (p as i32 - 128).abs() <= 3)
    );

    // The test split uses the training classes, so "zebra" is label 1 there too.
    let test = load_image_folder(
        root.path(),
        "test",
        ClassChoice::Known(&split.classes),
        &options(3, false),
    )
    .unwrap();
    assert_eq!(test.dataset.labels, vec![1]);
    assert_eq!(test.dataset.num_classes, 2);
}

#[test]
fn undecodable_files_are_listed_or_skipped() {
    let root = tempfile::tempdir().unwrap();
    let train = root.path().join("train");
    solid(&train.join("a/good.png"), 4, 4, [1, 2, 3]);
    std::fs::write(train.join("a/broken.png"), b"\x89PNG not really").unwrap();
    let err =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, false)).unwrap_err();
    assert!(
        matches!(err, DataError::BadImages { count: 1, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("broken.png"), "{message}");
    assert!(message.contains("data.skip_bad = true"), "{message}");

    let split =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, true)).unwrap();
    assert_eq!(split.dataset.len(), 1);
    assert_eq!(split.skipped.len(), 1);
    assert!(split.skipped[0].0.ends_with("broken.png"));
}

#[test]
fn empty_class_missing_split_and_unknown_class_are_named() {
    let root = tempfile::tempdir().unwrap();
    let train = root.path().join("train");
    solid(&train.join("a/1.png"), 4, 4, [0, 0, 0]);
    std::fs::create_dir_all(train.join("b")).unwrap();
    let err =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, false)).unwrap_err();
    assert!(matches!(err, DataError::EmptyClass { .. }), "{err}");
    assert!(err.to_string().contains("train/b"), "{err}");

    let err =
        load_image_folder(root.path(), "test", ClassChoice::Own, &options(3, false)).unwrap_err();
    assert!(err.to_string().contains("test"), "{err}");
    assert!(err.to_string().contains("<class>/<image>"), "{err}");

    solid(&root.path().join("test/c/1.png"), 4, 4, [0, 0, 0]);
    let known = vec!["a".to_string(), "b".to_string()];
    let err = load_image_folder(
        root.path(),
        "test",
        ClassChoice::Known(&known),
        &options(3, false),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("class c is not among the training classes"),
        "{err}"
    );
}

/// A tree of 6 small PNGs of different colours in two classes.
fn coloured_tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (i, colour) in [[250, 10, 10], [10, 250, 10], [10, 10, 250]]
        .iter()
        .enumerate()
    {
        solid(&root.path().join(format!("train/a/{i}.png")), 9, 7, *colour);
        solid(
            &root.path().join(format!("train/b/{i}.png")),
            5,
            5,
            [40 * i as u8, 90, 200],
        );
    }
    root
}

#[test]
fn disk_storage_reads_the_same_pixels_as_memory() {
    let root = coloured_tree();
    let memory =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, false)).unwrap();
    let disk_options = ImageFolderOptions {
        storage: Storage::Disk,
        ..options(3, false)
    };
    let disk = load_image_folder(root.path(), "train", ClassChoice::Own, &disk_options).unwrap();
    assert!(memory.dataset.files.is_none());
    assert!(disk.dataset.images.is_empty(), "nothing decoded up front");
    assert_eq!(disk.dataset.files.as_ref().unwrap().paths.len(), 6);
    assert_eq!(disk.dataset.labels, memory.dataset.labels);
    for i in 0..6 {
        assert_eq!(
            disk.dataset.image(i).pixels,
            memory.dataset.image(i).pixels,
            "image {i}"
        );
    }
    assert_eq!(disk.dataset.channel_stats(), memory.dataset.channel_stats());
}

#[test]
fn auto_storage_keeps_in_memory_only_what_fits_the_budget() {
    let root = coloured_tree();
    let decoded = 6 * 8 * 8 * 3;
    let auto = |budget_bytes| {
        let options = ImageFolderOptions {
            storage: Storage::Auto { budget_bytes },
            ..options(3, false)
        };
        load_image_folder(root.path(), "train", ClassChoice::Own, &options)
            .unwrap()
            .dataset
    };
    assert!(auto(decoded as u64).files.is_none());
    assert!(auto(decoded as u64 - 1).files.is_some());
}

#[test]
fn disk_storage_still_lists_unreadable_files_before_training() {
    let root = coloured_tree();
    let bad = root.path().join("train/a/broken.png");
    std::fs::write(&bad, b"not an image").unwrap();
    let disk_options = ImageFolderOptions {
        storage: Storage::Disk,
        ..options(3, false)
    };
    match load_image_folder(root.path(), "train", ClassChoice::Own, &disk_options) {
        Err(DataError::BadImages { count, list }) => {
            assert_eq!(count, 1);
            assert!(list.contains("broken.png"), "{list}");
        }
        other => panic!("expected BadImages, got {other:?}"),
    }
}

/// Resizing averages what it shrinks (PIL's antialiased bilinear): a one-pixel checkerboard
/// shrunk 5x is an even gray, where sampling a few pixels would keep black and white.
#[test]
fn shrinking_averages_instead_of_sampling() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("train/board/1.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_fn(40, 40, |x, y| {
        if (x + y) % 2 == 0 {
            Rgb([255; 3])
        } else {
            Rgb([0; 3])
        }
    })
    .save(&path)
    .unwrap();
    let split =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(1, false)).unwrap();
    let pixels = split.dataset.image(0).pixels.into_owned();
    assert_eq!(pixels.len(), 64);
    assert!(
        pixels.iter().all(|&p| (p as i32 - 128).abs() <= 8),
        "{pixels:?}"
    );
}

/// A class subset (ImageNet-100 out of ImageNet's folders): only the chosen classes are read,
/// in both splits, with labels in the chosen order; ImageNet's `val` folder is the test split
/// when there is no `test`; a chosen class without a training folder is an error naming it.
#[test]
fn a_class_subset_reads_only_its_classes_and_val_is_the_test_split() {
    let root = tempfile::tempdir().unwrap();
    for class in ["n01", "n02", "n03"] {
        solid(
            &root.path().join(format!("train/{class}/1.JPEG")),
            9,
            7,
            [9, 9, 9],
        );
        solid(
            &root.path().join(format!("val/{class}/1.JPEG")),
            9,
            7,
            [9, 9, 9],
        );
    }
    assert_eq!(selfsup_data::test_split(root.path()), "val");
    let chosen = ["n01".to_string(), "n03".to_string()];
    let train = load_image_folder(
        root.path(),
        "train",
        ClassChoice::Only(&chosen),
        &options(3, false),
    )
    .unwrap();
    assert_eq!(train.classes, chosen);
    assert_eq!(train.dataset.labels, vec![0, 1]);
    let val = load_image_folder(
        root.path(),
        "val",
        ClassChoice::Only(&train.classes),
        &options(3, false),
    )
    .unwrap();
    assert_eq!(val.dataset.labels, vec![0, 1]);

    let absent = ["n01".to_string(), "n09".to_string()];
    let error = load_image_folder(
        root.path(),
        "train",
        ClassChoice::Only(&absent),
        &options(3, false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("n09") && error.contains("data.classes"),
        "{error}"
    );
}

/// On disk, an image reads as the square every consumer gets (`image`) or, for the training
/// views, at the size of its file (`original`); in memory only the square is kept.
#[test]
fn on_disk_an_image_reads_whole_or_as_the_square() {
    let root = tempfile::tempdir().unwrap();
    solid(&root.path().join("train/a/1.jpg"), 30, 20, [200, 100, 50]);
    let on_disk = ImageFolderOptions {
        storage: Storage::Disk,
        ..options(3, false)
    };
    let split = load_image_folder(root.path(), "train", ClassChoice::Own, &on_disk).unwrap();
    let whole = split.dataset.original(0);
    assert_eq!((whole.width, whole.height, whole.channels), (30, 20, 3));
    assert_eq!(whole.pixels.len(), 30 * 20 * 3);
    let square = split.dataset.image(0);
    assert_eq!((square.width, square.height), (8, 8));

    let in_memory =
        load_image_folder(root.path(), "train", ClassChoice::Own, &options(3, false)).unwrap();
    let kept = in_memory.dataset.original(0);
    assert_eq!((kept.width, kept.height), (8, 8));
}
