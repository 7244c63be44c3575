//! Four points of the Edwards curve −x² + y² = 1 + d·x²·y² at once, in the
//! coordinate systems of Hisil–Wong–Carter–Dawson 2008 ("Twisted Edwards
//! curves revisited", §3 and §4: extended coordinates with the unified,
//! complete addition for a = −1 and non-square d).
//!
//! All formulas take and give normalised field elements (see `field`), so
//! every limb bound they rely on is the one stated there.

use super::constants::D2;
use super::field::{Fe4, Mask4};

/// Extended coordinates (X : Y : Z : T) with x = X/Z, y = Y/Z, T = XY/Z.
#[derive(Clone, Copy)]
pub(crate) struct Ep4 {
    pub(crate) x: Fe4,
    pub(crate) y: Fe4,
    pub(crate) z: Fe4,
    pub(crate) t: Fe4,
}

/// Projective coordinates (X : Y : Z), enough for doubling.
#[derive(Clone, Copy)]
pub(crate) struct Proj4 {
    x: Fe4,
    y: Fe4,
    z: Fe4,
}

/// The "completed" form ((X : Z), (Y : T)) that doubling and addition end in:
/// x = X/Z, y = Y/T.
#[derive(Clone, Copy)]
pub(crate) struct Completed4 {
    x: Fe4,
    y: Fe4,
    z: Fe4,
    t: Fe4,
}

/// A point ready to be added: (Y + X, Y − X, Z, 2d·T).
#[derive(Clone, Copy)]
pub(crate) struct Cached4 {
    y_plus_x: Fe4,
    y_minus_x: Fe4,
    z: Fe4,
    t2d: Fe4,
}

impl Ep4 {
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn identity() -> Ep4 {
        Ep4 {
            x: Fe4::zero(),
            y: Fe4::one(),
            z: Fe4::one(),
            t: Fe4::zero(),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_proj(self) -> Proj4 {
        Proj4 {
            x: self.x,
            y: self.y,
            z: self.z,
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_cached(self) -> Cached4 {
        Cached4 {
            y_plus_x: self.y.add(self.x),
            y_minus_x: self.y.sub(self.x),
            z: self.z,
            t2d: self.t.mul(Fe4::splat(&D2)),
        }
    }

    /// `self + q` (complete: any two points, identity included). HWCD08
    /// §3.1 with k = 2d: A = (Y1−X1)(Y2−X2), B = (Y1+X1)(Y2+X2), C = T1·2d·T2,
    /// D = 2·Z1·Z2; result ((B − A : D + C), (B + A : D − C)).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn add_cached(self, q: &Cached4) -> Completed4 {
        let pp = self.y.add(self.x).mul(q.y_plus_x);
        let mm = self.y.sub(self.x).mul(q.y_minus_x);
        let tt2d = self.t.mul(q.t2d);
        let zz = self.z.mul(q.z);
        let zz2 = zz.add(zz);
        Completed4 {
            x: pp.sub(mm),
            y: pp.add(mm),
            z: zz2.add(tt2d),
            t: zz2.sub(tt2d),
        }
    }
}

impl Proj4 {
    /// `2·self`, HWCD08 §3.3 (dbl-2008-hwcd) for a = −1: with A = X², B = Y²,
    /// the result is (((X+Y)² − (A+B) : 2Z² − (B−A)), (A+B : B−A)).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn double(self) -> Completed4 {
        let xx = self.x.square();
        let yy = self.y.square();
        let zz = self.z.square();
        let zz2 = zz.add(zz);
        let xy2 = self.x.add(self.y).square();
        let yy_plus_xx = yy.add(xx);
        let yy_minus_xx = yy.sub(xx);
        Completed4 {
            x: xy2.sub(yy_plus_xx),
            y: yy_plus_xx,
            z: yy_minus_xx,
            t: zz2.sub(yy_minus_xx),
        }
    }
}

impl Completed4 {
    /// (X·T : Y·Z : Z·T), three multiplications.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_proj(self) -> Proj4 {
        Proj4 {
            x: self.x.mul(self.t),
            y: self.y.mul(self.z),
            z: self.z.mul(self.t),
        }
    }

    /// (X·T : Y·Z : Z·T : X·Y), four multiplications.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn to_extended(self) -> Ep4 {
        Ep4 {
            x: self.x.mul(self.t),
            y: self.y.mul(self.z),
            z: self.z.mul(self.t),
            t: self.x.mul(self.y),
        }
    }

    /// From the four coordinates directly (the Elligator map ends in this form).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn new(x: Fe4, y: Fe4, z: Fe4, t: Fe4) -> Completed4 {
        Completed4 { x, y, z, t }
    }
}

impl Cached4 {
    /// The identity: (1, 1, 1, 0).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn identity() -> Cached4 {
        Cached4 {
            y_plus_x: Fe4::one(),
            y_minus_x: Fe4::one(),
            z: Fe4::one(),
            t2d: Fe4::zero(),
        }
    }

    /// `entry` in the lanes where `mask` is set, else `self` (a blend; no
    /// branch).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn assign_if(&mut self, entry: &Cached4, mask: Mask4) {
        self.y_plus_x = self.y_plus_x.select(entry.y_plus_x, mask);
        self.y_minus_x = self.y_minus_x.select(entry.y_minus_x, mask);
        self.z = self.z.select(entry.z, mask);
        self.t2d = self.t2d.select(entry.t2d, mask);
    }

    /// −self where `mask` is set: −(x, y) = (−x, y) swaps Y+X and Y−X and negates T.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn neg_if(self, mask: Mask4) -> Cached4 {
        Cached4 {
            y_plus_x: self.y_plus_x.select(self.y_minus_x, mask),
            y_minus_x: self.y_minus_x.select(self.y_plus_x, mask),
            z: self.z,
            t2d: self.t2d.neg_if(mask),
        }
    }
}
