//! A dudect-style timing test (Reparaz, Balasch, Verbauwhede, "Dude, is my
//! code constant time?", DATE 2017): run an operation on inputs of two
//! classes (one fixed input, fresh random inputs) in random order, time
//! each run, and compare the two timing distributions with Welch's t-test,
//! also after cropping the slowest runs at several percentiles. |t| above
//! 4.5 means the timing depends on the input class: a leak.
//!
//! The secret inputs of the ifma8 and avx2 backends are tested (each where
//! the CPU runs it, SKIPPED otherwise), and the same of the portable
//! backend (curve25519-dalek, whose constant time is audited) as a reference
//! for what this harness reports on this machine: the scalar of the multiplication (fixed 0, the case a naive window code would skip, against
//! random), the points being encoded (the identity, and one fixed random
//! point, against random points) and the bytes hashed to the group (all
//! zero, and one fixed random input, against random). A control
//! runs curve25519-dalek's *variable-time* multiplication the same way, to
//! show that the test finds a leak where there is one, and a negative
//! control runs SHA-512 (constant time) on zero against random bytes, to
//! show that it does not find one where there is none.
//!
//! ```text
//! cargo run --release -p psi-group --example dudect [-- MEASUREMENTS [CHUNK]]
//! ```

use std::time::Instant;

use curve25519_dalek::traits::VartimeMultiscalarMul;
use psi_group::{Backend, Points, RistrettoPoint, Scalar};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha512};

/// Welch's t statistic of two samples.
fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (n - 1.0);
        (n, m, v)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// How many runs one test times, and how many inputs are prepared at a time.
#[derive(Clone, Copy)]
struct Sizes {
    n: usize,
    chunk_len: usize,
}

/// Times `run` on `n` inputs from `prepare(class)` (class chosen at random per
/// run); prints the largest |t| over the crops and whether it passes.
///
/// As in the paper's own harness, the inputs of a chunk are all prepared
/// before any of them is timed: preparing a random input runs the random
/// generator, preparing a fixed one copies it, and timing each run right
/// after its own preparation would let that difference (caches, branch
/// predictors, the generator's buffer refills) show as a difference between
/// the classes. Prepared first, every timed run follows the previous timed
/// run whatever its class.
fn test<I>(
    name: &str,
    Sizes { n, chunk_len }: Sizes,
    rng: &mut ChaCha20Rng,
    mut prepare: impl FnMut(bool, &mut ChaCha20Rng) -> I,
    mut run: impl FnMut(&I),
) -> bool {
    let warm = n / 10; // the first tenth warms up and is dropped
    let mut samples: Vec<(bool, f64)> = Vec::with_capacity(n);
    let mut done = 0;
    while done < n + warm {
        let len = chunk_len.min(n + warm - done);
        let chunk: Vec<(bool, I)> = (0..len)
            .map(|_| {
                let class = rng.next_u32() & 1 == 1;
                (class, prepare(class, rng))
            })
            .collect();
        for (class, input) in &chunk {
            let t = Instant::now();
            run(input);
            let ns = t.elapsed().as_nanos() as f64;
            if done >= warm {
                samples.push((*class, ns));
            }
            done += 1;
        }
    }
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.1).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut worst: f64 = 0.0;
    for pct in [100.0, 99.0, 90.0, 75.0, 50.0] {
        let idx = ((sorted.len() - 1) as f64 * pct / 100.0) as usize;
        let cut = sorted[idx];
        let kept = samples.iter().filter(|s| s.1 <= cut);
        let fixed: Vec<f64> = kept.clone().filter(|s| !s.0).map(|s| s.1).collect();
        let random: Vec<f64> = kept.filter(|s| s.0).map(|s| s.1).collect();
        let t = welch(&fixed, &random);
        if t.abs() > worst.abs() {
            worst = t;
        }
    }
    let pass = worst.abs() < 4.5;
    println!(
        "{name:<52} n = {n:>7}  max |t| = {:>8.2}  {}",
        worst.abs(),
        if pass { "no leak found" } else { "LEAK" }
    );
    pass
}

/// 64 random bytes.
fn random_wide(rng: &mut ChaCha20Rng) -> [u8; 64] {
    let mut w = [0u8; 64];
    rng.fill_bytes(&mut w);
    w
}

