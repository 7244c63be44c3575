//! The loose-product interface the shared formulas use
//! (`crate::formulas::vector_edwards`): here every product is carried as it
//! is made, so a `Loose4` is simply a normalised `Fe4` and its sums and
//! differences are `Fe4`'s own. (The IFMA backend's `Loose8` is where
//! leaving products uncarried saves work.)

use super::field::Fe4;

/// A normalised element standing in for a not-yet-carried product.
#[derive(Clone, Copy)]
pub(crate) struct Loose4(Fe4);

impl Fe4 {
    /// `self · b` (carried).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn mul_loose(self, b: Fe4) -> Loose4 {
        Loose4(self.mul(b))
    }

    /// `self²` (carried).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn square_loose(self) -> Loose4 {
        Loose4(self.square())
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn loose(self) -> Loose4 {
        Loose4(self)
    }
}

impl Loose4 {
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn add(self, b: Loose4) -> Fe4 {
        self.0.add(b.0)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn sub(self, b: Loose4) -> Fe4 {
        self.0.sub(b.0)
    }

    /// `2·self + b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn double_add(self, b: Loose4) -> Fe4 {
        self.0.add(self.0).add(b.0)
    }

    /// `2·self − b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn double_sub(self, b: Loose4) -> Fe4 {
        self.0.add(self.0).sub(b.0)
    }
}
