//! Random identifiers: session and linkage tokens, and the linkage unit's
//! link pseudonyms.

/// A random token for a session or linkage, or a link pseudonym (128 bits, hex).
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
