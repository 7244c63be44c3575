//! `psi-bench primitives`: per-operation cost of the group operations on one
//! core, for every psi-group backend this CPU runs (portable, avx2, ifma8),
//! side by side in one run.

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
    // Rounds alternate the backends so that all see the same machine load;
    // each figure is the median over the rounds.
    let rounds = 5;
    let backends: Vec<(&str, Option<Backend>)> = vec![
        ("portable", Some(Backend::portable())),
        ("avx2", Backend::avx2()),
        ("ifma8", Backend::ifma8()),
    ];
    let mut runs: Vec<Vec<[(f64, f64); 5]>> = vec![Vec::new(); backends.len()];
    for _ in 0..rounds {
        for (b, r) in backends.iter().zip(runs.iter_mut()) {
            if let Some(backend) = b.1 {
                r.push(measure(backend, &inputs, &s));
            }
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
        "n = {n} points, one core, {rounds} alternating rounds, medians; µs per point as CPU time of the thread (wall in brackets); ratio = portable / backend (CPU time)"
    );
    print!("{:<36}", "operation");
    for (name, _) in &backends {
        print!(" {name:>18}");
    }
    println!(" {:>8} {:>8}", "avx2 x", "ifma8 x");
    for (k, name) in names.iter().enumerate() {
        print!("{name:<36}");
        let mut cpu = Vec::new();
        for r in &runs {
            if r.is_empty() {
                print!(" {:>18}", "SKIPPED");
                cpu.push(None);
            } else {
                let (c, w) = (med(r, k, true), med(r, k, false));
                print!(" {c:>8.2} [{w:>7.2}]");
                cpu.push(Some(c));
            }
        }
        for other in &cpu[1..] {
            match (cpu[0], other) {
                (Some(p), Some(o)) => print!(" {:>7.2}x", p / o),
                _ => print!(" {:>8}", "-"),
            }
        }
        println!();
    }
    for ((name, b), needs) in backends.iter().zip(["", "AVX2", "AVX-512 IFMA"]) {
        if b.is_none() {
            println!("{name}: SKIPPED (this CPU lacks {needs})");
        }
    }
}
