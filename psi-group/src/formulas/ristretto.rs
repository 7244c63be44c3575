//! ristretto255's encoding and Elligator map (RFC 9496 §4.3.2 and §4.3.4)
//! on a vector of points, following the RFC's formulas step by step (the
//! same ones curve25519-dalek implements, so the results agree bit for bit;
//! `tests/` checks that). Decoding stays in each backend: it gathers the
//! lanes' validity bits, which the two lane-mask types do differently.

/// Whether 32 bytes are the canonical encoding of a field element (below p,
/// bit 255 clear). Public data only (a peer's encoding): plain comparisons.
pub(crate) fn is_canonical_field(b: &[u8; 32]) -> bool {
    if b[31] & 0x80 != 0 {
        return false;
    }
    // p = 2^255 − 19: 0xed, then thirty 0xff, then 0x7f (little-endian).
    let at_least_p = b[31] == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed;
    !at_least_p
}

/// `encode`, `elligator` and `from_uniform` for `$lanes` points of type
/// `$ep` over the field type `$fe`, compiled for `$features`. Expects the
/// curve constants of RFC 9496 §4.1 and `limbs_of_bytes` where it is
/// expanded.
macro_rules! vector_ristretto {
    ($features:literal, $lanes:literal, $fe:ident, $ep:ident, $completed:ident) => {
        /// RFC 9496 §4.3.2 ENCODE of each lane's point.
        #[target_feature(enable = $features)]
        pub(crate) fn encode(p: &$ep) -> [[u8; 32]; $lanes] {
            let (x0, y0, z0, t0) = (p.x, p.y, p.z, p.t);
            let u1 = z0.add(y0).mul(z0.sub(y0));
            let u2 = x0.mul(y0);
            let (_, invsqrt) = $fe::sqrt_ratio_i($fe::one(), u1.mul(u2.square()));
            let den1 = invsqrt.mul(u1);
            let den2 = invsqrt.mul(u2);
            let z_inv = den1.mul(den2).mul(t0);
            let sqrt_m1 = $fe::splat(&SQRT_M1);
            let ix0 = x0.mul(sqrt_m1);
            let iy0 = y0.mul(sqrt_m1);
            let enchanted = den1.mul($fe::splat(&INVSQRT_A_MINUS_D));
            let rotate = t0.mul(z_inv).is_negative();
            let x = x0.select(iy0, rotate);
            let y = y0.select(ix0, rotate);
            let den_inv = den2.select(enchanted, rotate);
            let y = y.neg_if(x.mul(z_inv).is_negative());
            den_inv.mul(z0.sub(y)).abs().to_bytes()
        }

        /// RFC 9496 §4.3.4 MAP of each lane's field element, in completed form.
        #[target_feature(enable = $features)]
        fn elligator(r0: $fe) -> $completed {
            let one = $fe::one();
            let d = $fe::splat(&D);
            let r = $fe::splat(&SQRT_M1).mul(r0.square());
            let u = r.add(one).mul($fe::splat(&ONE_MINUS_D_SQ));
            let minus_one = one.neg();
            let v = minus_one.sub(r.mul(d)).mul(r.add(d));
            let (was_square, s) = $fe::sqrt_ratio_i(u, v);
            let s_prime = s.mul(r0).abs().neg();
            // Where u/v was not a square: s = −|s·r0| and c = r (else c = −1).
            let s = s_prime.select(s, was_square);
            let c = r.select(minus_one, was_square);
            let n = c.mul(r.sub(one)).mul($fe::splat(&D_MINUS_ONE_SQ)).sub(v);
            let s_sq = s.square();
            $completed::new(
                s.add(s).mul(v),
                one.sub(s_sq),
                n.mul($fe::splat(&SQRT_AD_MINUS_ONE)),
                one.add(s_sq),
            )
        }

        /// RFC 9496 §4.3.4 one-way map of each lane's 64-byte string: MAP of
        /// each half (bit 255 of each half ignored, as the RFC says), then
        /// their sum.
        #[target_feature(enable = $features)]
        pub(crate) fn from_uniform(bytes: &[[u8; 64]; $lanes]) -> $ep {
            let half = |off: usize| {
                bytes.map(|b| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(&b[off..off + 32]);
                    limbs_of_bytes(&h)
                })
            };
            let p1 = elligator($fe::from_limbs(&half(0))).to_extended();
            let p2 = elligator($fe::from_limbs(&half(32))).to_extended();
            p1.add_cached(&p2.to_cached()).to_extended()
        }
    };
}

pub(crate) use vector_ristretto;
