//! Shared by the differential tests: the number of cases and the SKIPPED notice.

/// Cases per differential test: `PSI_GROUP_CASES` if set (the long run sets
/// 10^7), else 10^4.
pub fn cases() -> usize {
    std::env::var("PSI_GROUP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Whether the IFMA backend runs here; prints SKIPPED if not.
pub fn ifma_or_skip(test: &str) -> bool {
    if psi_group::Backend::ifma8().is_some() {
        true
    } else {
        println!("SKIPPED: {test}: this CPU lacks AVX-512 IFMA, the ifma8 backend was not tested");
        false
    }
}

/// Whether the AVX2 backend runs here; prints SKIPPED if not.
pub fn avx2_or_skip(test: &str) -> bool {
    if psi_group::Backend::avx2().is_some() {
        true
    } else {
        println!("SKIPPED: {test}: this CPU lacks AVX2, the avx2 backend was not tested");
        false
    }
}
