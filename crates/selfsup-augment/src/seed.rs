use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser: spreads nearby integers (epoch 3 vs 4, index 10 vs 11) into unrelated
/// 64-bit seeds, so per-view streams do not overlap.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream of one view: fixed by (seed, epoch, sample index, view number) alone, so
/// views do not depend on batch composition, thread scheduling or what ran before.
pub fn view_rng(seed: u64, epoch: u64, index: u64, view: u64) -> ChaCha8Rng {
    let key = [epoch, index, view]
        .iter()
        .fold(mix(seed), |acc, &part| mix(acc ^ mix(part)));
    ChaCha8Rng::seed_from_u64(key)
}
