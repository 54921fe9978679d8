//! The training-health metrics against numpy's float64 values on fixed inputs
//! (tests/fixtures/health_numpy.json, written by scripts/health_reference.py), and the collapse
//! rule on a healthy and a collapsed case.

use selfsup_eval::health::{self, Rows, collapse, health};

fn floats(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

fn close(got: f64, want: f64, what: &str, case: &str) {
    let tolerance = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tolerance,
        "{case}: {what} {got} against numpy's {want}"
    );
}

#[test]
fn metrics_equal_numpy_and_only_the_collapsed_case_collapses() {
    let text = include_str!("fixtures/health_numpy.json");
    let fixture: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    let mut measured = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let count = |key: &str| case[key].as_u64().unwrap() as usize;
        let (n, f, d) = (
            count("images"),
            count("feature_dim"),
            count("projection_dim"),
        );
        let (features, first, second) = (
            floats(&case["features"]),
            floats(&case["view1"]),
            floats(&case["view2"]),
        );
        let got = health(
            Rows::new(&features, n, f),
            [Rows::new(&first, n, d), Rows::new(&second, n, d)],
        );
        for (what, value) in [
            ("projection std", got.projection_std),
            ("effective rank", got.effective_rank),
            ("alignment", got.alignment),
            ("uniformity", got.uniformity),
        ] {
            let key = what.replace(' ', "_");
            close(value, case[key.as_str()].as_f64().unwrap(), what, name);
        }
        assert_eq!(got.projection_std_spread, 1.0 / (d as f64).sqrt());
        assert_eq!(got.rank_limit, n.min(f));
        measured.push(got);
    }
    let [healthy, collapsed, small] = measured[..] else {
        unreachable!()
    };
    // Under a hundredth of the spread: flagged, whatever came before.
    assert!(collapsed.projection_std < collapsed.projection_std_spread / 100.0);
    let why = collapse(&collapsed, &collapsed).expect("flagged");
    assert!(why.contains("standard deviation"), "{why}");
    assert_eq!(collapse(&healthy, &healthy), None);
    assert_eq!(collapse(&small, &small), None);
    // Under a tenth: flagged only when it fell to under half of an earlier value.
    let low = health::Health {
        projection_std: healthy.projection_std_spread / 20.0,
        ..healthy
    };
    assert_eq!(
        collapse(&low, &low),
        None,
        "low from the first evaluation on"
    );
    assert!(
        collapse(&low, &healthy).is_some(),
        "fell from a healthy value"
    );
}

#[test]
fn a_low_rank_feature_matrix_is_flagged_by_its_effective_rank() {
    // 200 images whose 256 features all lie on one direction: effective rank 1 < 2.
    let (n, f) = (200, 256);
    let features: Vec<f32> = (0..n * f)
        .map(|i| ((i / f) as f32 + 1.0) * ((i % f) as f32 * 0.1).sin())
        .collect();
    let projections: Vec<f32> = (0..n * 8).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
    let got = health(
        Rows::new(&features, n, f),
        [Rows::new(&projections, n, 8), Rows::new(&projections, n, 8)],
    );
    assert!((got.effective_rank - 1.0).abs() < 1e-3, "{got:?}");
    assert_eq!(got.alignment, 0.0, "identical views");
    let earlier = health::Health {
        effective_rank: 40.0,
        ..got
    };
    let why = collapse(&got, &earlier).expect("flagged");
    assert!(why.contains("effective rank"), "{why}");
}
