//! Constant-time variable-base scalar multiplication of a vector of points
//! by one scalar: a fixed window of 4 bits with signed digits in [−8, 8], 63
//! times four doublings and one addition of a table entry.
//!
//! The scalar is the secret. It decides nothing but which table entry is
//! added, and that entry is found by reading all eight entries and keeping
//! one with a blend whose mask comes from `subtle`'s constant-time equality:
//! no branch and no memory index depends on it. All lanes share the digit,
//! so the mask is the same in every lane.
//!
//! The 64 digits' choices (which entry, which sign, as 0/1 bytes) are all
//! made once per batch, before any vector arithmetic starts
//! ([`crate::digits::scalar_choices`]):
//! `subtle`'s optimisation barrier is a call, and a call inside the loop
//! made the compiler spill and reload every live vector register around it,
//! eight times per window (about a third of the loop's time in `perf`).

/// `select` and `mul` over the point types of [`super::vector_edwards`],
/// compiled for `$features`. Expects `mask_splat` where it is expanded.
macro_rules! vector_scalar_mul {
    ($features:literal, $ep:ident, $completed:ident, $cached:ident) => {
        /// `digit·P` from `table[k] = (k + 1)·P`, reading every entry;
        /// `choice` says which entry (one byte of `hits` is 1, or none for
        /// digit 0) and whether to negate it, as [`crate::digits::scalar_choices`]
        /// made it. No call, no branch, no index depends on it.
        #[inline]
        #[target_feature(enable = $features)]
        fn select(table: &[$cached; 8], choice: &$crate::digits::Choice) -> $cached {
            let mut acc = $cached::identity();
            for (entry, &hit) in table.iter().zip(&choice.hits) {
                acc.assign_if(entry, mask_splat(hit));
            }
            acc.neg_if(mask_splat(choice.negative))
        }

        /// `s·P` in each lane, `s` given by its digits' choices
        /// ([`crate::digits::scalar_choices`], made once per batch).
        #[target_feature(enable = $features)]
        pub(crate) fn mul(p: &$ep, choices: &[$crate::digits::Choice; 64]) -> $ep {
            let p_cached = p.to_cached();
            let mut table = [p_cached; 8];
            table[1] = p.to_proj().double().to_extended().to_cached();
            for k in 2..8 {
                table[k] = p.add_cached(&table[k - 1]).to_extended().to_cached();
            }
            let mut acc: $completed = $ep::identity().add_cached(&select(&table, &choices[63]));
            for i in (0..63).rev() {
                let mut r = acc.to_proj();
                for _ in 0..3 {
                    r = r.double().to_proj();
                }
                let q = r.double().to_extended();
                acc = q.add_cached(&select(&table, &choices[i]));
            }
            acc.to_extended()
        }
    };
}

pub(crate) use vector_scalar_mul;
