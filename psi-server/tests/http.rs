//! The server and client over real sockets on 127.0.0.1, port 0.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use psi_core::codec::{encode_frame, Codec, Protocol, WIRE_VERSION};
use psi_core::Item;
use psi_server::{run_ecdh_client, run_kkrt_client, ClientConfig, Error, PsiServer, ServerConfig};

mod common;

use common::{hello, item};

async fn start(
    server_items: &[u32],
    config: ServerConfig,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let items = server_items.iter().map(|&v| item(v)).collect();
    let server = PsiServer::bind("127.0.0.1:0".parse().unwrap(), items, config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = tokio::spawn(async move {
        server.run_until(std::future::pending()).await.unwrap();
    });
    (addr, handle)
}

fn expected(client: &[u32], server: &[u32]) -> Vec<usize> {
    let s: HashSet<u32> = server.iter().copied().collect();
    client
        .iter()
        .enumerate()
        .filter(|(_, v)| s.contains(v))
        .map(|(i, _)| i)
        .collect()
}

async fn run(addr: SocketAddr, client: &[u32]) -> Result<psi_server::ClientRun, Error> {
    let config = ClientConfig {
        chunk_items: 1000,
        ..Default::default()
    };
    run_ecdh_client(
        &format!("http://{addr}"),
        client.iter().map(|&v| item(v)).collect(),
        &config,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_equal_the_plaintext_intersection() {
    let server: Vec<u32> = (1000..6000).collect();
    let (addr, _h) = start(&server, ServerConfig::default()).await;
    for client in [
        vec![],
        vec![1500],
        vec![7],
        (0..2500).collect::<Vec<u32>>(),
        (3000..3010).collect(),
        server.clone(),
    ] {
        let r = run(addr, &client).await.unwrap();
        assert_eq!(r.output.matched, expected(&client, &server));
        assert_eq!(r.output.server_set_size, server.len() as u64);
        assert!(r.traffic.bytes_received >= server.len() as u64 * 32);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_server_set_and_concurrent_sessions() {
    let (addr, _h) = start(&[], ServerConfig::default()).await;
    let r = run(addr, &[1, 2, 3]).await.unwrap();
    assert!(r.output.matched.is_empty());

    let server: Vec<u32> = (0..3000).collect();
    let (addr, _h) = start(&server, ServerConfig::default()).await;
    let clients: Vec<Vec<u32>> = (0..3u32)
        .map(|k| (k * 1000..k * 1000 + 2500).collect())
        .collect();
    let runs = futures_join(addr, clients.clone()).await;
    for (client, r) in clients.iter().zip(runs) {
        assert_eq!(r.unwrap().output.matched, expected(client, &server));
    }
}

async fn futures_join(
    addr: SocketAddr,
    clients: Vec<Vec<u32>>,
) -> Vec<Result<psi_server::ClientRun, Error>> {
    let handles: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(async move { run(addr, &c).await }))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_stops_after_one_session_and_emits_an_event() {
    let items = (0..100u32).map(item).collect();
    let config = ServerConfig {
        max_completed_sessions: Some(1),
        ..Default::default()
    };
    let server = PsiServer::bind("127.0.0.1:0".parse().unwrap(), items, config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut events = server.events();
    let handle = tokio::spawn(server.run_until(std::future::pending()));
    let r = run(addr, &[5, 500]).await.unwrap();
    assert_eq!(r.output.matched, vec![0]);
    let event = events.recv().await.unwrap();
    assert_eq!(event.client_set_size, 2);
    assert!(event.outcome.is_ok());
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("server stops after one session")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_on_signal() {
    let server = PsiServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        vec![item(1)],
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = run_ecdh_client(
        &format!("127.0.0.1:{port}"),
        vec![item(1)],
        &ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
}

/// Sends one raw HTTP/1.1 request (with the wire version unless `headers`
/// set their own); returns (status, body).
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    let a = common::request(addr, method, path, headers, body).await;
    (a.status, a.body().to_string())
}

/// Opens a session with a raw hello; returns its token.
async fn open_session(addr: SocketAddr, set_size: u64) -> String {
    common::open_session(addr, "", set_size).await
}

/// Opens a session with the hello `body`; returns its token.
async fn open_session_with(addr: SocketAddr, body: Vec<u8>) -> String {
    let a = common::request(addr, "POST", "/v1/sessions", "", &body).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.header("x-psi-session").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_errors() {
    let (addr, _h) = start(&[1, 2, 3], ServerConfig::default()).await;

    let (status, body) = raw(addr, "GET", "/v1/health", "", b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"wire_version\":2"), "{body}");

    let mut other = hello(1);
    other[0] = 9;
    let (status, body) = raw(addr, "POST", "/v1/sessions", "", &other).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("unsupported_version") && body.contains("version 9"),
        "{body}"
    );

    let (status, body) = raw(
        addr,
        "POST",
        "/v1/sessions",
        "x-psi-wire-version: 7\r\n",
        &hello(1),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("unsupported_version"), "{body}");

    let (status, body) = raw(addr, "POST", "/v1/sessions", "", &[WIRE_VERSION, 2, 3]).await;
    assert_eq!(status, 400);
    assert!(body.contains("malformed_message"), "{body}");

    let (status, _) = raw(addr, "POST", "/v1/sessions", "", &vec![0u8; 5000]).await;
    assert_eq!(status, 413);

    let (status, body) = raw(addr, "GET", "/v1/sessions/nope/server-masked", "", b"").await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown_session"), "{body}");

    let (status, _) = raw(addr, "GET", "/v1/elsewhere", "", b"").await;
    assert_eq!(status, 404);
    // 405 names what the path takes (RFC 9110's Allow).
    let a = common::request(addr, "DELETE", "/v1/health", "", b"").await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow").as_deref(), Some("GET"), "{}", a.text);
    let a = common::request(addr, "TRACE", "/v1/sessions", "", b"").await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow").as_deref(), Some("POST"), "{}", a.text);

    // An invalid point in the upload.
    let token = open_session(addr, 1).await;
    for (method, path, allow) in [
        ("PUT", format!("/v1/sessions/{token}"), "GET, DELETE"),
        ("PUT", format!("/v1/sessions/{token}/server-masked"), "GET"),
        ("GET", format!("/v1/sessions/{token}/client-masked"), "PUT"),
    ] {
        let a = common::request(addr, method, &path, "", b"").await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
    let mut chunk = vec![WIRE_VERSION, 3];
    chunk.extend_from_slice(&1u32.to_be_bytes());
    chunk.extend_from_slice(&[0xff; 32]);
    let mut framed = Vec::new();
    encode_frame(&chunk, &mut framed);
    let path = format!("/v1/sessions/{token}/client-masked");
    let (status, body) = raw(addr, "PUT", &path, "", &framed).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_point"), "{body}");
    // The failed session is gone.
    let (status, _) = raw(addr, "PUT", &path, "", &framed).await;
    assert_eq!(status, 404);

    // A frame length above the limit is refused before anything is allocated.
    let token = open_session(addr, 1).await;
    let path = format!("/v1/sessions/{token}/client-masked");
    let (status, body) = raw(addr, "PUT", &path, "", &u32::MAX.to_be_bytes()).await;
    assert_eq!(status, 413);
    assert!(body.contains("frame length"), "{body}");

    // Fewer points than announced.
    let token = open_session(addr, 5).await;
    let path = format!("/v1/sessions/{token}/client-masked");
    let (status, body) = raw(addr, "PUT", &path, "", b"").await;
    assert_eq!(status, 400);
    assert!(body.contains("unexpected_count"), "{body}");

    // A second request for the same stream.
    let token = open_session(addr, 1).await;
    let path = format!("/v1/sessions/{token}/server-masked");
    let (status, _) = raw(addr, "GET", &path, "", b"").await;
    assert_eq!(status, 200);
    let (status, body) = raw(addr, "GET", &path, "", b"").await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_answers_busy() {
    let config = ServerConfig {
        max_sessions: 1,
        ..Default::default()
    };
    let (addr, _h) = start(&[1], config).await;
    let _first = open_session(addr, 1).await;
    let (status, body) = raw(addr, "POST", "/v1/sessions", "", &hello(1)).await;
    assert_eq!(status, 503);
    assert!(body.contains("busy"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_dropped() {
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, _h) = start(&[1], config).await;
    let token = open_session(addr, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = raw(
        addr,
        "GET",
        &format!("/v1/sessions/{token}/server-masked"),
        "",
        b"",
    )
    .await;
    assert_eq!(status, 404);
}

async fn run_kkrt(addr: SocketAddr, client: &[u32]) -> Result<psi_server::ClientRun, Error> {
    run_kkrt_client(
        &format!("http://{addr}"),
        client.iter().map(|&v| item(v)).collect(),
        &ClientConfig::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkrt_results_equal_the_plaintext_intersection() {
    let server: Vec<u32> = (1000..6000).collect();
    let (addr, _h) = start(&server, ServerConfig::default()).await;
    for client in [
        vec![],
        vec![1500],
        vec![7],
        (0..2500).collect::<Vec<u32>>(),
        (3000..3010).collect(),
        // More than one matrix chunk (8192 rows) and one value chunk.
        (0..20_000).collect(),
        server.clone(),
    ] {
        let r = run_kkrt(addr, &client).await.unwrap();
        assert_eq!(r.output.matched, expected(&client, &server));
        assert_eq!(r.output.server_set_size, server.len() as u64);
        // The sender's values: at least 3 tags of 8+ bytes per server item.
        assert!(r.traffic.bytes_received >= server.len() as u64 * 24);
        let names: Vec<&str> = r.phases.iter().map(|p| p.0).collect();
        assert_eq!(names, ["cuckoo+hello", "base-ot", "matrix", "oprf-values"]);
    }
    // An empty sender set.
    let (addr, _h) = start(&[], ServerConfig::default()).await;
    let r = run_kkrt(addr, &[1, 2, 3]).await.unwrap();
    assert!(r.output.matched.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkrt_and_ecdh_sessions_share_a_server() {
    let server: Vec<u32> = (0..3000).collect();
    let (addr, _h) = start(&server, ServerConfig::default()).await;
    let a: Vec<u32> = (2000..4000).collect();
    let b: Vec<u32> = (2500..2600).collect();
    let (ra, rb) = tokio::join!(run_kkrt(addr, &a), run(addr, &b));
    assert_eq!(ra.unwrap().output.matched, expected(&a, &server));
    assert_eq!(rb.unwrap().output.matched, expected(&b, &server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkrt_streams_in_the_wrong_order_or_place_are_refused() {
    let (addr, _h) = start(&[1, 2, 3], ServerConfig::default()).await;
    let mut rng = rand::rng();
    let items = vec![item(1), item(9)];
    let (_, hello) =
        psi_core::kkrt::Receiver::start(&mut rng, items, &psi_core::Limits::default()).unwrap();
    let token = open_session_with(addr, hello.to_bytes()).await;

    // The values exist only after the whole matrix was uploaded.
    let path = format!("/v1/sessions/{token}/oprf-values");
    let (status, body) = raw(addr, "GET", &path, "", b"").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not_ready"), "{body}");

    // ECDH streams do not exist in a KKRT session.
    for (method, stream) in [("GET", "server-masked"), ("PUT", "client-masked")] {
        let path = format!("/v1/sessions/{token}/{stream}");
        let (status, body) = raw(addr, method, &path, "", b"").await;
        assert!((400..500).contains(&status), "{status} {body}");
        assert!(body.contains("kkrt"), "{body}");
    }

    // A matrix chunk for rows the table does not have.
    let mut framed = Vec::new();
    encode_frame(&[WIRE_VERSION, 0x20, 0, 0], &mut framed);
    let path = format!("/v1/sessions/{token}/matrix");
    let (status, body) = raw(addr, "PUT", &path, "", &framed).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("malformed_message") || body.contains("unexpected"),
        "{body}"
    );
}

async fn start_pjc(
    server_items: &[u32],
    values: Option<Vec<u64>>,
    mode: psi_server::ServeMode,
    min_intersection: u64,
) -> (
    SocketAddr,
    tokio::sync::broadcast::Receiver<psi_server::SessionEvent>,
) {
    let items = server_items.iter().map(|&v| item(v)).collect();
    let config = ServerConfig {
        mode,
        min_intersection,
        ..Default::default()
    };
    let server = PsiServer::bind_with_values("127.0.0.1:0".parse().unwrap(), items, values, config)
        .await
        .unwrap();
    let addr = server.local_addr();
    let events = server.events();
    tokio::spawn(async move {
        server.run_until(std::future::pending()).await.unwrap();
    });
    (addr, events)
}

async fn run_pjc(
    addr: SocketAddr,
    client: &[u32],
    protocol: Protocol,
    min_intersection: u64,
) -> Result<psi_server::PjcRun, Error> {
    let params = psi_core::pjc::Params::new(protocol, min_intersection);
    psi_server::run_pjc_client(
        &format!("http://{addr}"),
        client.iter().map(|&v| item(v)).collect(),
        &params,
        &ClientConfig::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardinality_and_sums_equal_the_plaintext_answers() {
    use psi_core::pjc::{Outcome, SumOutput};
    use psi_server::{PjcOutput, ServeMode};
    let server: Vec<u32> = (1000..6000).collect();
    let values: Vec<u64> = server.iter().map(|&v| u64::from(v % 97) * 1000).collect();
    let sum_of = |client: &[u32]| -> (u64, u64) {
        let c: HashSet<u32> = client.iter().copied().collect();
        let matched: Vec<usize> = (0..server.len())
            .filter(|&i| c.contains(&server[i]))
            .collect();
        (
            matched.len() as u64,
            matched.iter().map(|&i| values[i]).sum(),
        )
    };
    let clients: Vec<Vec<u32>> = vec![
        vec![],
        vec![7],
        (0..2500).collect(),
        (3000..9000).collect(),
        server.clone(),
    ];

    let (addr, _) = start_pjc(&server, None, ServeMode::Cardinality, 1).await;
    for client in &clients {
        let r = run_pjc(addr, client, Protocol::Cardinality, 1)
            .await
            .unwrap();
        let (count, _) = sum_of(client);
        let expected = if count >= 1 {
            Outcome::Released(count)
        } else {
            Outcome::ThresholdNotMet
        };
        assert_eq!(r.output, PjcOutput::Cardinality(expected));
        assert_eq!(r.server_set_size, server.len() as u64);
    }

    let (addr, _) = start_pjc(&server, Some(values.clone()), ServeMode::SumToClient, 1).await;
    for client in &clients {
        let r = run_pjc(addr, client, Protocol::SumToKeyHolder, 1)
            .await
            .unwrap();
        let (count, sum) = sum_of(client);
        let expected = if count >= 1 {
            Outcome::Released(SumOutput { count, sum })
        } else {
            Outcome::ThresholdNotMet
        };
        assert_eq!(r.output, PjcOutput::SumToClient(expected));
    }

    let (addr, mut events) =
        start_pjc(&server, Some(values.clone()), ServeMode::SumToServer, 10).await;
    for client in &clients {
        let r = run_pjc(addr, client, Protocol::SumToValueHolder, 1)
            .await
            .unwrap();
        let (count, sum) = sum_of(client);
        let event = events.recv().await.unwrap();
        assert!(event.outcome.is_ok(), "{:?}", event.outcome);
        // The server's threshold (10) is the larger one: it applies to both.
        if count >= 10 {
            assert_eq!(r.output, PjcOutput::SumToServer(Outcome::Released(count)));
            assert_eq!(event.sum, Some(Outcome::Released(SumOutput { count, sum })));
        } else {
            assert_eq!(r.output, PjcOutput::SumToServer(Outcome::ThresholdNotMet));
            assert_eq!(event.sum, Some(Outcome::ThresholdNotMet));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_only_its_own_mode() {
    use psi_server::ServeMode;
    let (addr, _) = start_pjc(&[1, 2, 3], None, ServeMode::Cardinality, 1).await;
    // An intersection client is refused before any private data moves.
    let e = run(addr, &[1, 2]).await.unwrap_err();
    assert!(
        matches!(&e, Error::Peer { code, .. } if code == "mode_mismatch"),
        "{e}"
    );
    let e = run_pjc(addr, &[1], Protocol::SumToKeyHolder, 1)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("pjc-cardinality"), "{e}");

    // An intersection server refuses a cardinality client.
    let (addr, _h) = start(&[1, 2, 3], ServerConfig::default()).await;
    let e = run_pjc(addr, &[1], Protocol::Cardinality, 1)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("mode_mismatch"), "{e}");

    // A sum server needs values.
    let config = ServerConfig {
        mode: ServeMode::SumToServer,
        ..Default::default()
    };
    assert!(
        PsiServer::bind("127.0.0.1:0".parse().unwrap(), vec![item(1)], config)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_specs_must_agree_before_any_data_moves() {
    use psi_core::codec::KeyDeclaration;
    let declare = |text: &str, fp: u8| KeyDeclaration {
        canonical: text.into(),
        fingerprint: [fp; 32],
    };
    let config = ServerConfig {
        key_spec: Some(declare("e-mail adresse:email@1:gmail", 1)),
        ..Default::default()
    };
    let (addr, _h) = start(&[1, 2, 3], config).await;
    let client = |spec: Option<KeyDeclaration>| ClientConfig {
        key_spec: spec,
        ..Default::default()
    };
    let items = || vec![item(1), item(7)];
    let url = format!("http://{addr}");
    // Same fingerprint, other column names: accepted.
    let r = run_ecdh_client(
        &url,
        items(),
        &client(Some(declare("email:email@1:gmail", 1))),
    )
    .await
    .unwrap();
    assert_eq!(r.output.matched, vec![0]);
    for spec in [Some(declare("e-mail adresse:raw@1", 2)), None] {
        let e = run_ecdh_client(&url, items(), &client(spec))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::KeySpecMismatch { server, .. } if server.contains("email@1:gmail")),
            "{e}"
        );
    }
}

/// One key column from per-row values (0 = no key).
fn key_column(values: &[u32], key: u8) -> psi_core::linkage::KeyColumn {
    let mut col = psi_core::linkage::KeyColumn::default();
    let mut index = std::collections::HashMap::new();
    for &v in values {
        if v == 0 {
            col.row_items.push(psi_core::linkage::NO_KEY);
            continue;
        }
        let next = col.items.len() as u32;
        let i = *index.entry(v).or_insert(next);
        if i == next {
            let mut k = vec![key];
            k.extend_from_slice(&v.to_be_bytes());
            col.items.push(Item::from_key(&k));
        }
        col.row_items.push(i);
    }
    col
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkage_over_sockets_links_the_same_rows_on_both_sides() {
    use psi_core::linkage::{Duplicates, Waterfall};
    use psi_core::linkage::{JoinType, LinkageFinish};
    use psi_server::run_linkage_client;
    // Server: 6 rows, two keys. Key 1 value 10 is on two rows (ambiguous).
    let server_keys = vec![
        key_column(&[10, 10, 11, 12, 0, 13], 1),
        key_column(&[20, 21, 22, 23, 24, 25], 2),
    ];
    let config = ServerConfig {
        max_completed_sessions: Some(1),
        ..Default::default()
    };
    let server = PsiServer::bind_linkage(
        "127.0.0.1:0".parse().unwrap(),
        server_keys,
        Duplicates::All,
        config,
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let mut events = server.linkage_events();
    let handle = tokio::spawn(async move { server.run_until(std::future::pending()).await });
    // Client: row 0 matches server row 2 on key 1; row 1 matches server row 1 on
    // key 2 only (key 1 value 10 is ambiguous on the server); row 2 matches
    // nothing; row 3 has key 1 = 11 too but server row 2 is taken, and key 2 = 25
    // matches server row 5.
    let client = Waterfall::new(
        vec![
            key_column(&[11, 10, 99, 0], 1),
            key_column(&[22, 21, 98, 25], 2),
        ],
        Duplicates::All,
    )
    .unwrap();
    let finish = LinkageFinish {
        join: JoinType::Inner,
        align: true,
        share_result: true,
        client_rows: 0,
        client_unlinked_rows: 0,
    };
    let run = run_linkage_client(
        &format!("http://{addr}"),
        client,
        finish,
        &ClientConfig::default(),
    )
    .await
    .unwrap();
    let event = events.recv().await.unwrap();
    handle.await.unwrap().unwrap();
    assert_eq!(event.outcome, Ok(()));
    let ours: Vec<Option<u16>> = run
        .waterfall
        .links()
        .iter()
        .map(|l| l.map(|l| l.step))
        .collect();
    assert_eq!(ours, vec![Some(0), Some(1), None, Some(1)]);
    let theirs: Vec<Option<u16>> = event.links.iter().map(|l| l.map(|l| l.step)).collect();
    assert_eq!(theirs, vec![None, Some(1), Some(0), None, None, Some(1)]);
    let id = |links: &[Option<psi_core::linkage::Link>], r: usize| links[r].unwrap().id;
    assert_eq!(id(run.waterfall.links(), 0), id(&event.links, 2));
    assert_eq!(id(run.waterfall.links(), 1), id(&event.links, 1));
    assert_eq!(id(run.waterfall.links(), 3), id(&event.links, 5));
    assert_eq!(run.totals.server_rows, 6);
    assert_eq!(run.totals.server_unlinked_rows, 3);
    let finish = event.finish.unwrap();
    assert_eq!((finish.client_rows, finish.client_unlinked_rows), (4, 1));
    // What the server learned of the client per step: the sizes of its offers.
    assert_eq!(event.client_offered, vec![3, 3]);
    assert_eq!(run.server_offered, vec![3, 5]);
}
