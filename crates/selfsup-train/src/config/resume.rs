//! What a resumed run may change without changing the training it continues.

use super::Config;

/// Keys (or key prefixes, ending in '.') a resumed run may change: where it runs, where the data
/// lies, how it is evaluated and checkpointed. Anything else changes the training a checkpoint
/// belongs to.
const FREE_ON_RESUME: &[&str] = &[
    "backend",
    "device",
    "data.dir",
    "data.test_limit",
    "data.storage",
    "eval.",
    "checkpoint.",
    "distill.",
];

/// `key: saved -> requested` for every key whose change would make a resumed run a different
/// run (method, model shape, dataset, schedule, ...); empty when resuming is sound.
pub fn material_differences(saved: &Config, requested: &Config) -> Vec<String> {
    let flat = |config: &Config| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(toml::Value::Table(table)) = toml::Value::try_from(config) {
            flatten("", &table, &mut out);
        }
        out
    };
    let (saved, requested) = (flat(saved), flat(requested));
    let keys: std::collections::BTreeSet<&String> = saved.keys().chain(requested.keys()).collect();
    keys.into_iter()
        .filter(|key| {
            !FREE_ON_RESUME
                .iter()
                .any(|free| key.as_str() == *free || (free.ends_with('.') && key.starts_with(free)))
        })
        .filter_map(|key| {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".to_string());
            let (a, b) = (saved.get(key), requested.get(key));
            (a != b).then(|| format!("{key}: {} -> {}", show(a), show(b)))
        })
        .collect()
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut std::collections::BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&path, inner, out),
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
}
