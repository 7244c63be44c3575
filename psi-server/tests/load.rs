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
use psi_server::{run_ecdh_client, ClientConfig, ServerConfig};
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
    let server_items: Vec<u32> = (0..1000).collect();
    let config = ServerConfig {
        max_sessions: 40,
        max_connections: 2000,
        max_connections_per_address: 2000,
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let addr = serve(server_items.iter().copied(), config).await;

    // 300 idle connections and 60 clients that send half a request line.
    let mut idle = Vec::new();
    for i in 0..360 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i >= 300 {
            s.write_all(b"POST /v1/sess").await.unwrap();
        }
        idle.push(s);
    }
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
    drop(idle);
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
        "32 sessions correct beside 300 idle, 60 slow-header, 20 garbage and 4 killed clients: {:.1} s, peak RSS {} MB (server and clients in this process)",
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
}
