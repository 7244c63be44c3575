//! Curve constants in radix 2^25.5 (ten limbs of 26, 25, 26, … bits, each
//! below its width, value below p). The values are those of `ifma/constants.rs`
//! (curve25519-dalek's and RFC 9496 §4.1's), re-cut into these limbs with
//! Python integers; the differential tests check every operation that uses
//! them against curve25519-dalek.

/// d = −121665/121666.
pub(crate) const D: [u64; 10] = [
    0x35978a3, 0xd37284, 0x3156ebd, 0x6a0a0e, 0x1c029, 0x179e898, 0x3a03cbb, 0x1ce7198, 0x2e2b6ff,
    0x1480db3,
];
/// 2d.
pub(crate) const D2: [u64; 10] = [
    0x2b2f159, 0x1a6e509, 0x22add7a, 0xd4141d, 0x38052, 0xf3d130, 0x3407977, 0x19ce331, 0x1c56dff,
    0x901b67,
];
/// √−1 (the even root, as RFC 9496's SQRT_M1).
pub(crate) const SQRT_M1: [u64; 10] = [
    0x20ea0b0, 0x186c9d2, 0x8f189d, 0x35697f, 0xbd0c60, 0x1fbd7a7, 0x2804c9e, 0x1e16569, 0x4fc1d,
    0xae0c92,
];
/// √(a·d − 1) with a = −1.
pub(crate) const SQRT_AD_MINUS_ONE: [u64; 10] = [
    0x17b2e1b, 0x1fda812, 0x297afd2, 0x60dbc2, 0x2be7638, 0x1f5d1fd, 0x27e6498, 0x11581e7,
    0x3f2b834, 0xdda4c6,
];
/// 1/√(a − d).
pub(crate) const INVSQRT_A_MINUS_D: [u64; 10] = [
    0x5d40ea, 0x3f6aa0, 0x257d339, 0xbad20b, 0x274bc58, 0x1d840, 0x13dc8ff, 0x19442d8, 0x5cfaff,
    0x1e1b224,
];
/// 1 − d².
pub(crate) const ONE_MINUS_D_SQ: [u64; 10] = [
    0x5fc176, 0x1027065, 0x2a1fc4f, 0x1c66af1, 0xb20684, 0x70dfe4, 0x255eedf, 0x1af332, 0x28b2b3e,
    0xa41ca,
];
/// (d − 1)².
pub(crate) const D_MINUS_ONE_SQ: [u64; 10] = [
    0xed4d20, 0x156aa91, 0x3332635, 0x16580f0, 0x34a7928, 0x9b4eeb, 0x26997a9, 0x48299b, 0x3af66c2,
    0x165a2cd,
];
