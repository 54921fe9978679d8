//! curves.png of a run: drawn from the logs the training library writes (steps.jsonl,
//! metrics.jsonl), after every evaluation and at the end.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use selfsup_train::run_dir::{CURVES_FILE, METRICS_FILE, STEPS_FILE};

/// `curves.png`: loss and learning rate per step (steps.jsonl); kNN top-1 (when there is
/// a labelled set) and the training-health metrics per evaluation (metrics.jsonl).
pub fn write_curves(run: &Path) -> Result<PathBuf> {
    let steps = read_points(&run.join(STEPS_FILE), "step", &["loss", "lr"])?;
    let evals = read_points(
        &run.join(METRICS_FILE),
        "epoch",
        &[
            "knn_top1",
            "projection_std",
            "projection_std_spread",
            "effective_rank",
            "alignment",
            "uniformity",
        ],
    )?;
    let knn: Vec<(f64, f64)> = evals[0].iter().map(|&(e, a)| (e, a * 100.0)).collect();
    // The std as a share of its value for projections spread over the sphere.
    let spread: Vec<(f64, f64)> = evals[1]
        .iter()
        .zip(&evals[2])
        .map(|(&(e, std), &(_, even))| (e, std / even))
        .collect();
    let curve = |title, x_label, points| crate::report::plots::Curve {
        title,
        x_label,
        points,
        log_y: false,
    };
    // Curves without points (no kNN without a labelled set) are left out.
    let curves = [
        curve("training loss", "step", &steps[0]),
        curve("learning rate", "step", &steps[1]),
        curve("kNN top-1 (%)", "epoch", &knn),
        curve("projection std x sqrt(d) (0: collapsed)", "epoch", &spread),
        curve("effective rank of the features", "epoch", &evals[3]),
        curve("alignment (lower: views agree)", "epoch", &evals[4]),
        curve("uniformity (lower: spread out)", "epoch", &evals[5]),
    ];
    let path = run.join(CURVES_FILE);
    crate::report::plots::curves_png(&path, &curves)?;
    Ok(path)
}

/// `(x, y)` points of each of `ys` against `x` from a JSON-lines log; lines without a finite
/// value (a skipped step's null loss) are left out of that curve. A missing log has no points.
fn read_points(path: &Path, x: &str, ys: &[&str]) -> Result<Vec<Vec<(f64, f64)>>> {
    let mut curves = vec![Vec::new(); ys.len()];
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(curves),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: not a JSON line: {line}", path.display()))?;
        let Some(x) = record.get(x).and_then(serde_json::Value::as_f64) else {
            continue;
        };
        for (curve, key) in curves.iter_mut().zip(ys) {
            if let Some(y) = record.get(*key).and_then(serde_json::Value::as_f64) {
                curve.push((x, y));
            }
        }
    }
    Ok(curves)
}
