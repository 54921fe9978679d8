"""Reference values of selfsup's training-health metrics, computed with numpy in float64.

Writes crates/selfsup-eval/tests/fixtures/health_numpy.json: fixed inputs (features and the
two views' projections) and, for each, the projections' std, the features' effective rank
(RankMe), alignment and uniformity. crates/selfsup-eval/tests/health.rs checks the Rust
implementation against them. Run: python3 -m pip install numpy && python3 scripts/health_reference.py
"""

import json
import pathlib

import numpy as np


def normalize(z):
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def metrics(features, z1, z2):
    n1, n2 = normalize(z1), normalize(z2)
    std = n1.std(axis=0, ddof=1).mean()
    s = np.linalg.svd(features, compute_uv=False)
    p = s / s.sum() + 1e-7
    rank = float(np.exp(-(p * np.log(p)).sum()))
    alignment = float((np.linalg.norm(n1 - n2, axis=1) ** 2).mean())

    def uniformity(z):
        d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        i, j = np.triu_indices(len(z), k=1)
        return float(np.log(np.exp(-2.0 * d2[i, j]).mean()))

    return {
        "projection_std": float(std),
        "effective_rank": rank,
        "alignment": alignment,
        "uniformity": (uniformity(n1) + uniformity(n2)) / 2,
    }


def case(name, features, z1, z2):
    to_list = lambda a: [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]
    return {
        "name": name,
        "images": int(features.shape[0]),
        "feature_dim": int(features.shape[1]),
        "projection_dim": int(z1.shape[1]),
        "features": to_list(features),
        "view1": to_list(z1),
        "view2": to_list(z2),
        # The metrics of the float32 values written above.
        **metrics(
            np.asarray(features, np.float32).astype(np.float64),
            np.asarray(z1, np.float32).astype(np.float64),
            np.asarray(z2, np.float32).astype(np.float64),
        ),
    }


rng = np.random.default_rng(20)
n, f, d = 48, 24, 16
healthy = rng.normal(size=(n, f))
z = rng.normal(size=(n, d))
cases = [
    case("healthy", healthy, z, z + 0.3 * rng.normal(size=(n, d))),
    # Every image projects to nearly the same point; features on two directions.
    case(
        "collapsed",
        rng.normal(size=(n, 2)) @ rng.normal(size=(2, f)),
        np.ones((n, d)) + 1e-4 * rng.normal(size=(n, d)),
        np.ones((n, d)) + 1e-4 * rng.normal(size=(n, d)),
    ),
    case("small", rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), rng.normal(size=(5, 4))),
]
out = pathlib.Path(__file__).resolve().parent.parent / "crates/selfsup-eval/tests/fixtures/health_numpy.json"
out.write_text(json.dumps({"numpy": np.__version__, "cases": cases}) + "\n")
print(f"wrote {out}")