/// Eight 64-byte inputs: fresh random ones for the random class, else a copy
/// of `fixed`.
fn wide_inputs(random: bool, rng: &mut ChaCha20Rng, fixed: &[[u8; 64]]) -> Vec<[u8; 64]> {
    if random {
        (0..8).map(|_| random_wide(rng)).collect()
    } else {
        fixed.to_vec()
    }
}

/// Reads argument `i` as a count of at least `min`, or stops with a message
/// naming it.
fn count_arg(i: usize, what: &str, min: usize, default: usize) -> usize {
    let Some(arg) = std::env::args().nth(i) else {
        return default;
    };
    match arg.parse::<usize>() {
        Ok(v) if v >= min => v,
        _ => {
            eprintln!("dudect: {what} must be a whole number of at least {min}, not {arg:?}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let n = Sizes {
        n: count_arg(1, "MEASUREMENTS", 100, 20_000),
        // 1 reproduces a harness that prepares each input right before timing it.
        chunk_len: count_arg(2, "CHUNK", 1, 1000),
    };
    let mut rng = ChaCha20Rng::seed_from_u64(0xd0de);
    let base: Vec<[u8; 64]> = (0..8).map(|_| random_wide(&mut rng)).collect();
    let zero = [[0u8; 64]; 8];
    let random_scalar =
        |rng: &mut ChaCha20Rng| Scalar::from_bytes_mod_order_wide(&random_wide(rng));

    let mut leaking: Vec<&str> = Vec::new();
    let mut tested = Vec::new();
    let backends = [
        ("portable", Some(Backend::portable())),
        ("ifma8", Backend::ifma8()),
        ("avx2", Backend::avx2()),
    ];
    for (name, backend) in backends {
        let Some(backend) = backend else {
            println!("SKIPPED: this CPU cannot run the {name} backend; nothing of it to test");
            continue;
        };
        tested.push(name);
        let mut ok = true;
        let points = Points::from_uniform_bytes(backend, &base);
        ok &= test(
            &format!("{name} mul: scalar 0 vs random scalars"),
            n,
            &mut rng,
            |c, r| if c { random_scalar(r) } else { Scalar::ZERO },
            |s| {
                std::hint::black_box(points.mul(std::hint::black_box(s)));
            },
        );
        // Each against two fixed classes: all zero (the identity, the
        // all-zero bytes), and one fixed random input, which separates an
        // effect of the values' weight from one of fixed against varying.
        for (class, fixed) in [("zero", &zero[..]), ("fixed random", &base[..])] {
            ok &= test(
                &format!("{name} compress: {class} vs random points"),
                n,
                &mut rng,
                |c, r| Points::from_uniform_bytes(backend, &wide_inputs(c, r, fixed)),
                |p| {
                    std::hint::black_box(p.compress());
                },
            );
            ok &= test(
                &format!("{name} from_uniform_bytes: {class} vs random bytes"),
                n,
                &mut rng,
                |c, r| wide_inputs(c, r, fixed),
                |inputs| {
                    std::hint::black_box(Points::from_uniform_bytes(
                        backend,
                        std::hint::black_box(inputs),
                    ));
                },
            );
        }
        if !ok {
            leaking.push(name);
        }
    }
    if tested.is_empty() {
        return;
    }
    let p = RistrettoPoint::from_uniform_bytes(&base[0]);
    let control = test(
        "control: dalek vartime mul, scalar 1 vs random",
        n,
        &mut rng,
        |c, r| if c { random_scalar(r) } else { Scalar::ONE },
        |s| {
            std::hint::black_box(RistrettoPoint::vartime_multiscalar_mul([*s], [p]));
        },
    );
    // A negative control: SHA-512 is constant time in its input's values,
    // so a harness that flags it measures something other than the code.
    let steady = test(
        "negative control: SHA-512, zero vs random bytes",
        n,
        &mut rng,
        |c, r| wide_inputs(c, r, &zero),
        |inputs| {
            for input in std::hint::black_box(inputs) {
                std::hint::black_box(Sha512::digest(input));
            }
        },
    );
    println!(
        "result: {}; control {}; negative control {}",
        if leaking.is_empty() {
            format!("no timing leak found in {}", tested.join(", "))
        } else {
            format!("LEAK in {} (see above)", leaking.join(", "))
        },
        if control {
            "found NO leak (the test is too weak at this n)"
        } else {
            "found its leak (the test works)"
        },
        if steady {
            "passed"
        } else {
            "FLAGGED constant-time code (the harness or the host is not steady enough to trust)"
        }
    );
}
