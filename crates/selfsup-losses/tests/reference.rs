//! Losses against the float64 reference in fixtures/losses.json (made by make_fixtures.py),
//! gradients against its central finite differences.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use selfsup_losses::{nt_xent, sup_con, wcl_swap};
use selfsup_weaklabel::weak_label_mask;
use serde::Deserialize;

type B = Autodiff<Flex>;
type Matrix = Vec<Vec<f64>>;

#[derive(Deserialize)]
struct Fixtures {
    nt_xent: Vec<NtXentCase>,
    sup_con: Vec<SupConCase>,
    wcl_swap: Vec<SwapCase>,
}

#[derive(Deserialize)]
struct NtXentCase {
    temperature: f64,
    z1: Matrix,
    z2: Matrix,
    loss: f64,
    grad_z1: Matrix,
    grad_z2: Matrix,
}

#[derive(Deserialize)]
struct SupConCase {
    temperature: f64,
    z: Matrix,
    mask: Matrix,
    loss: f64,
    grad_z: Matrix,
}

#[derive(Deserialize)]
struct SwapCase {
    temperature: f64,
    v1: Matrix,
    v2: Matrix,
    mask1: Matrix,
    mask2: Matrix,
    loss: f64,
}

fn fixtures() -> Fixtures {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/losses.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tensor(m: &Matrix) -> Tensor<B, 2> {
    let (rows, cols) = (m.len(), m[0].len());
    let flat: Vec<f32> = m.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(flat, [rows, cols]), &Default::default())
}

fn flat(t: Tensor<Flex, 2>) -> Vec<f64> {
    t.into_data()
        .into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn assert_close(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{name}: got {got}, want {want}"
    );
}

fn assert_grad_close(name: &str, got: Vec<f64>, want: &Matrix) {
    let want: Vec<f64> = want.iter().flatten().copied().collect();
    let scale = want.iter().fold(0f64, |a, b| a.max(b.abs())).max(1e-3);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-4 * scale,
            "{name}[{i}]: autodiff {g}, finite difference {w}"
        );
    }
}

#[test]
fn nt_xent_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().nt_xent.iter().enumerate() {
        let z1 = tensor(&case.z1).require_grad();
        let z2 = tensor(&case.z2).require_grad();
        let loss = nt_xent(z1.clone(), z2.clone(), case.temperature);
        assert_close(
            &format!("nt_xent[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        assert_grad_close("grad z1", flat(z1.grad(&grads).unwrap()), &case.grad_z1);
        assert_grad_close("grad z2", flat(z2.grad(&grads).unwrap()), &case.grad_z2);
    }
}

#[test]
fn sup_con_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().sup_con.iter().enumerate() {
        let z = tensor(&case.z).require_grad();
        let loss = sup_con(z.clone(), tensor(&case.mask), case.temperature);
        assert_close(
            &format!("sup_con[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        assert_grad_close("grad z", flat(z.grad(&grads).unwrap()), &case.grad_z);
    }
}

#[test]
fn wcl_swap_matches_reference_with_reference_masks() {
    for (k, case) in fixtures().wcl_swap.iter().enumerate() {
        let (v1, v2) = (tensor(&case.v1), tensor(&case.v2));
        // The weak labels built here agree with the reference's depth-first search.
        let normalized = |v: &Tensor<B, 2>| selfsup_losses::l2_normalize(v.clone());
        let mask1 = weak_label_mask(normalized(&v1));
        let mask2 = weak_label_mask(normalized(&v2));
        assert_eq!(
            flat(mask1.clone().inner()),
            flat(tensor(&case.mask1).inner())
        );
        assert_eq!(
            flat(mask2.clone().inner()),
            flat(tensor(&case.mask2).inner())
        );
        let loss = wcl_swap(v1, v2, mask1, mask2, case.temperature);
        assert_close(
            &format!("wcl_swap[{k}]"),
            loss.into_scalar() as f64,
            case.loss,
            1e-5,
        );
    }
}

#[test]
fn nt_xent_is_sup_con_with_the_pair_mask() {
    let case = &fixtures().nt_xent[1];
    let n = case.z1.len();
    let mut mask = vec![vec![0.0; 2 * n]; 2 * n];
    for i in 0..n {
        mask[i][i + n] = 1.0;
        mask[i + n][i] = 1.0;
    }
    let both: Matrix = case.z1.iter().chain(&case.z2).cloned().collect();
    let a = nt_xent(tensor(&case.z1), tensor(&case.z2), case.temperature).into_scalar();
    let b = sup_con(tensor(&both), tensor(&mask), case.temperature).into_scalar();
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
}

#[test]
fn scale_invariant_inputs() {
    let case = &fixtures().nt_xent[0];
    let a = nt_xent(tensor(&case.z1), tensor(&case.z2), 0.5).into_scalar();
    let b = nt_xent(tensor(&case.z1).mul_scalar(7.0), tensor(&case.z2), 0.5).into_scalar();
    assert!((a - b).abs() < 1e-5);
}
