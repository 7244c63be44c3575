//! Constant-time variable-base scalar multiplication of eight points
//! by one scalar: [`crate::formulas::vector_scalar_mul`] (its doc says how
//! the secret digits choose table entries without a branch or an index).

use super::field::mask_splat;
use super::point::{Cached8, Completed8, Ep8};

crate::formulas::vector_scalar_mul!("avx512f,avx512ifma", Ep8, Completed8, Cached8);
