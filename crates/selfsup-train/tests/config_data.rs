//! `[data]` keys that only some datasets and storages allow.

mod common;

use common::{load, refused_key};

#[test]
fn views_from_the_original_photo_need_an_image_folder_on_disk() {
    let on_disk = "method = \"simclr\"\n[data]\ndataset = \"imagefolder\"\nstorage = \"disk\"\n\
                   crop_from = \"original\"\n";
    assert!(load(on_disk).is_ok());
    let in_memory = on_disk.replace("\"disk\"", "\"memory\"");
    assert_eq!(refused_key(&in_memory), "data.crop_from");
    let fashion = "method = \"simclr\"\n[data]\ncrop_from = \"original\"\n";
    assert_eq!(refused_key(fashion), "data.crop_from");
}

#[test]
fn a_class_list_is_for_image_folders() {
    let listed = "method = \"simclr\"\n[data]\nclasses = \"classes.txt\"\n";
    assert_eq!(refused_key(listed), "data.classes");
    let folder = "method = \"simclr\"\n[data]\ndataset = \"imagefolder\"\nclasses = \"c.txt\"\n";
    assert!(load(folder).is_ok());
}

#[test]
fn byte_batches_are_for_every_method_but_cmc() {
    let simclr = "method = \"simclr\"\n[data]\nbatch_dtype = \"u8\"\n";
    assert!(load(simclr).is_ok());
    let cmc =
        "method = \"cmc\"\n[data]\ndataset = \"cifar10\"\ndir = \"d\"\nbatch_dtype = \"u8\"\n";
    assert_eq!(refused_key(cmc), "data.batch_dtype");
    let unknown = "method = \"simclr\"\n[data]\nbatch_dtype = \"f16\"\n";
    let message = load(unknown).unwrap_err().to_string();
    assert!(message.contains("data.batch_dtype"), "{message}");
}
