//! The formulas the two vector backends share, written once.
//!
//! `ifma8` (eight lanes of `__m512i`, radix 2^52) and `avx2` (four lanes of
//! `__m256i`, radix 2^25.5) differ in their field arithmetic and their lane
//! masks, and in nothing above that: the exponentiation chains, the Edwards
//! point formulas, the fixed-window scalar multiplication and ristretto255's
//! encoding and Elligator map are the same sequence of field operations.
//! Each is a macro here that a backend expands in its own module, so the
//! code is compiled with that backend's `#[target_feature]`s (a generic
//! function over a field trait could not be: calling the backends'
//! `#[target_feature]` functions from code compiled without the features
//! would need `unsafe` and would stop them from being inlined).
//!
//! What a backend provides where it expands them, by name: its field type
//! (`add`, `sub`, `neg`, `mul`, `square`, `select`, `neg_if`, `eq`,
//! `is_negative`, `splat`, `zero`, `one`, `from_limbs`, `to_bytes`), its
//! lane-mask type with `mask_or(a, b)` and `mask_splat(bit)` (every lane
//! set when bit 0 of `bit` is), and its curve constants (`D`, `D2`,
//! `SQRT_M1`, …). Every limb bound the formulas rely on is the field's
//! invariant, stated in each backend's `field.rs`: all field operations take
//! and give normalised elements.
//!
//! Constant time: nothing here branches on or indexes memory by a value;
//! the scalar's digits choose table entries through blends of every entry,
//! and per-lane choices are mask blends.

mod edwards;
mod field;
mod ristretto;
mod scalar_mul;

pub(crate) use edwards::vector_edwards;
pub(crate) use field::vector_field_powers;
pub(crate) use ristretto::{is_canonical_field, vector_ristretto};
pub(crate) use scalar_mul::vector_scalar_mul;
