//! Exponentiation chains and RFC 9496's square root of a ratio, from a
//! backend's field multiplication and squaring.

/// `impl $fe { pow2k, invert, pow_p58, abs, sqrt_ratio_i }` for a field type
/// `$fe` whose lane masks are `$mask`, compiled for `$features`. Expects
/// `mask_or` and `super::constants::SQRT_M1` where it is expanded.
macro_rules! vector_field_powers {
    ($fe:ident, $mask:ty, $features:literal) => {
        impl $fe {
            /// `self^(2^k)`, k ≥ 1.
            #[target_feature(enable = $features)]
            pub(crate) fn pow2k(self, k: u32) -> $fe {
                let mut x = self.square();
                for _ in 1..k {
                    x = x.square();
                }
                x
            }

            /// `(self^(2^250 − 1), self^11)`, the common start of inversion and
            /// the (p − 5)/8 power (the usual chain of 254 squarings and 11
            /// multiplications).
            #[target_feature(enable = $features)]
            fn pow22501(self) -> ($fe, $fe) {
                let x = self;
                let x2 = x.square();
                let x9 = x2.pow2k(2).mul(x);
                let x11 = x9.mul(x2);
                let e5 = x11.square().mul(x9); // 2^5 − 1
                let e10 = e5.pow2k(5).mul(e5);
                let e20 = e10.pow2k(10).mul(e10);
                let e40 = e20.pow2k(20).mul(e20);
                let e50 = e40.pow2k(10).mul(e10);
                let e100 = e50.pow2k(50).mul(e50);
                let e200 = e100.pow2k(100).mul(e100);
                let e250 = e200.pow2k(50).mul(e50);
                (e250, x11)
            }

            /// `self^(p − 2)` = `self^(2^255 − 21)`: the inverse (0 maps to 0).
            #[target_feature(enable = $features)]
            pub(crate) fn invert(self) -> $fe {
                let (e250, x11) = self.pow22501();
                e250.pow2k(5).mul(x11)
            }

            /// `self^((p − 5)/8)` = `self^(2^252 − 3)`.
            #[target_feature(enable = $features)]
            pub(crate) fn pow_p58(self) -> $fe {
                let (e250, _) = self.pow22501();
                e250.pow2k(2).mul(self)
            }

            /// `|self|`: the non-negative one of ±self in each lane.
            #[inline]
            #[target_feature(enable = $features)]
            pub(crate) fn abs(self) -> $fe {
                self.neg_if(self.is_negative())
            }

            /// RFC 9496 SQRT_RATIO_M1(u, v): in each lane `(was_square, r)` with
            /// r the non-negative square root of u/v if u/v is a non-zero square
            /// (or u = 0), else of i·u/v; `was_square` as a lane mask.
            #[target_feature(enable = $features)]
            pub(crate) fn sqrt_ratio_i(u: $fe, v: $fe) -> ($mask, $fe) {
                let sqrt_m1 = $fe::splat(&super::constants::SQRT_M1);
                let v3 = v.square().mul(v);
                let v7 = v3.square().mul(v);
                let mut r = u.mul(v3).mul(u.mul(v7).pow_p58());
                let check = v.mul(r.square());
                let neg_u = u.neg();
                let correct = check.eq(u);
                let flipped = check.eq(neg_u);
                let flipped_i = check.eq(neg_u.mul(sqrt_m1));
                r = r.select(r.mul(sqrt_m1), mask_or(flipped, flipped_i));
                (mask_or(correct, flipped), r.abs())
            }
        }
    };
}

pub(crate) use vector_field_powers;
