//! The scalar's signed radix-16 digits, shared by the multi-lane backends'
//! fixed-window multiplications.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Signed radix-16 digits `d[i]` with `Σ d[i]·16^i = s`, `d[i] ∈ [−8, 8)` for
/// i < 63 and `d[63] ∈ [−8, 8]`, of a scalar below 2^255 (canonical
/// scalars are below 2^253). Arithmetic only, no branch.
pub(crate) fn radix16(s: &[u8; 32]) -> Zeroizing<[i8; 64]> {
    let mut d = Zeroizing::new([0i8; 64]);
    for (i, b) in s.iter().enumerate() {
        d[2 * i] = (b & 15) as i8;
        d[2 * i + 1] = (b >> 4) as i8;
    }
    for i in 0..63 {
        // d[i] ∈ [0, 16] here (a nibble plus a carry of at most 1).
        let carry = (d[i] + 8) >> 4;
        d[i] -= carry << 4;
        d[i + 1] += carry;
    }
    d
}

/// How one digit d picks its table entry `table[k] = (k + 1)·P`:
/// `hits[k]` is 1 exactly when |d| = k + 1 (none for d = 0), `negative` is
/// 1 when d < 0.
#[derive(Clone, Copy, Default)]
pub(crate) struct Choice {
    pub(crate) hits: [u8; 8],
    pub(crate) negative: u8,
}

impl Zeroize for Choice {
    fn zeroize(&mut self) {
        self.hits.zeroize();
        self.negative.zeroize();
    }
}

/// The [`Choice`]s of the radix-16 digits of `s` (32 little-endian bytes
/// below 2^255): made once per batch, before any vector loop.
pub(crate) fn scalar_choices(s: &[u8; 32]) -> Zeroizing<[Choice; 64]> {
    choices(&radix16(s))
}

/// Each digit's [`Choice`], with `subtle`'s constant-time equality (no
/// branch on a digit). Made in one pass before the vector loop, so that
/// `subtle`'s optimisation barrier, a call, is not inside it.
fn choices(digits: &[i8; 64]) -> Zeroizing<[Choice; 64]> {
    let mut out = Zeroizing::new([Choice::default(); 64]);
    for (c, &d) in out.iter_mut().zip(digits) {
        let sign = d >> 7; // 0 or −1
        let abs = ((d ^ sign).wrapping_sub(sign)) as u8;
        for (k, hit) in c.hits.iter_mut().enumerate() {
            *hit = abs.ct_eq(&(k as u8 + 1)).unwrap_u8();
        }
        c.negative = (sign as u8) & 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{choices, radix16};

    #[test]
    fn choices_pick_the_entry_of_each_digit() {
        let mut digits = [0i8; 64];
        for (i, d) in digits.iter_mut().enumerate() {
            *d = (i as i8 % 17) - 8; // every value in [−8, 8]
        }
        for (c, &d) in choices(&digits).iter().zip(&digits) {
            let want: [u8; 8] = core::array::from_fn(|k| u8::from(d.unsigned_abs() == k as u8 + 1));
            assert_eq!(c.hits, want, "digit {d}");
            assert_eq!(c.negative, u8::from(d < 0), "digit {d}");
        }
    }

    #[test]
    fn radix16_digits_recombine() {
        let mut s = [0u8; 32];
        for (i, b) in s.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(151).wrapping_add(0x88);
        }
        s[31] &= 0x1f;
        let d = radix16(&s);
        // Recombine in base 16 with i128 chunks of 16 digits (64 bits each).
        let mut acc = [0i128; 5];
        for (i, &di) in d.iter().enumerate() {
            assert!((-8..=8).contains(&di));
            acc[i / 16] += i128::from(di) << (4 * (i % 16));
        }
        // Propagate borrows/carries between 64-bit words.
        let mut words = [0u64; 4];
        let mut carry = 0i128;
        for i in 0..4 {
            let v = acc[i] + carry;
            words[i] = v as u64;
            carry = v >> 64;
        }
        assert_eq!(carry + acc[4], 0);
        let mut back = [0u8; 32];
        for i in 0..4 {
            back[8 * i..8 * i + 8].copy_from_slice(&words[i].to_le_bytes());
        }
        assert_eq!(back, s);
    }
}
