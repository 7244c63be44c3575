//! Load and abuse, bounded in count and time: real sessions stay correct
//! while idle connections, slow-header clients, garbage and clients killed
//! mid-stream hit the same server, and nothing of them is left behind.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;

use common::{item, open_session, request, serve};
use psi_core::codec::{encode_frame, WIRE_VERSION};
use psi_server::{api, run_ecdh_client, ClientConfig, ServerConfig};
use tokio::io::AsyncWriteExt;

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// Idle connections and slow-header clients the test holds at once.
const IDLE: usize = 1000;
const SLOW_HEADER: usize = 100;

/// Descriptors kept free for everything else in this process: the real
/// sessions' connections (a few each, both ends), garbage, killed clients,
/// `/metrics` requests, the runtime and the test harness.
const SPARE_FDS: u64 = 512;

/// How many idle and slow-header connections fit in this process's
/// open-file limit, after raising its soft limit to the hard limit: each
/// held connection takes two descriptors here (the client's end and the
/// server's). Short of room for all, both shrink in proportion, and the
/// line printed says how many were held and why.
fn connection_budget() -> (usize, usize, String) {
    let before = rlimit::Resource::NOFILE.get().map_or(0, |(soft, _)| soft);
    let raised = rlimit::increase_nofile_limit(u64::MAX);
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap_or((before, 0));
    let limit = if soft > before {
        format!("open-file limit raised from {before} to {soft}")
    } else {
        format!("open-file limit {soft}")
    };
    let room = usize::try_from(soft.saturating_sub(SPARE_FDS) / 2).unwrap_or(usize::MAX);
    let want = IDLE + SLOW_HEADER;
    if room >= want {
        return (IDLE, SLOW_HEADER, limit);
    }
    let slow = room * SLOW_HEADER / want;
    let why = format!(
        "fewer than {IDLE} idle and {SLOW_HEADER} slow-header: {limit} (hard limit {hard}{}), \
         two descriptors per connection and {SPARE_FDS} kept spare",
        raised
            .err()
            .map(|e| format!("; raising it failed: {e}"))
            .unwrap_or_default()
    );
    (room - slow, slow, why)
}

/// A connection this test holds, and when it was connected.
struct Held {
    stream: std::net::TcpStream,
    since: Instant,
}

impl Held {
    /// Whether the server still holds it open: a read would wait rather
    /// than see the end, a reset or an answer.
    fn is_open(&self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.stream.peek(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// Opens `idle` connections that send nothing and `slow` that send half a
/// request line, then hands them over as non-blocking std sockets, so
/// [`Held::is_open`] can look without waiting. They go in batches, each
/// followed by a health request: the server answers it only after accepting
/// every connection queued before it, so the listen queue never overflows
/// (an overflowing queue makes the kernel retry a connect a second later).
async fn hold_connections(addr: SocketAddr, idle: usize, slow: usize) -> Vec<Held> {
    let mut held = Vec::with_capacity(idle + slow);
    for i in 0..idle + slow {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i >= idle {
            stream.write_all(b"POST /v1/sess").await.unwrap();
        }
        held.push(Held {
            stream: stream.into_std().unwrap(),
            since: Instant::now(),
        });
        if i % 100 == 99 {
            let health = request(addr, "GET", api::HEALTH_PATH, "", b"").await;
            assert_eq!(health.status, 200, "{}", health.text);
        }
    }
    held
}

/// Opens a session, starts its upload with part of a frame, then vanishes.
async fn killed_mid_stream(addr: SocketAddr) {
    let token = open_session(addr, "", 10).await;
    let mut up = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/sessions/{token}/client-masked HTTP/1.1\r\nhost: x\r\nx-psi-wire-version: {WIRE_VERSION}\r\ncontent-length: 100000\r\n\r\n"
    );
    up.write_all(head.as_bytes()).await.unwrap();
    let mut frame = Vec::new();
    encode_frame(&[WIRE_VERSION, 3, 0, 0, 0, 10], &mut frame);
    up.write_all(&frame[..7]).await.unwrap();
    drop(up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sessions_stay_correct_under_abuse() {
    let started = Instant::now();
    let (idle_count, slow_count, budget) = connection_budget();
    let held_count = idle_count + slow_count;
    let server_items: Vec<u32> = (0..1000).collect();
    // Room for every held connection and the rest (32 sessions of a few
    // connections each, garbage, killed clients, /metrics), all from one
    // address: nothing this test opens is refused.
    let max_connections = held_count + 500;
    let header_timeout = Duration::from_secs(5);
    let config = ServerConfig {
        max_sessions: 40,
        max_connections,
        max_connections_per_address: max_connections,
        header_timeout,
        idle_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let addr = serve(server_items.iter().copied(), config).await;

    // Idle connections and clients that send half a request line; the
    // server holds every one (none refused) until its header timeout.
    let held = hold_connections(addr, idle_count, slow_count).await;
    let opening = started.elapsed();
    // None is closed before its header timeout: none was refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed_early = held
        .iter()
        .filter(|h| !h.is_open() && h.since.elapsed() < header_timeout)
        .count();
    assert_eq!(
        closed_early, 0,
        "the server refused or closed connections early"
    );
    // Garbage.
    for g in 0..20u8 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let junk: Vec<u8> = (0..200)
            .map(|i: u8| i.wrapping_mul(31).wrapping_add(g))
            .collect();
        let _ = s.write_all(&junk).await;
    }
    // Clients killed mid-stream.
    for _ in 0..4 {
        killed_mid_stream(addr).await;
    }
    // 32 real sessions at once, each with its own set.
    let url = format!("http://{addr}");
    let runs: Vec<_> = (0..32u32)
        .map(|k| {
            let url = url.clone();
            tokio::spawn(async move {
                let client: Vec<u32> = (0..200).map(|i| k * 60 + i * 7).collect();
                let items = client.iter().map(|&v| item(v)).collect();
                let run = run_ecdh_client(&url, items, &ClientConfig::default()).await;
                (client, run)
            })
        })
        .collect();
    let server_set: HashSet<u32> = server_items.iter().copied().collect();
    for r in runs {
        let (client, run) = r.await.unwrap();
        let expected: Vec<usize> = client
            .iter()
            .enumerate()
            .filter(|(_, v)| server_set.contains(v))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(run.unwrap().output.matched, expected);
    }
    // The header timeout closes every held connection.
    let deadline = Instant::now() + header_timeout + Duration::from_secs(5);
    while held.iter().any(Held::is_open) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let outlived = held.iter().filter(|h| h.is_open()).count();
    assert_eq!(outlived, 0, "held connections outlived the header timeout");
    drop(held);
    // The killed clients left no session behind.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut metrics = String::new();
    while Instant::now() < deadline {
        metrics = request(addr, "GET", "/metrics", "", b"").await.text;
        if metrics.contains("psi_open_sessions 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(metrics.contains("psi_open_sessions 0"), "{metrics}");
    assert!(
        metrics.contains(r#"psi_sessions_total{protocol="ecdh-ristretto255",outcome="ok"} 32"#),
        "{metrics}"
    );
    println!(
        "32 sessions correct beside {idle_count} idle, {slow_count} slow-header, 20 garbage and 4 killed clients ({budget}; opened in {:.1} s): {:.1} s, peak RSS {} MB (server and clients in this process)",
        opening.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
}
