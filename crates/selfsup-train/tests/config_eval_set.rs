//! An unlabeled image folder with a separate labelled evaluation set (`[eval] dataset`), and
//! the normalisation a run keeps (`data.mean`, `data.std`).

mod common;

use std::path::PathBuf;

use common::{load, refused_key};
use selfsup_train::config::DatasetKind;

const IMAGES: &str =
    "method = \"simclr\"\n[data]\ndataset = \"images\"\ndir = \"/photos\"\nchannels = 1\n";

#[test]
fn the_labelled_data_is_the_eval_set_when_named_else_the_training_splits() {
    let config = load(IMAGES).unwrap();
    assert_eq!(config.labelled_data(), None, "an unlabeled folder alone");

    let config = load(&format!(
        "{IMAGES}[eval]\ndataset = \"imagefolder\"\ndir = \"/labelled\"\nimage_size = 48\n"
    ))
    .unwrap();
    let data = config.labelled_data().unwrap();
    assert_eq!(data.dataset, DatasetKind::Imagefolder);
    assert_eq!(data.dir, Some(PathBuf::from("/labelled")));
    assert_eq!((data.image_size, data.channels), (48, 1));

    let config = load(&format!("{IMAGES}[eval]\ndataset = \"fashion_mnist\"\n")).unwrap();
    assert_eq!(
        config.labelled_data().unwrap().dataset,
        DatasetKind::FashionMnist
    );

    let labelled = load("method = \"simclr\"\n").unwrap();
    assert_eq!(labelled.labelled_data(), Some(labelled.data.clone()));
}

#[test]
fn bad_evaluation_sets_name_their_key() {
    for (eval, key) in [
        ("dataset = \"images\"", "eval.dataset"),
        ("dir = \"/labelled\"", "eval.dir"),
        ("channels = 5", "eval.channels"),
        ("channels = 0", "eval.channels"),
        ("image_size = 0", "eval.image_size"),
        // The encoder sees 1 channel; CIFAR-10 has 3.
        ("dataset = \"cifar10\"\ndir = \"/c\"", "eval.dataset"),
        (
            "dataset = \"fashion_mnist\"\nknn_features = \"memory_bank\"",
            "eval.knn_features",
        ),
    ] {
        assert_eq!(
            refused_key(&format!("{IMAGES}[eval]\n{eval}\n")),
            key,
            "{eval}"
        );
    }
}

#[test]
fn image_folders_take_the_channel_counts_image_files_hold() {
    for channels in 1..=4 {
        let text = IMAGES.replace("channels = 1", &format!("channels = {channels}"));
        assert_eq!(load(&text).unwrap().image_channels(), channels);
    }
    for bad in [0, 5] {
        let text = IMAGES.replace("channels = 1", &format!("channels = {bad}"));
        assert_eq!(refused_key(&text), "data.channels");
    }
}

#[test]
fn the_normalisation_has_one_value_per_channel() {
    let config = load(&format!("{IMAGES}mean = [0.5]\nstd = [0.25]\n")).unwrap();
    assert_eq!(config.data.mean, Some(vec![0.5]));
    for (lines, key) in [
        ("mean = [0.5, 0.5]\nstd = [0.2, 0.2]", "data.mean"),
        ("mean = [0.5]\nstd = [0.0]", "data.std"),
        ("mean = [0.5]", "data.std"),
    ] {
        assert_eq!(refused_key(&format!("{IMAGES}{lines}\n")), key, "{lines}");
    }
}
