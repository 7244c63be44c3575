//! Constant time of psi-group's avx2 backend, checked with valgrind memcheck
//! (in the manner of Langley's ctgrind): the secret inputs are marked
//! *undefined* with a client request, so memcheck reports every branch
//! ("Conditional jump or move depends on uninitialised value(s)") and every
//! memory address ("Use of uninitialised value") computed from them. Secret
//! here: the scalar of `mul` / `mul_compress`, the 64-byte inputs hashed to
//! the group (a party's own items), and the points and encodings computed
//! from them. The results are marked defined again before they are
//! compared with the portable backend's (that comparison branches).
//!
//! ```text
//! cd psi-group/ctgrind
//! cargo build --release
//! valgrind --error-exitcode=1 --track-origins=yes target/release/psi-group-ctgrind
//! ```
//! `… psi-group-ctgrind --control` also runs curve25519-dalek's
//! *variable-time* multiplication on the undefined scalar, where memcheck
//! must report errors: that shows the check finds a leak where there is one.
//!
//! Valgrind cannot run AVX-512, so the ifma8 backend is not checked this way
//! (its check is the dudect test, `examples/dudect.rs`). Without valgrind the
//! program runs too, and the client requests do nothing.

use crabgrind::memcheck::{mark_mem, MemState};
use psi_group::{Backend, Points, Scalar};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Marks the bytes of `value` as undefined (secret) or defined (public).
fn mark<T>(value: &T, state: MemState) {
    let addr = value as *const T as *mut core::ffi::c_void;
    let _ = mark_mem(addr, core::mem::size_of::<T>(), state);
}

fn main() {
    let Some(avx2) = Backend::avx2() else {
        println!("SKIPPED: this CPU (or valgrind's view of it) lacks AVX2");
        return;
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0xc7);
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let scalar = Scalar::from_bytes_mod_order_wide(&wide);
    // Ten inputs: two groups of four and a partial one.
    let inputs: Vec<[u8; 64]> = (0..10)
        .map(|_| {
            let mut w = [0u8; 64];
            rng.fill_bytes(&mut w);
            w
        })
        .collect();

    // Secret from here on.
    mark(&scalar, MemState::Undefined);
    for i in &inputs {
        mark(i, MemState::Undefined);
    }
    let points = Points::from_uniform_bytes(avx2, &inputs);
    let encoded = points.compress();
    let masked = points.mul_compress(&scalar);
    let multiplied = points.mul(&scalar).compress();

    if std::env::args().any(|a| a == "--control") {
        use psi_group::RistrettoPoint;
        let p = RistrettoPoint::from_uniform_bytes(&[7u8; 64]);
        let r = RistrettoPoint::vartime_double_scalar_mul_basepoint(&scalar, &p, &Scalar::ONE);
        mark(&r, MemState::Defined);
        println!("control: variable-time multiplication ran on the undefined scalar");
    }

    // Public again, to check the results (these comparisons branch).
    mark(&scalar, MemState::Defined);
    for i in &inputs {
        mark(i, MemState::Defined);
    }
    for e in encoded.iter().chain(&masked).chain(&multiplied) {
        mark(e, MemState::Defined);
    }
    let portable = Points::from_uniform_bytes(Backend::portable(), &inputs);
    assert_eq!(
        encoded,
        portable.compress(),
        "from_uniform_bytes + compress"
    );
    assert_eq!(masked, portable.mul_compress(&scalar), "mul_compress");
    assert_eq!(multiplied, masked, "mul + compress");
    println!(
        "avx2: from_uniform_bytes, mul, mul_compress and compress of {} points ran with the secrets undefined; results equal the portable backend's",
        inputs.len()
    );
}
