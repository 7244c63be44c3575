//! TLS, mutual TLS and partner tokens over real sockets on 127.0.0.1: who
//! is let in, who is refused, and that one partner cannot touch another's
//! session.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;
mod pki;

use std::net::SocketAddr;

use common::item;
use psi_server::auth::{BearerToken, Tokens};
use psi_server::{run_ecdh_client, tls, ClientConfig, Error, ServerConfig};

async fn start(config: ServerConfig) -> SocketAddr {
    common::serve(1..=10, config).await
}

async fn run(url: &str, config: &ClientConfig) -> Result<Vec<usize>, Error> {
    let items = vec![item(3), item(30), item(7)];
    Ok(run_ecdh_client(url, items, config).await?.output.matched)
}

fn client_tls(ca: &pki::Ca, identity: Option<&pki::Pem>) -> ClientConfig {
    let pem = identity.map(|p| (p.cert.as_bytes(), p.key.as_bytes()));
    ClientConfig {
        tls: Some(tls::client_config(Some(ca.pem().as_bytes()), pem).unwrap()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    let ca = pki::Ca::new("partners CA");
    let other = pki::Ca::new("someone else's CA");
    let server = ca.server();
    // TLS only.
    let config = ServerConfig {
        tls: Some(tls::server_config(server.cert.as_bytes(), server.key.as_bytes(), None).unwrap()),
        ..Default::default()
    };
    let addr = start(config).await;
    let url = format!("https://localhost:{}", addr.port());
    assert_eq!(run(&url, &client_tls(&ca, None)).await.unwrap(), vec![0, 2]);
    // A client that trusts another CA refuses the server.
    let e = run(&url, &client_tls(&other, None)).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e}");
    // Plain HTTP to a TLS server is no PSI exchange.
    let plain = format!("http://127.0.0.1:{}", addr.port());
    assert!(run(&plain, &ClientConfig::default()).await.is_err());

    // Mutual TLS: a client certificate from the partners' CA is required.
    let config = ServerConfig {
        tls: Some(
            tls::server_config(
                server.cert.as_bytes(),
                server.key.as_bytes(),
                Some(ca.pem().as_bytes()),
            )
            .unwrap(),
        ),
        ..Default::default()
    };
    let addr = start(config).await;
    let url = format!("https://localhost:{}", addr.port());
    let partner = ca.client("partner-a");
    assert_eq!(
        run(&url, &client_tls(&ca, Some(&partner))).await.unwrap(),
        vec![0, 2]
    );
    // The refusal shows at the first request (TLS 1.3), as a TLS error.
    let e = run(&url, &client_tls(&ca, None)).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e}");
    let stranger = other.client("partner-a");
    let e = run(&url, &client_tls(&ca, Some(&stranger)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e}");
}

#[test]
fn bad_pem_is_a_clear_error() {
    let e = tls::server_config(b"not pem", b"", None).unwrap_err();
    assert!(e.to_string().contains("server certificate"), "{e}");
    let ca = pki::Ca::new("ca");
    let s = ca.server();
    let e = tls::server_config(s.cert.as_bytes(), b"nothing", None).unwrap_err();
    assert!(e.to_string().contains("server key"), "{e}");
    let e = tls::server_config(s.cert.as_bytes(), s.key.as_bytes(), Some(b"x")).unwrap_err();
    assert!(e.to_string().contains("client CA"), "{e}");
}

/// One raw request as partner `token` ("" for none); returns status and body.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String) {
    let auth = match token {
        "" => String::new(),
        t => format!("authorization: Bearer {t}\r\n"),
    };
    let a = common::request(addr, method, path, &auth, body).await;
    (a.status, a.body().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_tokens_and_session_ownership() {
    let mut rng = rand::rng();
    let (alice, line_a) = Tokens::make(&mut rng, "alice").unwrap();
    let (bob, line_b) = Tokens::make(&mut rng, "bob").unwrap();
    let tokens = Tokens::parse(&format!("{line_a}\n{line_b}\n")).unwrap();
    let addr = start(ServerConfig {
        tokens: Some(tokens),
        ..Default::default()
    })
    .await;
    let url = format!("http://{addr}");
    let with = |t: &str| ClientConfig {
        token: BearerToken::parse(t),
        ..Default::default()
    };
    assert_eq!(run(&url, &with(&alice)).await.unwrap(), vec![0, 2]);
    for e in [
        run(&url, &ClientConfig::default()).await.unwrap_err(),
        run(&url, &with("psi_0000")).await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Peer { status: 401, code, .. } if code == "unauthorized"),
            "{e}"
        );
    }
    // The health check stays open.
    let (status, _) = raw(addr, "GET", "/v1/health", "", b"").await;
    assert_eq!(status, 200);

    // Alice's session is invisible to Bob.
    let auth = format!("authorization: Bearer {alice}\r\n");
    let session = common::open_session(addr, &auth, 2).await;
    let path = format!("/v1/sessions/{session}/server-masked");
    let (status, body) = raw(addr, "GET", &path, &bob, b"").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown_session"), "{body}");
    let (status, _) = raw(
        addr,
        "DELETE",
        &format!("/v1/sessions/{session}"),
        &bob,
        b"",
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = raw(
        addr,
        "DELETE",
        &format!("/v1/sessions/{session}"),
        &alice,
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
