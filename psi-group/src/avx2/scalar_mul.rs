//! Constant-time variable-base scalar multiplication of four points by one
//! scalar: a fixed window of 4 bits with signed digits in [−8, 8], 63 times
//! four doublings and one addition of a table entry.
//!
//! The scalar is the secret. It decides nothing but which table entry is
//! added, and that entry is found by reading all eight entries and keeping
//! one with a blend whose mask comes from `subtle`'s constant-time equality:
//! no branch and no memory index depends on it. All four lanes share the
//! digit, so the mask is the same in every lane.

use crate::digits::radix16;
use subtle::ConstantTimeEq;

use super::field::mask_splat;
use super::point::{Cached4, Completed4, Ep4};

/// `digit·P` from `table[k] = (k + 1)·P`, reading every entry.
#[inline]
#[target_feature(enable = "avx2")]
fn select(table: &[Cached4; 8], digit: i8) -> Cached4 {
    let sign = digit >> 7; // 0 or −1
    let abs = ((digit ^ sign).wrapping_sub(sign)) as u8;
    let mut acc = Cached4::identity();
    for (k, entry) in table.iter().enumerate() {
        let hit = abs.ct_eq(&(k as u8 + 1)).unwrap_u8();
        acc.assign_if(entry, mask_splat(hit));
    }
    acc.neg_if(mask_splat(sign as u8))
}

/// `s·P` in each lane, `s` given as 32 little-endian bytes below 2^255.
#[target_feature(enable = "avx2")]
pub(crate) fn mul(p: &Ep4, s: &[u8; 32]) -> Ep4 {
    let digits = radix16(s);
    let p_cached = p.to_cached();
    let mut table = [p_cached; 8];
    table[1] = p.to_proj().double().to_extended().to_cached();
    for k in 2..8 {
        table[k] = p.add_cached(&table[k - 1]).to_extended().to_cached();
    }
    let mut acc: Completed4 = Ep4::identity().add_cached(&select(&table, digits[63]));
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
