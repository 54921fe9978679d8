//! Every config under configs/ parses and validates as shipped.

use std::path::{Path, PathBuf};

use selfsup_train::config::Config;

fn toml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
}

#[test]
fn every_shipped_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files = Vec::new();
    toml_files(&root, &mut files);
    assert!(files.len() >= 9, "configs found: {files:?}");
    for file in files {
        if let Err(error) = Config::load(&file, &[]) {
            panic!("{}: {error}", file.display());
        }
    }
}
