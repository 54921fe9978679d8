//! Unlabeled image folders: nested PNG and JPEG files written here, a corrupt one, files that
//! are not images.

use std::path::Path;

use image::{Rgb, RgbImage};
use selfsup_data::stl10::UNLABELED;
use selfsup_data::{DataError, ImageFolderOptions, Storage, image_paths, load_images};

fn solid(path: &Path, w: u32, h: u32, colour: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_pixel(w, h, Rgb(colour)).save(path).unwrap();
}

fn options(channels: usize, skip_bad: bool, storage: Storage) -> ImageFolderOptions {
    ImageFolderOptions {
        image_size: 8,
        channels,
        skip_bad,
        storage,
    }
}

/// root/b.png (red), root/a/deep/c.jpg (gray), root/a/z.png (blue), plus a text file, a hidden
/// PNG and a hidden folder that must not be listed.
fn folder() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    solid(&root.path().join("b.png"), 10, 12, [255, 0, 0]);
    solid(&root.path().join("a/deep/c.jpg"), 30, 20, [128, 128, 128]);
    solid(&root.path().join("a/z.png"), 8, 8, [0, 0, 255]);
    solid(&root.path().join(".hidden.png"), 8, 8, [0, 255, 0]);
    solid(&root.path().join(".thumbnails/t.png"), 8, 8, [0, 255, 0]);
    std::fs::write(root.path().join("a/notes.txt"), "not an image").unwrap();
    root
}

#[test]
fn every_image_at_any_depth_in_sorted_path_order_without_labels() {
    let root = folder();
    let names: Vec<String> = image_paths(root.path())
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(root.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["a/deep/c.jpg", "a/z.png", "b.png"]);

    for storage in [Storage::Memory, Storage::Disk] {
        let loaded = load_images(root.path(), &options(3, false, storage)).unwrap();
        let data = &loaded.dataset;
        assert_eq!(data.len(), 3);
        assert_eq!(data.labels, vec![UNLABELED; 3]);
        assert_eq!(data.num_classes, 0);
        assert_eq!((data.height, data.width, data.channels), (8, 8, 3));
        assert_eq!(loaded.paths.len(), 3);
        assert!(loaded.paths[2].ends_with("b.png"));
        assert_eq!(&data.image(2).pixels[..3], &[255, 0, 0], "{storage:?}");
        assert_eq!(&data.image(1).pixels[..3], &[0, 0, 255], "{storage:?}");
        assert!(
            data.image(0)
                .pixels
                .iter()
                .all(|&p| (p as i32 - 128).abs() <= 3)
        );
    }
    let gray = load_images(root.path(), &options(1, false, Storage::Memory)).unwrap();
    assert_eq!(gray.dataset.image_len(), 64);
}

#[test]
fn alpha_channels_are_kept_when_asked_for() {
    let root = tempfile::tempdir().unwrap();
    image::RgbaImage::from_pixel(8, 8, image::Rgba([200, 100, 50, 128]))
        .save(root.path().join("half_transparent.png"))
        .unwrap();
    let rgba = load_images(root.path(), &options(4, false, Storage::Memory)).unwrap();
    assert_eq!(rgba.dataset.channels, 4);
    assert_eq!(&rgba.dataset.image(0).pixels[..4], &[200, 100, 50, 128]);
    let gray_alpha = load_images(root.path(), &options(2, false, Storage::Disk)).unwrap();
    let pixels = gray_alpha.dataset.image(0);
    assert_eq!(pixels.pixels.len(), 8 * 8 * 2);
    assert_eq!(pixels.pixels[1], 128, "the alpha channel");
}

#[test]
fn a_corrupt_file_is_named_then_skipped_with_skip_bad() {
    let root = folder();
    let corrupt = root.path().join("a/broken.png");
    std::fs::write(&corrupt, b"\x89PNG but not really").unwrap();
    for storage in [Storage::Memory, Storage::Disk] {
        let error = load_images(root.path(), &options(3, false, storage)).unwrap_err();
        assert!(matches!(error, DataError::BadImages { count: 1, .. }));
        let message = error.to_string();
        assert!(message.contains("broken.png"), "{message}");
        assert!(message.contains("data.skip_bad"), "{message}");

        let loaded = load_images(root.path(), &options(3, true, storage)).unwrap();
        assert_eq!(loaded.dataset.len(), 3);
        assert_eq!(loaded.skipped.len(), 1);
        assert_eq!(loaded.skipped[0].0, corrupt);
        assert!(loaded.paths.iter().all(|p| p != &corrupt));
    }
}

#[test]
fn an_empty_or_missing_folder_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("readme.txt"), "no images").unwrap();
    let error = load_images(root.path(), &options(3, false, Storage::Memory)).unwrap_err();
    assert!(matches!(error, DataError::NoImages { .. }));
    assert!(
        error
            .to_string()
            .contains(&root.path().display().to_string())
    );
    let missing = root.path().join("nowhere");
    let error = load_images(&missing, &options(3, false, Storage::Memory)).unwrap_err();
    assert!(error.to_string().contains("nowhere"), "{error}");
}
