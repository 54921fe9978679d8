//! Replays the config fuzzer's kept corpus (fuzz/corpus/config) on the stable toolchain: the
//! first line is a `--set` override, the rest the file; a valid config round-trips through its
//! saved form.

use selfsup_train::config::Config;

#[test]
fn config_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        count += 1;
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        if let Ok(config) = Config::from_toml(rest, "corpus", &[first.to_string()]) {
            let saved = toml::to_string(&config).unwrap();
            assert_eq!(Config::from_toml(&saved, "saved", &[]).unwrap(), config);
        }
        let _ = Config::from_toml(text, "corpus", &[]);
    }
    assert!(count > 0);
}

#[test]
fn shipped_configs_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for dir in ["fashion_mnist", "cifar10"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            Config::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
