//! Exponential ("lifted") ElGamal on ristretto255, the additively homomorphic
//! encryption of PSI-sum, and the bounded discrete logarithm that decrypts it.
//!
//! `Enc(m; k) = (k·G, m·G + k·PK)` with `PK = sk·G`. Adding ciphertexts adds
//! plaintexts; adding `Enc(0; k')` re-randomises. Decryption yields the point
//! `m·G`, and `m` is found by baby-step giant-step only when it is known to be
//! small ([`vartime_dlog`]). Semantic security rests on DDH in ristretto255.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use rayon::prelude::*;
use subtle::{Choice, ConditionallySelectable};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::POINT_LEN;
use crate::Error;

/// Size of a compressed ciphertext: two points.
pub const CIPHERTEXT_LEN: usize = 2 * POINT_LEN;

/// Points per batch compression (one field inversion per batch).
const BATCH: usize = 1024;

/// A uniformly random scalar (64 random bytes reduced mod ℓ).
pub(crate) fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let s = Scalar::from_bytes_mod_order_wide(&wide);
    wide.zeroize();
    s
}

/// `1/2 mod ℓ`: `double_and_compress_batch` compresses `2P`, so we feed it halves.
fn half() -> Scalar {
    Scalar::from(2u8).invert()
}

/// `s·G` with the precomputed basepoint table (constant time).
fn mul_base(s: &Scalar) -> RistrettoPoint {
    s * RISTRETTO_BASEPOINT_TABLE
}

/// The decryption key, zeroized on drop. It never leaves [`crate::pjc`].
pub(crate) struct SecretKey {
    sk: Scalar,
}

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.sk.zeroize();
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl SecretKey {
    /// A fresh key pair (one per session).
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> (SecretKey, PublicKey) {
        loop {
            let sk = random_scalar(rng);
            if sk != Scalar::ZERO {
                let pk = PublicKey::new(mul_base(&sk));
                return (SecretKey { sk }, pk);
            }
        }
    }

    /// `c2 - sk·c1`: the plaintext in the exponent, `m·G`.
    pub(crate) fn decrypt_point(&self, ct: &Ciphertext) -> RistrettoPoint {
        ct.c2 - ct.c1 * self.sk
    }
}

/// The encryption key, with a fixed-base table for `k·PK`.
pub(crate) struct PublicKey {
    point: RistrettoPoint,
    table: Box<RistrettoBasepointTable>,
}

impl PublicKey {
    fn new(point: RistrettoPoint) -> Self {
        PublicKey {
            point,
            table: Box::new(RistrettoBasepointTable::create(&point)),
        }
    }

    /// Decodes and checks a peer's key; the identity is refused (it would
    /// leave every plaintext in the clear).
    pub(crate) fn from_bytes(bytes: &[u8; POINT_LEN]) -> Result<Self, Error> {
        let point = CompressedRistretto(*bytes)
            .decompress()
            .filter(|p| *p != RistrettoPoint::identity())
            .ok_or(Error::InvalidPoint { index: 0 })?;
        Ok(Self::new(point))
    }

    /// The compressed key, for the hello.
    pub(crate) fn to_bytes(&self) -> [u8; POINT_LEN] {
        self.point.compress().to_bytes()
    }

