//! Constant-time variable-base scalar multiplication of eight points by one
//! scalar: a fixed window of 4 bits with signed digits in [−8, 8], 63 times
//! four doublings and one addition of a table entry.
//!
//! The scalar is the secret. It decides nothing but which table entry is
//! added, and that entry is found by reading all eight entries and keeping
//! one with a blend whose mask comes from `subtle`'s constant-time equality:
//! no branch and no memory index depends on it. All eight lanes share the
//! digit, so the mask is the same in every lane.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::point::{Cached8, Completed8, Ep8};

/// Signed radix-16 digits `d[i]` with `Σ d[i]·16^i = s`, `d[i] ∈ [−8, 8)` for
/// i < 63 and `d[63] ∈ [−8, 8]`, of a scalar below 2^255 (canonical
/// scalars are below 2^253). Arithmetic only, no branch.
fn radix16(s: &[u8; 32]) -> Zeroizing<[i8; 64]> {
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

/// `digit·P` from `table[k] = (k + 1)·P`, reading every entry.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn select(table: &[Cached8; 8], digit: i8) -> Cached8 {
    let sign = digit >> 7; // 0 or −1
    let abs = ((digit ^ sign).wrapping_sub(sign)) as u8;
    let mut acc = Cached8::identity();
    for (k, entry) in table.iter().enumerate() {
        let hit = abs.ct_eq(&(k as u8 + 1)).unwrap_u8();
        acc.assign_if(entry, 0u8.wrapping_sub(hit));
    }
    acc.neg_if(sign as u8)
}

/// `s·P` in each lane, `s` given as 32 little-endian bytes below 2^255.
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn mul(p: &Ep8, s: &[u8; 32]) -> Ep8 {
    let digits = radix16(s);
    let p_cached = p.to_cached();
    let mut table = [p_cached; 8];
    table[1] = p.to_proj().double().to_extended().to_cached();
    for k in 2..8 {
        table[k] = p.add_cached(&table[k - 1]).to_extended().to_cached();
    }
    let mut acc: Completed8 = Ep8::identity().add_cached(&select(&table, digits[63]));
    for i in (0..63).rev() {
        let mut r = acc.to_proj();
        for _ in 0..3 {
            r = r.double().to_proj();
        }
        let q = r.double().to_extended();
        acc = q.add_cached(&select(&table, digits[i]));
    }
    acc.to_extended()
}

#[cfg(test)]
mod tests {
    use super::radix16;

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
