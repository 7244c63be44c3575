//! Hooks for the differential tests and the fuzz target: every field and
//! group operation of the IFMA and AVX2 backends on plain inputs. Not for protocol
//! code (these functions are slow and their inputs unchecked).

/// Results of every field operation on `N` pairs `(a, b)` (canonical
/// little-endian bytes unless said otherwise): eight for ifma8, four for avx2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldResults<const N: usize = 8> {
    /// `a` itself.
    pub a: [[u8; 32]; N],
    /// `a + b`.
    pub add: [[u8; 32]; N],
    /// `a − b`.
    pub sub: [[u8; 32]; N],
    /// `a · b`.
    pub mul: [[u8; 32]; N],
    /// `a²`.
    pub square: [[u8; 32]; N],
    /// `−a`.
    pub neg: [[u8; 32]; N],
    /// `a^(p−2)`.
    pub invert: [[u8; 32]; N],
    /// `a^((p−5)/8)`.
    pub pow_p58: [[u8; 32]; N],
    /// SQRT_RATIO_M1(a, b): the was-square lane mask and the root.
    pub sqrt_ratio: (u8, [[u8; 32]; N]),
    /// Lanes where `a` is negative (odd).
    pub is_negative: u8,
    /// Lanes where `a = b`.
    pub eq: u8,
    /// The canonical form of `a`, through the limb-level path.
    pub canonical: [[u8; 32]; N],
    /// From products left uncarried (`mul_loose`, `square_loose`, as the
    /// point formulas use them): `ab + a²`, `ab − a²`, `2ab + a²`, `2a² − ab`.
    pub loose: [[[u8; 32]; N]; 4],
    /// Whether every result above was normalised (ifma8: limbs 0..=3 < 2^52,
    /// limb 4 < 2^48; avx2: every limb < 2^26 + 2^9), every canonical
    /// form's limbs within their widths (avx2), and every uncarried product
    /// within its bound (ifma8: every limb < 2^57).
    pub limbs_normalised: bool,
}

/// Results of the group operations on `N` pairs of points and one scalar,
/// as ristretto255 encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupResults<const N: usize = 8> {
    /// `A + B`.
    pub add: [[u8; 32]; N],
    /// `2·A`.
    pub double: [[u8; 32]; N],
    /// `A + identity`.
    pub add_identity: [[u8; 32]; N],
    /// `s·A`.
    pub mul: [[u8; 32]; N],
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

/// The AVX2 field operations on four pairs given as radix-2^25.5 limbs
/// (each made normalised by reducing it modulo 2^26 + 2^9, the bound of
/// normalised limbs), or `None` where the CPU lacks AVX2.
pub fn avx2_field_ops(a: &[[u64; 10]; 4], b: &[[u64; 10]; 4]) -> Option<FieldResults<4>> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::dispatch::avx2_field_ops(a, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b);
        None
    }
}

/// The AVX2 group operations on four pairs of encodings and a scalar
/// (32 little-endian bytes below 2^255); `None` where the CPU lacks AVX2,
/// `Some(None)` if an encoding is invalid.
pub fn avx2_group_ops(
    a: &[[u8; 32]; 4],
    b: &[[u8; 32]; 4],
    s: &[u8; 32],
) -> Option<Option<GroupResults<4>>> {
    #[cfg(target_arch = "x86_64")]
    {
        crate::dispatch::avx2_group_ops(a, b, s)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b, s);
        None
    }
}
