//! What a config can get wrong, and the checks that say so naming the key.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("--set {0}: expected key=value, e.g. --set train.epochs=10")]
    BadOverride(String),
    #[error("{key} = {value}: expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

pub fn invalid(key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

pub fn positive(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, value, "a positive number"))
    }
}

pub fn non_negative(key: &str, value: f64) -> Result<(), ConfigError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, value, "a non-negative number"))
    }
}

pub fn positive_int(key: &str, value: usize) -> Result<(), ConfigError> {
    if value > 0 {
        Ok(())
    } else {
        Err(invalid(key, value, "a positive integer"))
    }
}

pub fn probability(key: &str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(key, value, "a value in [0, 1]"))
    }
}
