//! What an operator sees: readiness and metrics.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{hello, item, serve};
use psi_core::codec::WIRE_VERSION;
use psi_server::{run_ecdh_client, ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let a = common::request(addr, method, path, "", body).await;
    (a.status, a.body().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics() {
    let addr = serve(
        0..10,
        ServerConfig {
            max_sessions: 1,
            ..Default::default()
        },
    )
    .await;
    let (status, body) = request(addr, "GET", "/v1/ready", b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ready""#), "{body}");

    let url = format!("http://{addr}");
    let run = run_ecdh_client(&url, vec![item(1), item(50)], &ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(run.output.matched, vec![0]);
    let (status, _) = request(addr, "GET", "/v1/sessions/nope/server-masked", b"").await;
    assert_eq!(status, 404);

    // One session open: the server is full.
    let (status, _) = request(addr, "POST", "/v1/sessions", &hello(1)).await;
    assert_eq!(status, 201);
    let (status, body) = request(addr, "GET", "/v1/ready", b"").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""status":"full""#), "{body}");

    // The session ends when the client has all three streams; wait for the event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, text) = request(addr, "GET", "/metrics", b"").await;
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"psi_sessions_total{protocol="ecdh-ristretto255",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"psi_refusals_total{code="unknown_session"} 1"#),
        "{text}"
    );
    assert!(text.contains("psi_open_sessions 1"), "{text}");
    assert!(text.contains("psi_session_seconds_count"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_need_a_partner_token_when_tokens_are_set() {
    let (_, line) = psi_server::auth::Tokens::make(&mut rand::rng(), "ops").unwrap();
    let addr = serve(
        0..10,
        ServerConfig {
            tokens: Some(psi_server::auth::Tokens::parse(&line).unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(request(addr, "GET", "/metrics", b"").await.0, 401);
    assert_eq!(request(addr, "GET", "/v1/ready", b"").await.0, 401);
    assert_eq!(request(addr, "GET", "/v1/health", b"").await.0, 200);
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{token}", "t0k3n").replace("{id}", "l1nk")
}

#[test]
fn the_openapi_description_and_the_router_agree_both_ways() {
    use psi_core::schedule;
    use psi_server::api::{self, Route};
    let doc: serde_json::Value = serde_json::from_str(api::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["info"]["version"], WIRE_VERSION.to_string());
    let paths = doc["paths"].as_object().unwrap();
    // Every documented route is real, with the method the router takes.
    for (path, ops) in paths {
        let concrete = concrete(path);
        let route = Route::parse(&concrete);
        assert_ne!(
            route,
            Route::NotFound,
            "{path} is documented but not routed"
        );
        for method in ops.as_object().unwrap().keys() {
            let method = hyper::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            match (&route, route.method()) {
                (Route::Stream { stream, .. }, None) => {
                    let s = schedule::ALL
                        .iter()
                        .find_map(|s| s.stream(stream))
                        .unwrap_or_else(|| panic!("{path}: no protocol has a {stream} stream"));
                    assert_eq!(api::stream_method(s), method, "{path}");
                }
                (Route::Session(_), None) => assert!(
                    method == hyper::Method::GET || method == hyper::Method::DELETE,
                    "{path}"
                ),
                (_, Some(m)) => assert_eq!(m, method, "{path}"),
                _ => panic!("{path}: a route without a method"),
            }
        }
    }
    // Every route the router takes is documented.
    let documented = |path: &str, method: &str| {
        paths
            .iter()
            .any(|(p, ops)| concrete(p) == path && ops.get(method).is_some())
    };
    for schedule in schedule::ALL {
        for s in schedule.streams {
            let path = api::stream_path("t0k3n", s);
            let method = api::stream_method(s).as_str().to_lowercase();
            assert!(
                documented(&path, &method),
                "{method} {path} is not documented"
            );
        }
    }
    for (path, method) in [
        (api::HEALTH_PATH.to_string(), "get"),
        (api::READY_PATH.to_string(), "get"),
        (api::METRICS_PATH.to_string(), "get"),
        (api::OPENAPI_PATH.to_string(), "get"),
        (api::SESSIONS_PATH.to_string(), "post"),
        (api::session_path("t0k3n"), "delete"),
        (api::session_path("t0k3n"), "get"),
        (api::RUNS_PATH.to_string(), "post"),
        (api::run_path("l1nk"), "get"),
        (api::run_ready_path("l1nk"), "get"),
        (api::run_close_path("l1nk"), "post"),
        (api::linkage_finish_path("l1nk"), "post"),
    ] {
        assert!(
            documented(&path, method),
            "{method} {path} is not documented"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_is_served_to_anyone() {
    let (_, line) = psi_server::auth::Tokens::make(&mut rand::rng(), "ops").unwrap();
    let addr = serve(
        0..10,
        ServerConfig {
            tokens: Some(psi_server::auth::Tokens::parse(&line).unwrap()),
            ..Default::default()
        },
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v1/openapi.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with(psi_server::api::OPENAPI), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_shows_its_progress_to_its_owner() {
    let addr = serve(0..10, ServerConfig::default()).await;
    let a = common::request(addr, "POST", "/v1/sessions", "", &hello(3)).await;
    assert_eq!(a.status, 201);
    let token = a
        .text
        .lines()
        .find_map(|l| l.strip_prefix("x-psi-session: "))
        .unwrap()
        .trim()
        .to_string();
    let (status, body) = request(addr, "GET", &format!("/v1/sessions/{token}"), b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""client_set_size":3"#)
            && body.contains(r#""protocol":"ecdh-ristretto255""#),
        "{body}"
    );
    assert_eq!(
        request(addr, "PUT", &format!("/v1/sessions/{token}"), b"")
            .await
            .0,
        405
    );
    assert_eq!(
        request(addr, "DELETE", &format!("/v1/sessions/{token}"), b"")
            .await
            .0,
        200
    );
    assert_eq!(
        request(addr, "GET", &format!("/v1/sessions/{token}"), b"")
            .await
            .0,
        404
    );
}
