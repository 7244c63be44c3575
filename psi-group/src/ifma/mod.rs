//! The AVX-512 IFMA backend: eight points in the eight 64-bit lanes of
//! `__m512i`, field elements in radix 2^52 (`field`), Edwards arithmetic
//! (`point`), the fixed-window scalar multiplication (`scalar_mul`) and
//! ristretto255's encoding, decoding and Elligator map (`ristretto`).
//!
//! Every function here is compiled for `avx512f,avx512ifma` and may only
//! run on a CPU that has both: `crate::dispatch` is the one caller, after
//! run-time detection.

mod constants;
pub(crate) mod field;
mod loose;
mod point;
mod ristretto;
mod scalar_mul;
pub(crate) mod selftest;

pub(crate) use point::Ep8;

/// Eight items from a slice, the missing ones at the end as `fill`.
fn group_of<T: Copy, const N: usize>(chunk: &[T], fill: T) -> [T; N] {
    core::array::from_fn(|j| chunk.get(j).copied().unwrap_or(fill))
}

/// `from_uniform_bytes` of each input, eight at a time.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn from_uniform_batch(inputs: &[[u8; 64]]) -> Vec<Ep8> {
    inputs
        .chunks(8)
        .map(|c| ristretto::from_uniform(&group_of(c, [0u8; 64])))
        .collect()
}

/// Decodes each encoding; `Err(i)` names the first invalid one.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn decompress_batch(inputs: &[[u8; 32]]) -> Result<Vec<Ep8>, usize> {
    let mut out = Vec::with_capacity(inputs.len().div_ceil(8));
    for (g, c) in inputs.chunks(8).enumerate() {
        // The padding is the identity's encoding (all zero), which is valid.
        let (p, valid) = ristretto::decode(&group_of(c, [0u8; 32]));
        if valid != 0xff {
            let bad = (!valid).trailing_zeros() as usize;
            return Err(8 * g + bad);
        }
        out.push(p);
    }
    Ok(out)
}

/// `s·P` for every point, `s` as 32 little-endian bytes below 2^255.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn mul_batch(points: &[Ep8], s: &[u8; 32]) -> Vec<Ep8> {
    let choices = crate::digits::scalar_choices(s);
    points
        .iter()
        .map(|p| scalar_mul::mul(p, &choices))
        .collect()
}

/// The encodings of the first `len` points of the groups.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn compress_batch(points: &[Ep8], len: usize) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(points.len() * 8);
    for p in points {
        out.extend_from_slice(&ristretto::encode(p));
    }
    out.truncate(len);
    out
}

/// `compress(2·(h·P))` for every point: with `h = s/2`, the encodings of
/// `s·P` at one batched inversion instead of an inverse square root each
/// (`ristretto::double_encode_batch`); the first `len` of them.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn mul_double_compress_batch(points: &[Ep8], h: &[u8; 32], len: usize) -> Vec<[u8; 32]> {
    let halves = mul_batch(points, h);
    let mut out: Vec<[u8; 32]> = ristretto::double_encode_batch(&halves)
        .into_iter()
        .flatten()
        .collect();
    out.truncate(len);
    out
}
