//! Losses against the float64 reference in fixtures/losses.json (made by make_fixtures.py),
//! gradients against its central finite differences.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Tensor, TensorData};
use selfsup_losses::{
    OneDevice, Sinkhorn, ViewGraph, barlow_twins, byol_loss, cmc_in_batch, crop_nce, crop_swap,
    distillation, info_nce, nce_loss, nce_normalizer, negative_cosine, nt_xent, nt_xent_gathered,
    proximal, sinkhorn, sup_con, sup_con_gathered, swav_loss, swav_loss_with_queue, view_pairs,
    wcl_swap,
};
use selfsup_weaklabel::weak_label_mask;
use serde::Deserialize;

type B = Autodiff<Flex>;
type Matrix = Vec<Vec<f64>>;

#[derive(Deserialize)]
struct Fixtures {
    nt_xent: Vec<NtXentCase>,
    sup_con: Vec<SupConCase>,
    wcl_swap: Vec<SwapCase>,
    nce: Vec<NceCase>,
    info_nce: Vec<InfoNceCase>,
    cmc_in_batch: Vec<CmcCase>,
    byol: Vec<ByolCase>,
    barlow: Vec<BarlowCase>,
    swav: Vec<SwavCase>,
    wcl_crops: Vec<CropCase>,
    swav_queue: Vec<SwavQueueCase>,
    distillation: Vec<DistillationCase>,
}

#[derive(Deserialize)]
struct DistillationCase {
    temperature: f64,
    student: Matrix,
    teacher: Matrix,
    loss: f64,
    grad_student: Matrix,
}

#[derive(Deserialize)]
struct SwavQueueCase {
    temperature: f64,
    epsilon: f64,
    iterations: usize,
    scores: Vec<Matrix>,
    queued: Vec<Matrix>,
    loss: f64,
    grad_crop2: Matrix,
}

#[derive(Deserialize)]
struct CropCase {
    temperature: f64,
    z1: Matrix,
    z2: Matrix,
    v1: Matrix,
    v2: Matrix,
    z_crops: Vec<Matrix>,
    v_crops: Vec<Matrix>,
    crop_nce: f64,
    crop_nce_grad_crop0: Matrix,
    crop_nce_grad_z1: Matrix,
    crop_swap: f64,
    crop_swap_grad_crop0: Matrix,
}

#[derive(Deserialize)]
struct SwavCase {
    temperature: f64,
    epsilon: f64,
    iterations: usize,
    assigned: usize,
    scores: Vec<Matrix>,
    codes0: Matrix,
    loss: f64,
    grads: Vec<Matrix>,
}

#[derive(Deserialize)]
struct ByolCase {
    p: Matrix,
    z: Matrix,
    loss: f64,
    grad_p: Matrix,
}

#[derive(Deserialize)]
struct BarlowCase {
    lambda: f64,
    z1: Matrix,
    z2: Matrix,
    loss: f64,
    grad_z1: Matrix,
    grad_z2: Matrix,
}

#[derive(Deserialize)]
struct NceCase {
    temperature: f64,
    bank_len: usize,
    positive: Vec<f64>,
    noise: Matrix,
    normalizer: f64,
    loss: f64,
    grad_positive: Vec<f64>,
    grad_noise: Matrix,
}

#[derive(Deserialize)]
struct InfoNceCase {
    temperature: f64,
    q: Matrix,
    k: Matrix,
    queue: Matrix,
    loss: f64,
    grad_q: Matrix,
}

#[derive(Deserialize)]
struct CmcCase {
    temperature: f64,
    v1: Matrix,
    v2: Matrix,
    loss: f64,
    grad_v1: Matrix,
    grad_v2: Matrix,
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

/// The rows of a batch of `n` split between `peers` in rank order, as a data-parallel run
/// splits its batch; the last peer takes what does not divide (the losses allow it).
fn shares(n: usize, peers: usize) -> Vec<std::ops::Range<usize>> {
    let share = n / peers;
    (0..peers)
        .map(|rank| {
            rank * share..if rank + 1 == peers {
                n
            } else {
                (rank + 1) * share
            }
        })
        .collect()
}

/// A whole-batch loss from per-peer losses: the mean over the anchors, each peer's loss being
/// the mean over its own.
fn anchors_weighted(losses: Vec<(Tensor<B, 1>, usize)>, n: usize) -> Tensor<B, 1> {
    losses
        .into_iter()
        .map(|(loss, anchors)| loss.mul_scalar(anchors as f64 / n as f64))
        .reduce(|a, b| a + b)
        .unwrap()
}

#[test]
fn nt_xent_split_between_peers_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().nt_xent.iter().enumerate() {
        let z1 = tensor(&case.z1).require_grad();
        let z2 = tensor(&case.z2).require_grad();
        let n = case.z1.len();
        for peers in 2..=n.min(3) {
            let losses = shares(n, peers)
                .into_iter()
                .map(|own| {
                    let anchors = own.len();
                    let loss = nt_xent_gathered(z1.clone(), z2.clone(), own, case.temperature);
                    (loss, anchors)
                })
                .collect();
            let loss = anchors_weighted(losses, n);
            let name = format!("nt_xent[{k}] on {peers} peers");
            assert_close(&name, loss.clone().into_scalar() as f64, case.loss, 1e-5);
            let grads = loss.backward();
            assert_grad_close(&name, flat(z1.grad(&grads).unwrap()), &case.grad_z1);
            assert_grad_close(&name, flat(z2.grad(&grads).unwrap()), &case.grad_z2);
        }
    }
}

