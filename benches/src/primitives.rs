//! `psi-bench primitives`: per-operation cost of the group operations on one
//! core, for every psi-group backend this CPU runs, side by side in one run.

use std::time::Instant;

use psi_group::{Backend, Points, Scalar};
use rand::RngCore;
use rand_core::SeedableRng;

/// Microseconds per item of `f` over `n` items.
fn per_item(n: usize, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// One backend's figures: hash, multiply, compress, fused multiply-and-compress, decompress.
fn measure(backend: Backend, inputs: &[[u8; 64]], s: &Scalar) -> [f64; 5] {
    let n = inputs.len();
    let mut points = Points::from_uniform_bytes(backend, &[]);
    let hash = per_item(n, &mut || {
        points = Points::from_uniform_bytes(backend, inputs)
    });
    let mut multiplied = Points::from_uniform_bytes(backend, &[]);
    let mul = per_item(n, &mut || multiplied = points.mul(s));
    let mut encoded = Vec::new();
    let compress = per_item(n, &mut || encoded = multiplied.compress());
    let mut fused = Vec::new();
    let mul_compress = per_item(n, &mut || fused = points.mul_compress(s));
    assert_eq!(fused, encoded, "mul_compress and mul + compress differ");
    let decompress = per_item(n, &mut || {
        let back = Points::decompress(backend, &encoded).unwrap();
        assert_eq!(back.len(), n);
    });
    [hash, mul, compress, mul_compress, decompress]
}

pub(crate) fn run() {
    println!("{}", crate::machine());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let n = 20_000;
    let mut wide = [0u8; 64];
    let inputs: Vec<[u8; 64]> = (0..n)
        .map(|_| {
            rng.fill_bytes(&mut wide);
            wide
        })
        .collect();
    let s = Scalar::from_bytes_mod_order_wide(&inputs[0]);
    let names = [
        "from_uniform_bytes (hash to group)",
        "variable-base scalar mult",
        "compress",
        "mul_compress (fused, per point)",
        "decompress",
    ];
    let portable = measure(Backend::portable(), &inputs, &s);
    let ifma = Backend::ifma8().map(|b| measure(b, &inputs, &s));
    println!("n = {n} points, one core, µs per point");
    println!(
        "{:<36} {:>10} {:>10} {:>8}",
        "operation", "portable", "ifma8", "ratio"
    );
    for (k, name) in names.iter().enumerate() {
        match ifma {
            Some(f) => println!(
                "{name:<36} {:>10.2} {:>10.2} {:>7.2}x",
                portable[k],
                f[k],
                portable[k] / f[k]
            ),
            None => println!(
                "{name:<36} {:>10.2} {:>10} {:>8}",
                portable[k], "SKIPPED", "-"
            ),
        }
    }
    if ifma.is_none() {
        println!("ifma8: SKIPPED (this CPU lacks AVX-512 IFMA)");
    }
}
