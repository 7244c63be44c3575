//! A peer's announced set size is a claim: the states that receive its
//! streams must not reserve memory for it before the items arrive. A hello
//! announcing the limit (2^28 items, 4 GiB of 16-byte tags) followed by a
//! tiny real stream must cost a tiny amount of memory, not a reservation
//! that aborts the process when the allocator refuses it.
//!
//! Measured as the growth of the process's peak virtual size (`VmPeak` in
//! `/proc/self/status`, Linux): a reservation is address space before its
//! pages are touched, so it shows there and not in the resident size. One
//! test in this binary, so no other test allocates meanwhile.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use psi_core::codec::{Protocol, ServerHello};
use psi_core::driver::{run_cardinality, run_ecdh};
use psi_core::pjc::{Counter, Params, Responder};
use psi_core::{ecdh, Error, Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The peak virtual size of this process, in bytes (Linux only).
fn vm_peak() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn items(n: u32) -> Vec<Item> {
    (0..n).map(|v| Item::from_key(&v.to_be_bytes())).collect()
}

/// Far below what the announced size would reserve (2^28 × 16 B = 4 GiB).
const ALLOWED_GROWTH: u64 = 256 << 20;

#[test]
fn a_hello_at_the_limit_with_a_tiny_stream_reserves_no_memory_up_front() {
    let Some(_) = vm_peak() else {
        eprintln!("SKIPPED: no /proc/self/status on this system");
        return;
    };
    let limits = Limits::default();
    let announced = limits.max_set_size;
    assert_eq!(announced, 1 << 28);
    let mut rng = ChaCha20Rng::seed_from_u64(7);

    // Warm up: whole runs of both protocols start the thread pool and the
    // allocator's per-thread arenas, which are address space too.
    run_ecdh(&mut rng, items(50), items(60), &limits).unwrap();
    let params = Params::new(Protocol::Cardinality, 0);
    run_cardinality(&mut rng, items(50), items(60), 0, &limits).unwrap();
    let before = vm_peak().unwrap();

    // ECDH: the client takes a server hello announcing 2^28 items, then the
    // server's real stream of 3.
    let (client, client_hello) = ecdh::Client::start(&mut rng, items(3), &limits).unwrap();
    let (real_hello, mut server) =
        ecdh::Server::accept(&mut rng, items(3).into(), &client_hello, &limits).unwrap();
    let streams = client
        .receive(ServerHello {
            set_size: announced,
            ..real_hello
        })
        .unwrap();
    let mut server_set = streams.server_set;
    while let Some(chunk) = server.masker.next_chunk() {
        server_set.receive(chunk).unwrap();
    }
    check_growth("ECDH client", before);

    // PJC: the responder takes a counter hello announcing 2^28 items, then
    // the counter's real stream of 3.
    let (counter, counter_hello) = Counter::start(&mut rng, items(3), &params, &limits).unwrap();
    let mut counter_hello = counter_hello;
    counter_hello.set_size = announced;
    let (responder_hello, mut responder) = Responder::accept(
        &mut rng,
        Arc::from(items(3)),
        None,
        &params,
        counter_hello,
        &limits,
    )
    .unwrap();
    let mut counter = counter.receive(responder_hello).unwrap();
    while let Some(chunk) = counter.masker.next_chunk() {
        responder.answerer.receive(chunk).unwrap();
    }
    assert_eq!(responder.answerer.received(), 3);
    // The ECDH state is still alive: a reservation here would add to its own.
    check_growth("PJC responder", before);

    // Both streams end short of the announced count.
    assert!(matches!(
        server_set.finish(),
        Err(Error::UnexpectedCount { expected, got: 3, .. }) if expected == announced
    ));
    assert!(responder.answerer.finish().is_err());
}

fn check_growth(state: &str, before: u64) {
    let growth = vm_peak().unwrap().saturating_sub(before);
    eprintln!("{state}: peak virtual size grew by {} KiB", growth >> 10);
    assert!(
        growth < ALLOWED_GROWTH,
        "the {state} reserved {} MiB for an announced set before it arrived",
        growth >> 20
    );
}
