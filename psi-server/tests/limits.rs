//! Limits that must hold when a client misbehaves: each test here failed
//! before its fix (issue 12's review defects).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{hello, item, open_session, request, serve};
use psi_core::codec::WIRE_VERSION;
use psi_server::{run_ecdh_client, ClientConfig, PsiServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw POST; returns the status.
async fn post(addr: SocketAddr, path: &str, headers: &str, body: &[u8]) -> u16 {
    request(addr, "POST", path, headers, body).await.status
}

fn version() -> String {
    format!("x-psi-wire-version: {WIRE_VERSION}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_hellos_cannot_pass_the_session_limit() {
    // A large table makes each hello's server side take a while (the shuffle),
    // which is when a check-then-insert limit lets a burst through.
    let config = ServerConfig {
        max_sessions: 2,
        ..Default::default()
    };
    let addr = serve(0..200_000, config).await;
    let burst: Vec<_> = (0..24)
        .map(|_| {
            tokio::spawn(async move { post(addr, "/v1/sessions", &version(), &hello(3)).await })
        })
        .collect();
    let mut opened = 0;
    for b in burst {
        match b.await.unwrap() {
            201 => opened += 1,
            503 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(opened, 2, "{opened} sessions opened with a limit of 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_stops_only_after_a_successful_session() {
    let items = (0..10).map(item).collect();
    let config = ServerConfig {
        max_completed_sessions: Some(1),
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let server = PsiServer::bind("127.0.0.1:0".parse().unwrap(), items, config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = tokio::spawn(server.run_until(std::future::pending()));
    // A session that never finishes is reaped; the server keeps serving.
    assert_eq!(post(addr, "/v1/sessions", &version(), &hello(3)).await, 201);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !handle.is_finished(),
        "the server stopped after a failed session"
    );
    let url = format!("http://{addr}");
    let run = run_ecdh_client(&url, vec![item(3), item(99)], &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(run.output.matched, vec![0]);
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_linkage_hello_leaves_no_linkage_behind() {
    use psi_core::linkage::{Duplicates, KeyColumn};
    let keys = vec![KeyColumn {
        items: (0..10).map(item).collect(),
        row_items: (0..10).collect(),
    }];
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let server = PsiServer::bind_linkage(
        "127.0.0.1:0".parse().unwrap(),
        keys,
        Duplicates::All,
        config,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let mut events = server.linkage_events();
    tokio::spawn(server.run_until(std::future::pending()));
    // Announces more items than the limit: refused by the protocol.
    let headers = format!("{}x-psi-linkage: new\r\n", version());
    let status = post(addr, "/v1/sessions", &headers, &hello(u64::MAX)).await;
    assert_eq!(status, 413);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        events.try_recv().is_err(),
        "a linkage was registered for a refused hello and later reaped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_version_header_is_required() {
    let addr = serve(0..10, ServerConfig::default()).await;
    let body = hello(3);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("x-psi-wire-version"), "{answer}");
    assert_eq!(post(addr, "/v1/sessions", &version(), &hello(3)).await, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_quotas_name_the_limit_and_apply_per_partner() {
    use psi_server::auth::{BearerToken, Tokens};
    use psi_server::{Error, Quotas};
    let mut rng = rand::rng();
    let (alice, line_a) = Tokens::make(&mut rng, "alice").unwrap();
    let (bob, line_b) = Tokens::make(&mut rng, "bob").unwrap();
    let config = ServerConfig {
        tokens: Some(Tokens::parse(&format!("{line_a}\n{line_b}")).unwrap()),
        quotas: Quotas {
            sessions_at_once: Some(1),
            sessions_per_hour: Some(3),
            items_per_day: Some(5),
        },
        ..Default::default()
    };
    let addr = serve(0..10, config).await;
    let url = format!("http://{addr}");
    let as_partner = |t: &str| ClientConfig {
        token: BearerToken::parse(t),
        ..Default::default()
    };
    let three = || vec![item(1), item(2), item(77)];
    let r = run_ecdh_client(&url, three(), &as_partner(&alice))
        .await
        .unwrap();
    assert_eq!(r.output.matched, vec![0, 1]);
    // Three more items would pass alice's five per day.
    let e = run_ecdh_client(&url, three(), &as_partner(&alice))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Peer { status: 429, code, message }
            if code == "quota_exceeded" && message.contains("items per day")),
        "{e}"
    );
    // Bob has a budget of his own; one open session at a time.
    let bob_hello = format!("{}authorization: Bearer {bob}\r\n", version());
    assert_eq!(post(addr, "/v1/sessions", &bob_hello, &hello(1)).await, 201);
    assert_eq!(post(addr, "/v1/sessions", &bob_hello, &hello(1)).await, 429);
}

/// Reads what the server sends until it closes, at most `limit` long.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let addr = serve(
        0..10,
        ServerConfig {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    // Headers that never end.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/sessions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut s, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that never finished its headers was kept open"
    );
    // A hello body that never arrives in full.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nhost: x\r\n{}content-length: 100\r\n\r\n",
        version()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[WIRE_VERSION, 1]).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .expect("a hello body that never arrives was waited for forever");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address() {
    let addr = serve(
        0..10,
        ServerConfig {
            max_connections_per_address: 4,
            ..Default::default()
        },
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut fifth, Duration::from_secs(2))
            .await
            .is_some(),
        "a fifth connection from one address was served"
    );
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("http://{addr}");
    let run = run_ecdh_client(&url, vec![item(3)], &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(run.output.matched, vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_stops_its_upload_at_once() {
    let addr = serve(0..10, ServerConfig::default()).await;
    let token = open_session(addr, "", 3).await;
    // An upload that has started and then waits, its client silent.
    let mut upload = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/sessions/{token}/client-masked HTTP/1.1\r\nhost: x\r\n{}transfer-encoding: chunked\r\n\r\n",
        version()
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The session is aborted from elsewhere.
    let mut abort = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "DELETE /v1/sessions/{token} HTTP/1.1\r\nhost: x\r\n{}content-length: 0\r\nconnection: close\r\n\r\n",
        version()
    );
    abort.write_all(head.as_bytes()).await.unwrap();
    let aborted = read_until_closed(&mut abort, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(aborted.starts_with("HTTP/1.1 200"), "{aborted}");
    // The waiting upload is answered now, not at the idle timeout (120 s).
    let answer = tokio::time::timeout(Duration::from_secs(3), async {
        let mut buf = vec![0u8; 512];
        let n = upload.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .expect("the upload of an ended session kept waiting");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}
