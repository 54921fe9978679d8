//! Reading a config: TOML text, `--set key=value` overrides, `[augment_warmup]` inheritance,
//! then deserialisation that names the failing key, then validation.

use std::path::Path;

use super::{Config, ConfigError};

impl Config {
    /// Reads `path`, applies `key=value` overrides (values in TOML syntax; bare words are
    /// strings), then deserialises and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string(), overrides)
    }

    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            origin: origin.to_string(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        inherit_augment(&mut table);
        let merged = toml::to_string(&table).map_err(|e| parse_error(e.to_string()))?;
        let deserializer =
            toml::Deserializer::parse(&merged).map_err(|e| parse_error(e.to_string()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            parse_error(if key == "." {
                message
            } else {
                format!("{key}: {message}")
            })
        })?;
        config.validate()?;
        Ok(config)
    }
}

/// `[augment_warmup]` names only what differs from `[augment]`: the keys it leaves out are
/// taken from `[augment]` (then from the defaults), so the warm-up views differ in strength
/// only where the table says.
fn inherit_augment(table: &mut toml::Table) {
    let Some(toml::Value::Table(warmup)) = table.get("augment_warmup") else {
        return;
    };
    let mut merged = match table.get("augment") {
        Some(toml::Value::Table(augment)) => augment.clone(),
        _ => toml::Table::new(),
    };
    merged.extend(warmup.clone());
    table.insert("augment_warmup".to_string(), toml::Value::Table(merged));
}

fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| ConfigError::BadOverride(assignment.to_string()))?;
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, parents) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            return Err(ConfigError::Invalid {
                key: parts[..=depth].join("."),
                value: entry.to_string(),
                expected: format!("a table, to set {}", key.trim()),
            });
        }
        current = entry.as_table_mut().expect("checked above");
    }
    current.insert(last.to_string(), value);
    Ok(())
}
