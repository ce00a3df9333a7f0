//! The integer hashes behind every seeded random number: splitmix64 on the host (weights,
//! dream schedules) and the PCG hash that the WGSL noise kernels share with their CPU references.

/// The splitmix64 mixing function of `x` (wrapping u64 arithmetic).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// PCG's output permutation of one LCG step: the 32-bit hash of the `noise` kernels
/// (`attack.wgsl`, `saliency.wgsl`).
pub fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}
