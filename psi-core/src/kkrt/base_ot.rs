//! Base OTs: Chou and Orlandi, "The Simplest Protocol for Oblivious Transfer"
//! (LATINCRYPT 2015, Figure 1), on ristretto255, `k` = [`CODE_BITS`] of them in
//! one round each way.
//!
//! ```text
//! OT sender (PSI receiver)                 OT receiver (PSI sender), choices s ∈ {0,1}^k
//!   a ← Z_ℓ, A = a·G            ─────▶
//!                               ◀─────     b_i ← Z_ℓ, B_i = b_i·G + s_i·A
//!   m_{i,0} = H(i, A, B_i, a·B_i)           m_{i,s_i} = H(i, A, B_i, b_i·A)
//!   m_{i,1} = H(i, A, B_i, a·B_i − a·A)
//! ```
//!
//! `H` is SHA-256 with a domain-separation tag and the session id, cut to 128
//! bits (the seed of one column's PRG). Semi-honest security under CDH in the
//! random-oracle model (the hash includes `A` and `B_i`, as later analyses of the
//! protocol recommend). Everything secret is constant-time: `s_i·A` is a
//! conditional select, scalar multiplications are curve25519-dalek's. The
//! scalars, `s_i·A`, the Diffie–Hellman points and their encodings, and the
//! derived seeds are zeroized (SHA-256's internal buffer is not: `sha2` does
//! not zeroize).

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{ChoiceBits, CODE_BITS};
use crate::codec::POINT_LEN;
use crate::Error;

/// One 128-bit OT message (a PRG seed).
pub(crate) type Seed = [u8; 16];

/// The OT sender's secret `a` and its public `A = a·G`.
pub(crate) struct OtSenderSecret {
    a: Scalar,
    big_a: RistrettoPoint,
}

impl Zeroize for OtSenderSecret {
    fn zeroize(&mut self) {
        self.a.zeroize();
    }
}

impl Drop for OtSenderSecret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for OtSenderSecret {}

fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(&mut wide[..]);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn derive(session_id: &[u8; 32], i: usize, a: &[u8; 32], b: &[u8; 32], p: &RistrettoPoint) -> Seed {
    let mut h = Sha256::new();
    h.update(b"psi/kkrt-ot/v1/base-ot\0");
    h.update(session_id);
    h.update((i as u32).to_le_bytes());
    h.update(a);
    h.update(b);
    let mut shared = p.compress();
    h.update(shared.as_bytes());
    shared.zeroize();
    let mut d: [u8; 32] = h.finalize().into();
    let mut seed = [0u8; 16];
    seed.copy_from_slice(&d[..16]);
    d.zeroize();
    seed
}

impl OtSenderSecret {
    /// Draws `a` and returns the secret with the compressed `A` to send.
    pub(crate) fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> (Self, [u8; POINT_LEN]) {
        let a = random_scalar(rng);
        let big_a = &a * RISTRETTO_BASEPOINT_TABLE;
        let compressed = big_a.compress().to_bytes();
        (OtSenderSecret { a, big_a }, compressed)
    }

    /// Both messages of every OT, from the receiver's points `B_i`. A point that
    /// does not decompress is an [`Error::InvalidPoint`] at its index.
    pub(crate) fn messages(
        &self,
        session_id: &[u8; 32],
        b_points: &[[u8; POINT_LEN]],
    ) -> Result<Vec<(Seed, Seed)>, Error> {
        let a_bytes = self.big_a.compress().to_bytes();
        let a_times_a = Zeroizing::new(self.a * self.big_a);
        b_points
            .par_iter()
            .enumerate()
            .map(|(i, b_bytes)| {
                let b = CompressedRistretto(*b_bytes)
                    .decompress()
                    .ok_or(Error::InvalidPoint { index: i as u64 })?;
                // The Diffie–Hellman points a·B_i and a·B_i − a·A.
                let p0 = Zeroizing::new(self.a * b);
                let p1 = Zeroizing::new(*p0 - *a_times_a);
                Ok((
                    derive(session_id, i, &a_bytes, b_bytes, &p0),
                    derive(session_id, i, &a_bytes, b_bytes, &p1),
                ))
            })
            .collect()
    }
}