#[test]
fn sup_con_split_between_peers_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().sup_con.iter().enumerate() {
        let z = tensor(&case.z).require_grad();
        let n = case.z.len();
        for peers in 2..=n.min(3) {
            let losses = shares(n, peers)
                .into_iter()
                .map(|own| {
                    let anchors = own.len();
                    let mask_rows = tensor(&case.mask[own.clone()].to_vec());
                    let loss = sup_con_gathered(z.clone(), mask_rows, own, case.temperature);
                    (loss, anchors)
                })
                .collect();
            let loss = anchors_weighted(losses, n);
            let name = format!("sup_con[{k}] on {peers} peers");
            assert_close(&name, loss.clone().into_scalar() as f64, case.loss, 1e-5);
            let grads = loss.backward();
            assert_grad_close(&name, flat(z.grad(&grads).unwrap()), &case.grad_z);
        }
    }
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

fn vector(v: &[f64]) -> Tensor<B, 1> {
    let flat: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(flat, [v.len()]), &Default::default())
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
        let n = v1.dims()[0];
        let loss = wcl_swap(v1, v2, mask1, mask2, 0..n, case.temperature);
        assert_close(
            &format!("wcl_swap[{k}]"),
            loss.into_scalar() as f64,
            case.loss,
            1e-5,
        );
    }
}

