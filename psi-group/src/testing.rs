//! Hooks for the differential tests and the fuzz target: every field and
//! group operation of the IFMA backend on plain inputs. Not for protocol
//! code (these functions are slow and their inputs unchecked).

/// Results of every field operation on eight pairs `(a, b)` (canonical
/// little-endian bytes unless said otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldResults {
    /// `a` itself.
    pub a: [[u8; 32]; 8],
    /// `a + b`.
    pub add: [[u8; 32]; 8],
    /// `a − b`.
    pub sub: [[u8; 32]; 8],
    /// `a · b`.
    pub mul: [[u8; 32]; 8],
    /// `a²`.
    pub square: [[u8; 32]; 8],
    /// `−a`.
    pub neg: [[u8; 32]; 8],
    /// `a^(p−2)`.
    pub invert: [[u8; 32]; 8],
    /// `a^((p−5)/8)`.
    pub pow_p58: [[u8; 32]; 8],
    /// SQRT_RATIO_M1(a, b): the was-square lane mask and the root.
    pub sqrt_ratio: (u8, [[u8; 32]; 8]),
    /// Lanes where `a` is negative (odd).
    pub is_negative: u8,
    /// Lanes where `a = b`.
    pub eq: u8,
    /// The canonical form of `a`, through the limb-level path.
    pub canonical: [[u8; 32]; 8],
    /// Whether every result above was normalised (limbs 0..=3 < 2^52, limb 4 < 2^48).
    pub limbs_normalised: bool,
}

/// Results of the group operations on eight pairs of points and one scalar,
/// as ristretto255 encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupResults {
    /// `A + B`.
    pub add: [[u8; 32]; 8],
    /// `2·A`.
    pub double: [[u8; 32]; 8],
    /// `A + identity`.
    pub add_identity: [[u8; 32]; 8],
    /// `s·A`.
    pub mul: [[u8; 32]; 8],
}

/// The IFMA field operations on eight pairs given as radix-2^52 limbs (each
/// made normalised by dropping bits above 52, or 48 for limb 4), or `None`
/// where the CPU lacks IFMA.
pub fn ifma_field_ops(a: &[[u64; 5]; 8], b: &[[u64; 5]; 8]) -> Option<FieldResults> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::dispatch::field_ops(a, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b);
        None
    }
}

/// The IFMA group operations on eight pairs of encodings and a scalar
/// (32 little-endian bytes below 2^255); `None` where the CPU lacks IFMA,
/// `Some(None)` if an encoding is invalid.
pub fn ifma_group_ops(
    a: &[[u8; 32]; 8],
    b: &[[u8; 32]; 8],
    s: &[u8; 32],
) -> Option<Option<GroupResults>> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::dispatch::group_ops(a, b, s)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, s);
        None
    }
}
