//! Eight or four points of the Edwards curve −x² + y² = 1 + d·x²·y² at
//! once, in the coordinate systems of Hisil–Wong–Carter–Dawson 2008
//! ("Twisted Edwards curves revisited", §3 and §4: extended coordinates
//! with the unified, complete addition for a = −1 and non-square d).
//!
//! All formulas take and give normalised field elements (see each backend's
//! `field`), so every limb bound they rely on is the one stated there; inside
//! a formula, a product that only goes into sums and differences is left
//! uncarried (`mul_loose`, `square_loose`: see each backend's `loose`).

/// The point types `$ep` (extended), `$proj` (projective), `$completed` and
/// `$cached` over the field type `$fe` with lane masks `$mask`, compiled for
/// `$features`. Expects `super::constants::D2` where it is expanded.
macro_rules! vector_edwards {
    (
        $features:literal,
        $fe:ident,
        $mask:ty,
        $ep:ident,
        $proj:ident,
        $completed:ident,
        $cached:ident
    ) => {
        /// Extended coordinates (X : Y : Z : T) with x = X/Z, y = Y/Z, T = XY/Z.
        #[derive(Clone, Copy)]
        pub(crate) struct $ep {
            pub(crate) x: $fe,
            pub(crate) y: $fe,
            pub(crate) z: $fe,
            pub(crate) t: $fe,
        }

        /// Projective coordinates (X : Y : Z), enough for doubling.
        #[derive(Clone, Copy)]
        pub(crate) struct $proj {
            x: $fe,
            y: $fe,
            z: $fe,
        }

        /// The "completed" form ((X : Z), (Y : T)) that doubling and addition end in:
        /// x = X/Z, y = Y/T.
        #[derive(Clone, Copy)]
        pub(crate) struct $completed {
            x: $fe,
            y: $fe,
            z: $fe,
            t: $fe,
        }

        /// A point ready to be added: (Y + X, Y − X, Z, 2d·T).
        #[derive(Clone, Copy)]
        pub(crate) struct $cached {
            y_plus_x: $fe,
            y_minus_x: $fe,
            z: $fe,
            t2d: $fe,
        }

        impl $ep {
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn identity() -> $ep {
                $ep {
                    x: $fe::zero(),
                    y: $fe::one(),
                    z: $fe::one(),
                    t: $fe::zero(),
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn to_proj(self) -> $proj {
                $proj {
                    x: self.x,
                    y: self.y,
                    z: self.z,
                }
            }

            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn to_cached(self) -> $cached {
                $cached {
                    y_plus_x: self.y.add(self.x),
                    y_minus_x: self.y.sub(self.x),
                    z: self.z,
                    t2d: self.t.mul($fe::splat(&super::constants::D2)),
                }
            }

            /// `self + q` (complete: any two points, identity included). HWCD08
            /// §3.1 with k = 2d: A = (Y1−X1)(Y2−X2), B = (Y1+X1)(Y2+X2), C = T1·2d·T2,
            /// D = 2·Z1·Z2; result ((B − A : D + C), (B + A : D − C)).
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn add_cached(self, q: &$cached) -> $completed {
                // The four products go only into sums and differences, which
                // carry them (`mul_loose`; see each backend's `loose`).
                let pp = self.y.add(self.x).mul_loose(q.y_plus_x);
                let mm = self.y.sub(self.x).mul_loose(q.y_minus_x);
                let tt2d = self.t.mul_loose(q.t2d);
                let zz = self.z.mul_loose(q.z);
                $completed {
                    x: pp.sub(mm),
                    y: pp.add(mm),
                    z: zz.double_add(tt2d),
                    t: zz.double_sub(tt2d),
                }
            }
        }

        impl $proj {
            /// `2·self`, HWCD08 §3.3 (dbl-2008-hwcd) for a = −1: with A = X², B = Y²,
            /// the result is (((X+Y)² − (A+B) : 2Z² − (B−A)), (A+B : B−A)).
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn double(self) -> $completed {
                // The four squares go only into sums and differences.
                let xx = self.x.square_loose();
                let yy = self.y.square_loose();
                let zz = self.z.square_loose();
                let xy2 = self.x.add(self.y).square_loose();
                let yy_plus_xx = yy.add(xx);
                let yy_minus_xx = yy.sub(xx);
                $completed {
                    x: xy2.sub(yy_plus_xx.loose()),
                    y: yy_plus_xx,
                    z: yy_minus_xx,
                    t: zz.double_sub(yy_minus_xx.loose()),
                }
            }
        }

        impl $completed {
            /// (X·T : Y·Z : Z·T), three multiplications.
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn to_proj(self) -> $proj {
                $proj {
                    x: self.x.mul(self.t),
                    y: self.y.mul(self.z),
                    z: self.z.mul(self.t),
                }
            }

            /// (X·T : Y·Z : Z·T : X·Y), four multiplications.
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn to_extended(self) -> $ep {
                $ep {
                    x: self.x.mul(self.t),
                    y: self.y.mul(self.z),
                    z: self.z.mul(self.t),
                    t: self.x.mul(self.y),
                }
            }

            /// From the four coordinates directly (the Elligator map ends in this form).
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn new(x: $fe, y: $fe, z: $fe, t: $fe) -> $completed {
                $completed { x, y, z, t }
            }
        }

        impl $cached {
            /// The identity: (1, 1, 1, 0).
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn identity() -> $cached {
                $cached {
                    y_plus_x: $fe::one(),
                    y_minus_x: $fe::one(),
                    z: $fe::one(),
                    t2d: $fe::zero(),
                }
            }

            /// `entry` in the lanes where `mask` is set, else `self` (a blend; no
            /// branch).
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn assign_if(&mut self, entry: &$cached, mask: $mask) {
                self.y_plus_x = self.y_plus_x.select(entry.y_plus_x, mask);
                self.y_minus_x = self.y_minus_x.select(entry.y_minus_x, mask);
                self.z = self.z.select(entry.z, mask);
                self.t2d = self.t2d.select(entry.t2d, mask);
            }

            /// −self where `mask` is set: −(x, y) = (−x, y) swaps Y+X and Y−X and negates T.
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn neg_if(self, mask: $mask) -> $cached {
                $cached {
                    y_plus_x: self.y_plus_x.select(self.y_minus_x, mask),
                    y_minus_x: self.y_minus_x.select(self.y_plus_x, mask),
                    z: self.z,
                    t2d: self.t2d.neg_if(mask),
                }
            }
        }
    };
}

pub(crate) use vector_edwards;
