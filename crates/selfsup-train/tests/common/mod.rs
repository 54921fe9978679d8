//! Helpers the config test files share.

use selfsup_train::config::{Config, ConfigError};

pub fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", &[])
}

/// The key a refused config names (panics when the config is accepted or fails otherwise).
pub fn refused_key(text: &str) -> String {
    match load(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