#[test]
fn wcl_crop_terms_match_reference_values_and_gradients() {
    for (k, case) in fixtures().wcl_crops.iter().enumerate() {
        let tau = case.temperature;
        let z1 = tensor(&case.z1).require_grad();
        let z2 = tensor(&case.z2);
        let z_crops: Vec<Tensor<B, 2>> = case
            .z_crops
            .iter()
            .map(|c| tensor(c).require_grad())
            .collect();
        let n = z1.dims()[0];
        let loss = crop_nce(&z_crops, [&z1, &z2], 0..n, tau);
        assert_close(
            &format!("crop_nce[{k}]"),
            loss.clone().into_scalar() as f64,
            case.crop_nce,
            1e-5,
        );
        let grads = loss.backward();
        let grad = |t: &Tensor<B, 2>| flat(t.grad(&grads).unwrap());
        assert_grad_close("grad crop 0", grad(&z_crops[0]), &case.crop_nce_grad_crop0);
        assert_grad_close("grad z1", grad(&z1), &case.crop_nce_grad_z1);

        // The weak labels come from the global views only.
        let normalized = |v: &Matrix| selfsup_losses::l2_normalize(tensor(v));
        let mask1 = weak_label_mask(normalized(&case.v1));
        let mask2 = weak_label_mask(normalized(&case.v2));
        let v_crops: Vec<Tensor<B, 2>> = case
            .v_crops
            .iter()
            .map(|c| tensor(c).require_grad())
            .collect();
        let loss = crop_swap(&v_crops, mask1, mask2, 0..n, tau);
        assert_close(
            &format!("crop_swap[{k}]"),
            loss.clone().into_scalar() as f64,
            case.crop_swap,
            1e-5,
        );
        let grads = loss.backward();
        let grad = flat(v_crops[0].grad(&grads).unwrap());
        assert_grad_close("grad crop 0", grad, &case.crop_swap_grad_crop0);
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

#[test]
fn nce_matches_lemniscate_reference_value_gradient_and_normalizer() {
    for (k, case) in fixtures().nce.iter().enumerate() {
        let noise = tensor(&case.noise).require_grad();
        let positive = vector(&case.positive).require_grad();
        let z = nce_normalizer(noise.clone(), case.temperature, case.bank_len);
        assert_close(&format!("Z[{k}]"), z, case.normalizer, 1e-5);
        let loss = nce_loss(
            positive.clone(),
            noise.clone(),
            case.temperature,
            case.normalizer,
            case.bank_len,
        );
        assert_close(
            &format!("nce[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        let grad_positive = positive
            .grad(&grads)
            .unwrap()
            .reshape([1, case.positive.len()]);
        assert_grad_close(
            "grad positive",
            flat(grad_positive),
            &vec![case.grad_positive.clone()],
        );
        assert_grad_close(
            "grad noise",
            flat(noise.grad(&grads).unwrap()),
            &case.grad_noise,
        );
    }
}

#[test]
fn info_nce_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().info_nce.iter().enumerate() {
        let q = tensor(&case.q).require_grad();
        let loss = info_nce(
            q.clone(),
            tensor(&case.k),
            tensor(&case.queue),
            case.temperature,
        );
        assert_close(
            &format!("info_nce[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        assert_grad_close("grad q", flat(q.grad(&grads).unwrap()), &case.grad_q);
    }
}

#[test]
fn cmc_in_batch_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().cmc_in_batch.iter().enumerate() {
        let v1 = tensor(&case.v1).require_grad();
        let v2 = tensor(&case.v2).require_grad();
        let loss = cmc_in_batch(v1.clone(), v2.clone(), case.temperature);
        assert_close(
            &format!("cmc_in_batch[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        assert_grad_close("grad v1", flat(v1.grad(&grads).unwrap()), &case.grad_v1);
        assert_grad_close("grad v2", flat(v2.grad(&grads).unwrap()), &case.grad_v2);
    }
}

#[test]
fn proximal_term_is_the_mean_squared_distance_to_the_old_entry() {
    let current = tensor(&vec![vec![1.0, 0.0], vec![0.0, 3.0]]).require_grad();
    let previous = tensor(&vec![vec![0.0, 0.0], vec![0.0, 1.0]]);
    let term = proximal(current.clone(), previous);
    // (1^2 + 2^2) / 2.
    assert_close("proximal", term.clone().into_scalar() as f64, 2.5, 1e-6);
    let grads = term.backward();
    // d/dv mean ||v - p||^2 = 2 (v - p) / b.
    assert_eq!(
        flat(current.grad(&grads).unwrap()),
        vec![1.0, 0.0, 0.0, 2.0]
    );
}

#[test]
fn view_graphs_pair_the_core_view_or_every_pair() {
    assert_eq!(view_pairs(2, ViewGraph::Core), vec![(0, 1)]);
    assert_eq!(view_pairs(2, ViewGraph::Full), vec![(0, 1)]);
    assert_eq!(view_pairs(3, ViewGraph::Core), vec![(0, 1), (0, 2)]);
    assert_eq!(view_pairs(3, ViewGraph::Full), vec![(0, 1), (0, 2), (1, 2)]);
    assert_eq!(view_pairs(4, ViewGraph::Full).len(), 6);
}

#[test]
fn byol_and_simsiam_match_reference_value_and_gradient() {
    for (k, case) in fixtures().byol.iter().enumerate() {
        let p = tensor(&case.p).require_grad();
        let loss = byol_loss(p.clone(), tensor(&case.z));
        assert_close(
            &format!("byol[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        assert_grad_close("grad p", flat(p.grad(&grads).unwrap()), &case.grad_p);
        // SimSiam's -cos is (2 - 2 cos - 2) / 2.
        let simsiam = negative_cosine(tensor(&case.p), tensor(&case.z)).into_scalar() as f64;
        assert_close(
            &format!("simsiam[{k}]"),
            simsiam,
            (case.loss - 2.0) / 2.0,
            1e-5,
        );
    }
}

#[test]
fn barlow_twins_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().barlow.iter().enumerate() {
        let z1 = tensor(&case.z1).require_grad();
        let z2 = tensor(&case.z2).require_grad();
        let loss = barlow_twins(z1.clone(), z2.clone(), case.lambda);
        assert_close(
            &format!("barlow[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-4,
        );
        let grads = loss.backward();
        assert_grad_close("grad z1", flat(z1.grad(&grads).unwrap()), &case.grad_z1);
        assert_grad_close("grad z2", flat(z2.grad(&grads).unwrap()), &case.grad_z2);
    }
}

/// Identical inputs: the diagonal of the correlation is 1 (up to the 1e-5 eps), so the loss is
/// lambda times the squared off-diagonal correlations, computed here in float64.
#[test]
fn barlow_twins_on_identical_inputs_is_the_off_diagonal_term() {
    let z = &fixtures().barlow[1].z1;
    let (n, d) = (z.len(), z[0].len());
    let column = |j: usize| z.iter().map(|row| row[j]).collect::<Vec<f64>>();
    let standardised: Vec<Vec<f64>> = (0..d)
        .map(|j| {
            let c = column(j);
            let mean = c.iter().sum::<f64>() / n as f64;
            let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            c.iter().map(|v| (v - mean) / var.sqrt()).collect()
        })
        .collect();
    let mut off = 0.0;
    for i in 0..d {
        for j in 0..d {
            if i != j {
                let c: f64 = (0..n)
                    .map(|r| standardised[i][r] * standardised[j][r])
                    .sum::<f64>()
                    / n as f64;
                off += c * c;
            }
        }
    }
    let lambda = 0.1;
    let loss = barlow_twins(tensor(z), tensor(z), lambda).into_scalar() as f64;
    assert_close("barlow(z, z)", loss, lambda * off, 1e-3);
}

#[test]
fn swav_with_a_feature_queue_matches_the_reference() {
    for (k, case) in fixtures().swav_queue.iter().enumerate() {
        let scores: Vec<Tensor<B, 2>> = case
            .scores
            .iter()
            .map(|s| tensor(s).require_grad())
            .collect();
        let queued: Vec<Tensor<B, 2>> = case.queued.iter().map(tensor).collect();
        let sinkhorn = Sinkhorn {
            epsilon: case.epsilon,
            iterations: case.iterations,
            spread: &OneDevice,
        };
        let loss = swav_loss_with_queue(&scores, &queued, 2, case.temperature, &sinkhorn);
        assert_close(
            &format!("swav_queue[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        let grad = flat(scores[2].grad(&grads).unwrap());
        assert_grad_close("grad crop 2", grad, &case.grad_crop2);
        // No gradient reaches the queue (its codes are targets, computed without one).
        let without = swav_loss(&scores, 2, case.temperature, case.epsilon, case.iterations);
        let differs = (without.into_scalar() as f64 - case.loss).abs();
        assert!(differs > 1e-4, "the queue changes the codes ({differs})");
    }
}

#[test]
fn distillation_matches_reference_value_and_gradient() {
    for (k, case) in fixtures().distillation.iter().enumerate() {
        let student = tensor(&case.student).require_grad();
        let teacher = tensor(&case.teacher).require_grad();
        let loss = distillation(student.clone(), teacher.clone().detach(), case.temperature);
        assert_close(
            &format!("distillation[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        let grad = flat(student.grad(&grads).unwrap());
        assert_grad_close("grad student", grad, &case.grad_student);
        assert!(
            teacher.grad(&grads).is_none(),
            "the teacher's logits are a target"
        );
    }
    // A student that predicts exactly the teacher's distribution has the teacher's entropy as
    // its loss, the minimum over students.
    let logits = vec![vec![1.0, -2.0, 0.5]];
    let p: Vec<f64> = {
        let e: Vec<f64> = logits[0].iter().map(|&x: &f64| (x / 2.0).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    };
    let entropy = -p.iter().map(|p| p * p.ln()).sum::<f64>();
    let loss = distillation(tensor(&logits), tensor(&logits), 2.0).into_scalar() as f64;
    assert_close("distillation(t, t)", loss, entropy, 1e-5);
}

#[test]
fn swav_codes_loss_and_gradients_match_the_reference() {
    for (k, case) in fixtures().swav.iter().enumerate() {
        let codes = sinkhorn(tensor(&case.scores[0]), case.epsilon, case.iterations);
        assert_grad_close(&format!("codes[{k}]"), flat(codes.inner()), &case.codes0);
        let scores: Vec<Tensor<B, 2>> = case
            .scores
            .iter()
            .map(|s| tensor(s).require_grad())
            .collect();
        let loss = swav_loss(
            &scores,
            case.assigned,
            case.temperature,
            case.epsilon,
            case.iterations,
        );
        assert_close(
            &format!("swav[{k}]"),
            loss.clone().into_scalar() as f64,
            case.loss,
            1e-5,
        );
        let grads = loss.backward();
        for (c, want) in case.grads.iter().enumerate() {
            let got = flat(scores[c].grad(&grads).unwrap());
            assert_grad_close(&format!("swav[{k}] grad crop {c}"), got, want);
        }
    }
}

/// Each sample's codes sum to 1 after any number of rounds; each prototype's approach b / k
/// as the rounds go on.
#[test]
fn sinkhorn_codes_have_the_right_marginals() {
    let case = &fixtures().swav[1];
    let (b, k) = (case.scores[0].len(), case.scores[0][0].len());
    let sums = |codes: Tensor<B, 2>, dim: usize| flat(codes.sum_dim(dim).inner().reshape([1, -1]));
    let codes = sinkhorn(tensor(&case.scores[0]), case.epsilon, 3);
    assert!(sums(codes, 1).iter().all(|s| (s - 1.0).abs() < 1e-5));
    let codes = sinkhorn(tensor(&case.scores[0]), case.epsilon, 200);
    let columns = sums(codes.clone(), 0);
    assert!(
        columns
            .iter()
            .all(|s| (s - b as f64 / k as f64).abs() < 1e-3),
        "{columns:?}"
    );
    // The codes are targets: no gradient flows back into the scores they came from.
    let scores = tensor(&case.scores[0]).require_grad();
    assert!(!sinkhorn(scores, case.epsilon, 3).is_require_grad());
}
