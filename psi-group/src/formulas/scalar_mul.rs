//! Constant-time variable-base scalar multiplication of a vector of points
//! by one scalar: a fixed window of 4 bits with signed digits in [−8, 8], 63
//! times four doublings and one addition of a table entry.
//!
//! The scalar is the secret. It decides nothing but which table entry is
//! added, and that entry is found by reading all eight entries and keeping
//! one with a blend whose mask comes from `subtle`'s constant-time equality:
//! no branch and no memory index depends on it. All lanes share the digit,
//! so the mask is the same in every lane.

/// `select` and `mul` over the point types of [`super::vector_edwards`],
/// compiled for `$features`. Expects `mask_splat` where it is expanded.
macro_rules! vector_scalar_mul {
    ($features:literal, $ep:ident, $completed:ident, $cached:ident) => {
        /// `digit·P` from `table[k] = (k + 1)·P`, reading every entry.
        #[inline]
        #[target_feature(enable = $features)]
        fn select(table: &[$cached; 8], digit: i8) -> $cached {
            let sign = digit >> 7; // 0 or −1
            let abs = ((digit ^ sign).wrapping_sub(sign)) as u8;
            let mut acc = $cached::identity();
            for (k, entry) in table.iter().enumerate() {
                let hit = subtle::ConstantTimeEq::ct_eq(&abs, &(k as u8 + 1)).unwrap_u8();
                acc.assign_if(entry, mask_splat(hit));
            }
            acc.neg_if(mask_splat(sign as u8))
        }

        /// `s·P` in each lane, `s` given as 32 little-endian bytes below 2^255.
        #[target_feature(enable = $features)]
        pub(crate) fn mul(p: &$ep, s: &[u8; 32]) -> $ep {
            let digits = $crate::digits::radix16(s);
            let p_cached = p.to_cached();
            let mut table = [p_cached; 8];
            table[1] = p.to_proj().double().to_extended().to_cached();
            for k in 2..8 {
                table[k] = p.add_cached(&table[k - 1]).to_extended().to_cached();
            }
            let mut acc: $completed = $ep::identity().add_cached(&select(&table, digits[63]));
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
    };
}

pub(crate) use vector_scalar_mul;
