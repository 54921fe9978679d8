#![no_main]
//! The TOML config: any text is a valid config or one error, never a panic. The first line is
//! read as a `--set` override, so overrides are fuzzed too.

use libfuzzer_sys::fuzz_target;
use selfsup_train::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(config) = Config::from_toml(rest, "fuzz", &[first.to_string()]) {
        // A valid config survives its own serialisation, as config.toml in a run directory.
        let saved = toml::to_string(&config).expect("a valid config serialises");
        let again = Config::from_toml(&saved, "saved", &[]).expect("a saved config loads");
        assert_eq!(again, config);
    }
    let _ = Config::from_toml(text, "fuzz", &[]);
});
