//! Timing and communication of PSI-cardinality vs PSI-sum through the
//! in-memory driver. Run with
//! `cargo test --release -p psi-core --test pjc_bench -- --ignored --nocapture --test-threads 1`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use psi_core::codec::Protocol;
use psi_core::driver::{run_cardinality, run_sum};
use psi_core::pjc::{Outcome, Params};
use psi_core::{Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn sets(n: u32) -> (Vec<Item>, Vec<Item>, Vec<u64>) {
    // 50 % overlap; values below 2^19 so the total of 2^20 values stays below 2^40.
    let x = (0..n).map(|v| Item::from_key(&v.to_be_bytes())).collect();
    let y = (n / 2..n + n / 2)
        .map(|v| Item::from_key(&v.to_be_bytes()))
        .collect();
    let values = (n / 2..n + n / 2)
        .map(|v| u64::from(v.wrapping_mul(2654435761) >> 13))
        .collect();
    (x, y, values)
}

fn report(what: &str, log_n: u32, secs: f64, up: u64, down: u64) {
    println!(
        "{what} 2^{log_n} x 2^{log_n}: {secs:.2} s, {} threads, key->value {up} B, value->key {down} B, total {:.1} MB",
        rayon::current_num_threads(),
        (up + down) as f64 / 1e6
    );
}

fn measure(log_n: u32) {
    let n = 1u32 << log_n;
    let (x, y, values) = sets(n);
    let expected_sum: u64 = values[..n as usize / 2].iter().sum();
    let mut rng = ChaCha20Rng::seed_from_u64(1);

    let t = Instant::now();
    let run = run_cardinality(&mut rng, x.clone(), y.clone(), 0, &Limits::default()).unwrap();
    let card = t.elapsed().as_secs_f64();
    assert_eq!(run.output, Outcome::Released(u64::from(n / 2)));
    report(
        "cardinality",
        log_n,
        card,
        run.counter_to_responder,
        run.responder_to_counter,
    );

    for protocol in [Protocol::SumToValueHolder, Protocol::SumToKeyHolder] {
        let t = Instant::now();
        let run = run_sum(
            &mut rng,
            x.clone(),
            y.clone(),
            values.clone(),
            &Params::new(protocol, 0),
            &Limits::default(),
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        match run.output {
            Outcome::Released(o) => {
                assert_eq!((o.count, o.sum), (u64::from(n / 2), expected_sum))
            }
            Outcome::ThresholdNotMet => panic!("threshold 0"),
        }
        report(
            protocol.name(),
            log_n,
            secs,
            run.key_holder_to_value_holder,
            run.value_holder_to_key_holder,
        );
        println!("  ratio to cardinality: {:.2}", secs / card);
    }
}

#[test]
#[ignore = "benchmark"]
fn pjc_2_16() {
    measure(16);
}

#[test]
#[ignore = "benchmark"]
fn pjc_2_20() {
    measure(20);
}