/// The points `B_i` to send and the chosen messages `m_{i,s_i}`.
pub(crate) type OtReceived = (Vec<[u8; POINT_LEN]>, Zeroizing<Vec<Seed>>);

/// The OT receiver's step: for choice bits `s`, the points `B_i` to send and the
/// chosen messages `m_{i,s_i}`. `a_point` is the sender's `A`; one that does not
/// decompress or is the identity is an [`Error::InvalidPoint`] at index 0.
pub(crate) fn receive<R: CryptoRng + ?Sized>(
    rng: &mut R,
    session_id: &[u8; 32],
    a_point: &[u8; POINT_LEN],
    choices: &ChoiceBits,
) -> Result<OtReceived, Error> {
    let big_a = CompressedRistretto(*a_point)
        .decompress()
        .ok_or(Error::InvalidPoint { index: 0 })?;
    if big_a == RistrettoPoint::identity() {
        return Err(Error::InvalidPoint { index: 0 });
    }
    let scalars: Vec<Zeroizing<Scalar>> = (0..CODE_BITS)
        .map(|_| Zeroizing::new(random_scalar(rng)))
        .collect();
    let mut out: Vec<([u8; POINT_LEN], Seed)> = scalars
        .par_iter()
        .enumerate()
        .map(|(i, b)| {
            // s_i·A (it would reveal s_i) and the Diffie–Hellman point b_i·A
            // are zeroized; B_i is public.
            let chosen = Zeroizing::new(RistrettoPoint::conditional_select(
                &RistrettoPoint::identity(),
                &big_a,
                choices.choice(i),
            ));
            let big_b = &**b * RISTRETTO_BASEPOINT_TABLE + *chosen;
            let b_bytes = big_b.compress().to_bytes();
            let shared = Zeroizing::new(**b * big_a);
            let key = derive(session_id, i, a_point, &b_bytes, &shared);
            (b_bytes, key)
        })
        .collect();
    let points = out.iter().map(|(p, _)| *p).collect();
    let keys = Zeroizing::new(out.iter().map(|(_, k)| *k).collect::<Vec<Seed>>());
    out.zeroize();
    Ok((points, keys))
}

impl ChoiceBits {
    /// Bit `i` as a [`Choice`].
    pub(crate) fn choice(&self, i: usize) -> Choice {
        Choice::from(((self.0[i / 64] >> (i % 64)) & 1) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn receiver_gets_the_chosen_message_only() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(42);
        let sid = [5u8; 32];
        let choices = ChoiceBits::random(&mut rng);
        let (sender, a) = OtSenderSecret::new(&mut rng);
        let (bs, chosen) = receive(&mut rng, &sid, &a, &choices).unwrap();
        let pairs = sender.messages(&sid, &bs).unwrap();
        assert_eq!(pairs.len(), CODE_BITS);
        for (i, ((m0, m1), mc)) in pairs.iter().zip(chosen.iter()).enumerate() {
            let bit = choices.bit(i);
            assert_eq!(mc, if bit == 1 { m1 } else { m0 }, "OT {i}");
            assert_ne!(mc, if bit == 1 { m0 } else { m1 }, "OT {i}");
        }
        // Both choices occur.
        assert!((0..CODE_BITS).any(|i| choices.bit(i) == 0));
        assert!((0..CODE_BITS).any(|i| choices.bit(i) == 1));
    }

    #[test]
    fn bad_points_are_errors() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(43);
        let choices = ChoiceBits::random(&mut rng);
        assert_eq!(
            receive(&mut rng, &[0; 32], &[0xff; 32], &choices).unwrap_err(),
            Error::InvalidPoint { index: 0 }
        );
        // The identity (all-zero encoding) is refused as A.
        assert_eq!(
            receive(&mut rng, &[0; 32], &[0; 32], &choices).unwrap_err(),
            Error::InvalidPoint { index: 0 }
        );
        let (sender, a) = OtSenderSecret::new(&mut rng);
        let (mut bs, _) = receive(&mut rng, &[0; 32], &a, &choices).unwrap();
        bs[7] = [0xff; 32];
        assert_eq!(
            sender.messages(&[0; 32], &bs).unwrap_err(),
            Error::InvalidPoint { index: 7 }
        );
    }
}
