//! The portable backend: curve25519-dalek, one point at a time (dalek picks
//! its own serial, AVX2 or IFMA field code inside each operation).

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use zeroize::Zeroizing;

pub(crate) fn from_uniform(inputs: &[[u8; 64]]) -> Vec<RistrettoPoint> {
    inputs
        .iter()
        .map(RistrettoPoint::from_uniform_bytes)
        .collect()
}

/// `Err(i)`: the first invalid encoding.
pub(crate) fn decompress(inputs: &[[u8; 32]]) -> Result<Vec<RistrettoPoint>, usize> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, b)| CompressedRistretto(*b).decompress().ok_or(i))
        .collect()
}

pub(crate) fn mul(points: &[RistrettoPoint], s: &Scalar) -> Vec<RistrettoPoint> {
    points.iter().map(|p| p * s).collect()
}

pub(crate) fn compress(points: &[RistrettoPoint]) -> Vec<[u8; 32]> {
    points.iter().map(|p| p.compress().0).collect()
}

/// `compress(s·P)` as `compress(2·((s/2)·P))`: dalek encodes doubled points
/// with one batched inversion instead of one inverse square root each.
pub(crate) fn mul_compress(points: &[RistrettoPoint], s: &Scalar) -> Vec<[u8; 32]> {
    let half = Zeroizing::new(s * Scalar::from(2u8).invert());
    let halves: Vec<RistrettoPoint> = points.iter().map(|p| p * *half).collect();
    RistrettoPoint::double_and_compress_batch(&halves)
        .into_iter()
        .map(|c| c.0)
        .collect()
}
