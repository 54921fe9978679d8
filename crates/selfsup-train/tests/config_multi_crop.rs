//! Multi-crop, KNN multi-crop and warm-up views: what is accepted and which key a refusal names.

mod common;

use common::{load, refused_key};

const WCL: &str = "method = \"wcl\"\n[train]\nepochs = 3\nwarmup_epochs = 0\n";

#[test]
fn wcl_takes_local_crops_and_knn_crops_need_them() {
    let crops = format!("{WCL}[augment]\nlocal_crops = 2\n[wcl]\nknn_crops = true\n");
    let config = load(&crops).unwrap();
    assert_eq!(
        (config.wcl.crop_nce_weight, config.wcl.crop_swap_weight),
        (0.5, 0.5)
    );
    assert_eq!(
        (config.wcl.knn_neighbours, config.wcl.knn_warmup_epochs),
        (4, 1)
    );
    assert_eq!(
        refused_key(&format!("{WCL}[wcl]\nknn_crops = true\n")),
        "wcl.knn_crops"
    );
    assert_eq!(
        refused_key(&format!("{crops}knn_warmup_epochs = 3\n")),
        "wcl.knn_warmup_epochs"
    );
    assert_eq!(
        refused_key(&format!("{crops}knn_warmup_epochs = 0\n")),
        "wcl.knn_warmup_epochs"
    );
    assert_eq!(
        refused_key(&format!("{crops}crop_swap_weight = -1\n")),
        "wcl.crop_swap_weight"
    );
    let simclr = "method = \"simclr\"\n[augment]\nlocal_crops = 2\n";
    assert_eq!(refused_key(simclr), "augment.local_crops");
}

#[test]
fn warm_up_views_change_strength_not_shape() {
    let warm = format!(
        "{WCL}augment_warmup_epochs = 1\n[augment]\nbrightness = 0.8\n\
         [augment_warmup]\nbrightness = 0.4\n"
    );
    let config = load(&warm).unwrap();
    let warmup = config.augment_warmup.unwrap();
    assert_eq!(warmup.brightness, 0.4);
    // Keys the warm-up table leaves out are [augment]'s, not the defaults.
    let crops = warm.replace("brightness = 0.8\n", "brightness = 0.8\nlocal_crops = 2\n");
    assert_eq!(warmup.contrast, config.augment.contrast);
    assert_eq!(load(&crops).unwrap().augment_warmup.unwrap().local_crops, 2);
    assert_eq!(
        refused_key(&format!("{warm}crop_size = 24\n")),
        "augment_warmup.crop_size"
    );
    assert_eq!(
        refused_key(&format!("{warm}contrast = 2.0\n")),
        "augment_warmup.contrast"
    );
    assert_eq!(
        refused_key(&format!("{WCL}augment_warmup_epochs = 1\n")),
        "train.augment_warmup_epochs"
    );
    let too_long = warm.replace("augment_warmup_epochs = 1", "augment_warmup_epochs = 3");
    assert_eq!(refused_key(&too_long), "train.augment_warmup_epochs");
}
