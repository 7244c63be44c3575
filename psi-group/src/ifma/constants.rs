//! Curve constants in radix 2^52 (normalised, below p). Values are those of
//! curve25519-dalek and RFC 9496 §4.1 (the same square roots); the limbs were
//! computed with Python integers, and `tests/constants.rs`-style checks in
//! `super::tests` recompute each defining equation (for example
//! `SQRT_M1² = −1`) in this crate's own arithmetic.

/// d = −121665/121666.
pub(crate) const D: [u64; 5] = [
    0xb4dca135978a3,
    0x4d4141d8ab75e,
    0x779e89800700a,
    0xfe738cc740797,
    0x052036cee2b6f,
];
/// 2d.
pub(crate) const D2: [u64; 5] = [
    0x69b9426b2f159,
    0x9a8283b156ebd,
    0xef3d13000e014,
    0xfce7198e80f2e,
    0x02406d9dc56df,
];
/// √−1 (the even root, as RFC 9496's SQRT_M1).
pub(crate) const SQRT_M1: [u64; 5] = [
    0xe1b274a0ea0b0,
    0x06ad2fe478c4e,
    0xdfbd7a72f4318,
    0xdf0b2b4d00993,
    0x02b8324804fc1,
];
/// √(a·d − 1) with a = −1.
pub(crate) const SQRT_AD_MINUS_ONE: [u64; 5] = [
    0x7f6a0497b2e1b,
    0x0c1b7854bd7e9,
    0x1f5d1fdaf9d8e,
    0x48ac0f3cfcc93,
    0x0376931bf2b83,
];
/// 1/√(a − d).
pub(crate) const INVSQRT_A_MINUS_D: [u64; 5] = [
    0x8fdaa805d40ea,
    0x175a4172be99c,
    0xe01d8409d2f16,
    0xfca216c27b91f,
    0x0786c8905cfaf,
];
/// 1 − d².
pub(crate) const ONE_MINUS_D_SQ: [u64; 5] = [
    0xc09c1945fc176,
    0x38cd5e350fe27,
    0xe70dfe42c81a1,
    0xe0d79994abddb,
    0x0029072a8b2b3,
];
/// (d − 1)².
pub(crate) const D_MINUS_ONE_SQ: [u64; 5] = [
    0xd5aaa44ed4d20,
    0x2cb01e199931a,
    0x29b4eebd29e4a,
    0x22414cdcd32f5,
    0x05968b37af66c,
];
