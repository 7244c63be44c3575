//! `psi-bench primitives`: per-operation cost of the group operations on one
//! core, for every psi-group backend this CPU runs, side by side in one run.

use std::time::Instant;

use psi_group::{Backend, Points, Scalar};
use rand::RngCore;
use rand_core::SeedableRng;

/// CPU time of this thread in seconds: the first field of
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU). On a shared machine
/// it counts only the time this thread ran, not the time it waited for a core.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

/// Microseconds per item of `f` over `n` items: (wall, CPU time of this thread).
fn per_item(n: usize, f: &mut dyn FnMut()) -> (f64, f64) {
    let cpu = thread_cpu_seconds();
    let t = Instant::now();
    f();
    (
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        (thread_cpu_seconds() - cpu) * 1e6 / n as f64,
    )
}

/// One backend's figures (wall, CPU): hash, multiply, compress, fused
/// multiply-and-compress, decompress.
fn measure(backend: Backend, inputs: &[[u8; 64]], s: &Scalar) -> [(f64, f64); 5] {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(crate) fn run() {
    println!("{}", crate::machine());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let n = 8_000;
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
    // Rounds alternate the backends so that both see the same machine load;
    // each figure is the median over the rounds.
    let rounds = 5;
    let ifma_backend = Backend::ifma8();
    let (mut portable, mut ifma) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        portable.push(measure(Backend::portable(), &inputs, &s));
        if let Some(b) = ifma_backend {
            ifma.push(measure(b, &inputs, &s));
        }
    }
    let med = |runs: &[[(f64, f64); 5]], k: usize, cpu: bool| {
        median(
            runs.iter()
                .map(|r| if cpu { r[k].1 } else { r[k].0 })
                .collect(),
        )
    };
    println!(
        "n = {n} points, one core, {rounds} alternating rounds, medians; µs per point as CPU time of the thread (wall in brackets)"
    );
    println!(
        "{:<36} {:>18} {:>18} {:>8}",
        "operation", "portable", "ifma8", "ratio"
    );
    for (k, name) in names.iter().enumerate() {
        let (pc, pw) = (med(&portable, k, true), med(&portable, k, false));
        if ifma.is_empty() {
            println!(
                "{name:<36} {pc:>8.2} [{pw:>7.2}] {:>18} {:>8}",
                "SKIPPED", "-"
            );
        } else {
            let (ic, iw) = (med(&ifma, k, true), med(&ifma, k, false));
            println!(
                "{name:<36} {pc:>8.2} [{pw:>7.2}] {ic:>8.2} [{iw:>7.2}] {:>7.2}x",
                pc / ic
            );
        }
    }
    if ifma.is_empty() {
        println!("ifma8: SKIPPED (this CPU lacks AVX-512 IFMA)");
    }
}
