//! Eight points of the Edwards curve at once: the point types and formulas
//! of [`crate::formulas::vector_edwards`] over this backend's field.

use core::arch::x86_64::__mmask8;

use super::field::Fe8;

crate::formulas::vector_edwards!(
    "avx512f,avx512ifma",
    Fe8,
    __mmask8,
    Ep8,
    Proj8,
    Completed8,
    Cached8
);
