//! The AVX2 backend: four points in the four 64-bit lanes of `__m256i`,
//! field elements in radix 2^25.5 with `_mm256_mul_epu32` (`field`), Edwards
//! arithmetic (`point`), the fixed-window scalar multiplication
//! (`scalar_mul`) and ristretto255's encoding, decoding and Elligator map
//! (`ristretto`): the same formulas as the IFMA backend, in another field
//! representation.
//!
//! Every function here is compiled for `avx2` and may only run on a CPU
//! that has it: `crate::dispatch` is the one caller, after run-time
//! detection.

mod constants;
pub(crate) mod field;
mod loose;
mod point;
mod ristretto;
mod scalar_mul;
pub(crate) mod selftest;

pub(crate) use point::Ep4;

/// Four items from a slice, the missing ones at the end as `fill`.
fn group_of<T: Copy>(chunk: &[T], fill: T) -> [T; 4] {
    core::array::from_fn(|j| chunk.get(j).copied().unwrap_or(fill))
}

/// `from_uniform_bytes` of each input, four at a time.
#[target_feature(enable = "avx2")]
pub(crate) fn from_uniform_batch(inputs: &[[u8; 64]]) -> Vec<Ep4> {
    inputs
        .chunks(4)
        .map(|c| ristretto::from_uniform(&group_of(c, [0u8; 64])))
        .collect()
}

/// Decodes each encoding; `Err(i)` names the first invalid one.
#[target_feature(enable = "avx2")]
pub(crate) fn decompress_batch(inputs: &[[u8; 32]]) -> Result<Vec<Ep4>, usize> {
    let mut out = Vec::with_capacity(inputs.len().div_ceil(4));
    for (g, c) in inputs.chunks(4).enumerate() {
        // The padding is the identity's encoding (all zero), which is valid.
        let (p, valid) = ristretto::decode(&group_of(c, [0u8; 32]));
        if valid != 0x0f {
            let bad = (!valid).trailing_zeros() as usize;
            return Err(4 * g + bad);
        }
        out.push(p);
    }
    Ok(out)
}

/// `s·P` for every point, `s` as 32 little-endian bytes below 2^255.
#[target_feature(enable = "avx2")]
pub(crate) fn mul_batch(points: &[Ep4], s: &[u8; 32]) -> Vec<Ep4> {
    let choices = crate::digits::scalar_choices(s);
    points
        .iter()
        .map(|p| scalar_mul::mul(p, &choices))
        .collect()
}

/// The encodings of the first `len` points of the groups.
#[target_feature(enable = "avx2")]
pub(crate) fn compress_batch(points: &[Ep4], len: usize) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(points.len() * 4);
    for p in points {
        out.extend_from_slice(&ristretto::encode(p));
    }
    out.truncate(len);
    out
}
