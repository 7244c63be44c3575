//! Timing and communication of KKRT through the in-memory driver. Run with
//! `cargo test --release -p psi-core --test kkrt_bench -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use psi_core::driver::run_kkrt;
use psi_core::{Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn measure(log_n: u32) {
    let n = 1u32 << log_n;
    // 50 % overlap, as in the peers' benchmarks.
    let x: Vec<Item> = (0..n).map(|v| Item::from_key(&v.to_be_bytes())).collect();
    let y: Vec<Item> = (n / 2..n + n / 2)
        .map(|v| Item::from_key(&v.to_be_bytes()))
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(log_n));
    let t = Instant::now();
    let run = run_kkrt(&mut rng, x, y, &Limits::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(run.output.matched.len(), n as usize / 2);
    let total = run.client_to_server + run.server_to_client;
    println!(
        "kkrt 2^{log_n} x 2^{log_n}: {secs:.3} s, {} threads, client->server {} B, server->client {} B, total {:.2} MB = {:.1} bits/item",
        rayon::current_num_threads(),
        run.client_to_server,
        run.server_to_client,
        total as f64 / 1e6,
        total as f64 * 8.0 / f64::from(n)
    );
}

#[test]
#[ignore = "benchmark"]
fn kkrt_2_16() {
    measure(16);
}

#[test]
#[ignore = "benchmark"]
fn kkrt_2_20() {
    measure(20);
}

/// Time per protocol phase at 2^20 (no codec), to see where the time goes.
#[test]
#[ignore = "benchmark"]
fn kkrt_phases_2_20() {
    use psi_core::kkrt;
    use std::sync::Arc;
    let n = 1u32 << 20;
    let x: Vec<Item> = (0..n).map(|v| Item::from_key(&v.to_be_bytes())).collect();
    let y: Arc<[Item]> = (n / 2..n + n / 2)
        .map(|v| Item::from_key(&v.to_be_bytes()))
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut t = Instant::now();
    let mut lap = |what: &str| {
        println!("{what:>28}: {:.3} s", t.elapsed().as_secs_f64());
        t = Instant::now();
    };
    let (expect, hello) = kkrt::Receiver::start(&mut rng, x, &Limits::default()).unwrap();
    lap("receiver start (cuckoo)");
    println!("{:>28}: {}", "cuckoo retries", expect.cuckoo_retries());
    let (sh, mut sender) = kkrt::Sender::accept(&mut rng, y, &hello, &Limits::default()).unwrap();
    lap("sender accept (base OT)");
    let mut matrix = expect.receive(sh).unwrap();
    lap("receiver base OT");
    let mut chunks = Vec::new();
    while let Some(c) = matrix.next_chunk() {
        chunks.push(c);
    }
    lap("receiver matrix");
    for c in chunks {
        sender.receive(c).unwrap();
    }
    lap("sender matrix");
    let mut waiting = matrix.finish().unwrap();
    let mut values = sender.finish().unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = values.next_chunk() {
        chunks.push(c);
    }
    lap("sender OPRF values");
    for c in chunks {
        waiting.receive(c).unwrap();
    }
    let out = waiting.finish().unwrap();
    lap("receiver lookups");
    assert_eq!(out.matched.len(), n as usize / 2);
}
