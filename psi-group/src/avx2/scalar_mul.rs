//! Constant-time variable-base scalar multiplication of four points
//! by one scalar: [`crate::formulas::vector_scalar_mul`] (its doc says how
//! the secret digits choose table entries without a branch or an index).

use super::field::mask_splat;
use super::point::{Cached4, Completed4, Ep4};

crate::formulas::vector_scalar_mul!("avx2", Ep4, Completed4, Cached4);