    /// Encrypts `values[i]` with nonce `nonces[i]` and compresses, in parallel
    /// batches. Three fixed-base multiplications per value.
    pub(crate) fn encrypt_batch(
        &self,
        values: &[u64],
        nonces: &[Scalar],
    ) -> Vec<[u8; CIPHERTEXT_LEN]> {
        let h = half();
        values
            .par_chunks(BATCH)
            .zip(nonces.par_chunks(BATCH))
            .flat_map_iter(|(vs, ks)| {
                let halves: Vec<RistrettoPoint> = vs
                    .iter()
                    .zip(ks)
                    .flat_map(|(&v, k)| {
                        let kh = k * h;
                        let c1 = mul_base(&kh);
                        let c2 = mul_base(&(Scalar::from(v) * h)) + &kh * &*self.table;
                        [c1, c2]
                    })
                    .collect();
                let compressed = RistrettoPoint::double_and_compress_batch(&halves);
                compressed
                    .chunks_exact(2)
                    .map(|c| {
                        let mut out = [0u8; CIPHERTEXT_LEN];
                        out[..POINT_LEN].copy_from_slice(c[0].as_bytes());
                        out[POINT_LEN..].copy_from_slice(c[1].as_bytes());
                        out
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `ct + Enc(m; k)`: adds `m` (any scalar) under a fresh nonce `k`, which
    /// also re-randomises `ct`.
    pub(crate) fn add_encrypted(&self, ct: &Ciphertext, m: &Scalar, k: &Scalar) -> Ciphertext {
        Ciphertext {
            c1: ct.c1 + mul_base(k),
            c2: ct.c2 + mul_base(m) + k * &*self.table,
        }
    }
}

/// A decompressed ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ciphertext {
    c1: RistrettoPoint,
    c2: RistrettoPoint,
}

impl Ciphertext {
    /// The encryption of 0 with nonce 0: the neutral element of addition.
    pub(crate) fn zero() -> Self {
        Ciphertext {
            c1: RistrettoPoint::identity(),
            c2: RistrettoPoint::identity(),
        }
    }

    /// Decodes a peer's ciphertext; `index` names it in the error.
    pub(crate) fn from_bytes(bytes: &[u8; CIPHERTEXT_LEN], index: u64) -> Result<Self, Error> {
        let point = |b: &[u8]| {
            CompressedRistretto::from_slice(b)
                .ok()
                .and_then(|c| c.decompress())
                .ok_or(Error::InvalidPoint { index })
        };
        Ok(Ciphertext {
            c1: point(&bytes[..POINT_LEN])?,
            c2: point(&bytes[POINT_LEN..])?,
        })
    }

    /// The compressed ciphertext.
    pub(crate) fn to_bytes(self) -> [u8; CIPHERTEXT_LEN] {
        let mut out = [0u8; CIPHERTEXT_LEN];
        out[..POINT_LEN].copy_from_slice(self.c1.compress().as_bytes());
        out[POINT_LEN..].copy_from_slice(self.c2.compress().as_bytes());
        out
    }

    /// Homomorphic addition.
    pub(crate) fn add(&self, other: &Ciphertext) -> Ciphertext {
        Ciphertext {
            c1: self.c1 + other.c1,
            c2: self.c2 + other.c2,
        }
    }

    /// `self` if `choice` is set, else [`Ciphertext::zero`], chosen without a
    /// branch on `choice` (constant time): the caller adds the result either
    /// way, so its work does not depend on `choice`.
    pub(crate) fn or_zero(&self, choice: Choice) -> Ciphertext {
        let zero = Ciphertext::zero();
        Ciphertext {
            c1: RistrettoPoint::conditional_select(&zero.c1, &self.c1, choice),
            c2: RistrettoPoint::conditional_select(&zero.c2, &self.c2, choice),
        }
    }
}

/// Smallest `b` with `2^b >= n` (`n >= 1`).
fn ceil_log2(n: u64) -> u32 {
    64 - n.saturating_sub(1).leading_zeros()
}

/// The 64-bit key of a compressed point in the baby-step table.
fn key(c: &CompressedRistretto) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&c.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// `compress(start·G + t·step·G)` for `t` in `0..len`, via additions and one
/// batch compression (the inputs are halves; the batch doubles them back).
fn compressed_progression(
    start: u64,
    step: &Scalar,
    len: usize,
    negate: bool,
) -> Vec<CompressedRistretto> {
    let h = half();
    let mut p = mul_base(&(Scalar::from(start) * h));
    let mut s = mul_base(&(step * h));
    if negate {
        p = -p;
        s = -s;
    }
    let mut halves = Vec::with_capacity(len);
    for _ in 0..len {
        halves.push(p);
        p += s;
    }
    RistrettoPoint::double_and_compress_batch(&halves)
}

/// Finds `x` in `0..bound` with `x·G = target`, or `None`.
///
/// Baby-step giant-step with `m = 2^⌈log2(bound)/2⌉` baby steps (a sorted table
/// of 12-byte entries) and up to `⌈bound/m⌉` giant steps, both batched and run
/// on rayon. **Variable time**: the running time reveals roughly `x/m`; only
/// the party that learns `x` runs it, after its last message.
pub(crate) fn vartime_dlog(target: &RistrettoPoint, bound: u64) -> Option<u64> {
    // The protocol never asks for more than 2^MAX_SUM_BITS; a larger bound
    // would need a baby-step table beyond u32 indices.
    if bound == 0 || bound > 1 << 48 {
        return None;
    }
    let m: u64 = 1 << ceil_log2(bound).div_ceil(2);
    // Baby steps: j·G for j in 0..m.
    let mut table: Vec<(u64, u32)> = (0..m)
        .step_by(BATCH)
        .collect::<Vec<u64>>()
        .into_par_iter()
        .flat_map_iter(|start| {
            let len = (m - start).min(BATCH as u64) as usize;
            compressed_progression(start, &Scalar::ONE, len, false)
                .into_iter()
                .enumerate()
                .map(move |(t, c)| (key(&c), (start + t as u64) as u32))
                .collect::<Vec<_>>()
        })
        .collect();
    table.par_sort_unstable();
    let giants = bound.div_ceil(m);
    let h = half();
    let target_half = target * h;
    let target_c = target.compress();
    (0..giants)
        .step_by(BATCH)
        .collect::<Vec<u64>>()
        .into_par_iter()
        .find_map_any(|start| {
            let len = (giants - start).min(BATCH as u64) as usize;
            // target - (start + t)·m·G, as halves, then doubled by the batch.
            let mut p = target_half - mul_base(&(Scalar::from(start) * Scalar::from(m) * h));
            let step = mul_base(&(Scalar::from(m) * h));
            let mut halves = Vec::with_capacity(len);
            for _ in 0..len {
                halves.push(p);
                p -= step;
            }
            let compressed = RistrettoPoint::double_and_compress_batch(&halves);
            compressed.iter().enumerate().find_map(|(t, c)| {
                let k = key(c);
                let first = table.partition_point(|e| e.0 < k);
                table[first..]
                    .iter()
                    .take_while(|e| e.0 == k)
                    .map(|e| (start + t as u64) * m + u64::from(e.1))
                    .find(|&x| x < bound && mul_base(&Scalar::from(x)).compress() == target_c)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn dlog_finds_small_values_and_nothing_out_of_range() {
        for bound in [1u64, 2, 3, 1000, 1 << 20] {
            for x in [0, 1, bound / 2, bound - 1]
                .into_iter()
                .filter(|&x| x < bound)
            {
                let p = mul_base(&Scalar::from(x));
                assert_eq!(vartime_dlog(&p, bound), Some(x), "x = {x}, bound = {bound}");
            }
            let p = mul_base(&Scalar::from(bound));
            assert_eq!(vartime_dlog(&p, bound), None);
        }
        assert_eq!(vartime_dlog(&mul_base(&-Scalar::ONE), 1 << 16), None);
        assert_eq!(vartime_dlog(&RistrettoPoint::identity(), 0), None);
    }

    #[test]
    fn encryption_is_additive_and_decrypts() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (sk, pk) = SecretKey::generate(&mut rng);
        let values = [0u64, 1, 5, u32::MAX.into()];
        let nonces: Vec<Scalar> = values.iter().map(|_| random_scalar(&mut rng)).collect();
        let cts = pk.encrypt_batch(&values, &nonces);
        let mut sum = Ciphertext::zero();
        for (i, c) in cts.iter().enumerate() {
            let ct = Ciphertext::from_bytes(c, i as u64).unwrap();
            assert_eq!(sk.decrypt_point(&ct), mul_base(&Scalar::from(values[i])));
            sum = sum.add(&ct);
        }
        let sum = pk.add_encrypted(&sum, &Scalar::ZERO, &random_scalar(&mut rng));
        let round = Ciphertext::from_bytes(&sum.to_bytes(), 0).unwrap();
        let total: u64 = values.iter().sum();
        assert_eq!(
            vartime_dlog(&sk.decrypt_point(&round), 1 << 34),
            Some(total)
        );
        let first = Ciphertext::from_bytes(&cts[1], 1).unwrap();
        assert_eq!(first.or_zero(Choice::from(1)), first);
        assert_eq!(first.or_zero(Choice::from(0)), Ciphertext::zero());
        assert!(PublicKey::from_bytes(&[0; 32]).is_err());
        assert!(Ciphertext::from_bytes(&[0xff; 64], 3).is_err());
    }
}
