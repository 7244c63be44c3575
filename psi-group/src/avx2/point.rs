//! Four points of the Edwards curve at once: the point types and formulas
//! of [`crate::formulas::vector_edwards`] over this backend's field.

use super::field::{Fe4, Mask4};

crate::formulas::vector_edwards!("avx2", Fe4, Mask4, Ep4, Proj4, Completed4, Cached4);
