//! The one place of this crate with `unsafe`: calling the AVX-512 IFMA code
//! (compiled with `#[target_feature(enable = "avx512f,avx512ifma")]`) and
//! the AVX2 code (`#[target_feature(enable = "avx2")]`) after run-time
//! detection has shown that the CPU has the features. Every call below
//! checks [`ifma_detected`] or [`avx2_detected`] itself, so the `unsafe`
//! blocks rest on a check made right here, not on a promise from a caller.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use crate::{avx2, ifma};

/// Whether this CPU runs the AVX2 backend.
pub(crate) fn avx2_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the IFMA backend (AVX-512 F and IFMA).
pub(crate) fn ifma_detected() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn from_uniform(inputs: &[[u8; 64]]) -> Option<Vec<ifma::Ep8>> {
    // SAFETY: the CPU has avx512f and avx512ifma (checked just before).
    ifma_detected().then(|| unsafe { ifma::from_uniform_batch(inputs) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn decompress(inputs: &[[u8; 32]]) -> Option<Result<Vec<ifma::Ep8>, usize>> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::decompress_batch(inputs) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn mul(points: &[ifma::Ep8], s: &[u8; 32]) -> Option<Vec<ifma::Ep8>> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::mul_batch(points, s) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn mul_double_compress(
    points: &[ifma::Ep8],
    h: &[u8; 32],
    len: usize,
) -> Option<Vec<[u8; 32]>> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::mul_double_compress_batch(points, h, len) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn compress(points: &[ifma::Ep8], len: usize) -> Option<Vec<[u8; 32]>> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::compress_batch(points, len) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn field_ops(
    a: &[[u64; 5]; 8],
    b: &[[u64; 5]; 8],
) -> Option<crate::testing::FieldResults> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::selftest::field_ops(a, b) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn group_ops(
    a: &[[u8; 32]; 8],
    b: &[[u8; 32]; 8],
    s: &[u8; 32],
) -> Option<Option<crate::testing::GroupResults>> {
    // SAFETY: as above.
    ifma_detected().then(|| unsafe { ifma::selftest::group_ops(a, b, s) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_from_uniform(inputs: &[[u8; 64]]) -> Option<Vec<avx2::Ep4>> {
    // SAFETY: the CPU has avx2 (checked just before).
    avx2_detected().then(|| unsafe { avx2::from_uniform_batch(inputs) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_decompress(inputs: &[[u8; 32]]) -> Option<Result<Vec<avx2::Ep4>, usize>> {
    // SAFETY: as above.
    avx2_detected().then(|| unsafe { avx2::decompress_batch(inputs) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_mul(points: &[avx2::Ep4], s: &[u8; 32]) -> Option<Vec<avx2::Ep4>> {
    // SAFETY: as above.
    avx2_detected().then(|| unsafe { avx2::mul_batch(points, s) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_compress(points: &[avx2::Ep4], len: usize) -> Option<Vec<[u8; 32]>> {
    // SAFETY: as above.
    avx2_detected().then(|| unsafe { avx2::compress_batch(points, len) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_field_ops(
    a: &[[u64; 10]; 4],
    b: &[[u64; 10]; 4],
) -> Option<crate::testing::FieldResults<4>> {
    // SAFETY: as above.
    avx2_detected().then(|| unsafe { avx2::selftest::field_ops(a, b) })
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_group_ops(
    a: &[[u8; 32]; 4],
    b: &[[u8; 32]; 4],
    s: &[u8; 32],
) -> Option<Option<crate::testing::GroupResults<4>>> {
    // SAFETY: as above.
    avx2_detected().then(|| unsafe { avx2::selftest::group_ops(a, b, s) })
}
