//! Helpers shared by the socket tests: items, hellos, a server on port 0 and
//! raw HTTP/1.1 requests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use psi_core::codec::{ClientHello, Codec, Protocol, WIRE_VERSION};
use psi_core::Item;
use psi_server::{PsiServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The item of a number.
pub fn item(v: u32) -> Item {
    Item::from_key(&v.to_be_bytes())
}

/// An ECDH client hello announcing `set_size` items.
pub fn hello(set_size: u64) -> Vec<u8> {
    ClientHello {
        protocol: Protocol::EcdhIntersection,
        nonce: [5; 32],
        set_size,
    }
    .to_bytes()
}

/// A server of `items` on a free loopback port, running until the test ends.
pub async fn serve(items: impl IntoIterator<Item = u32>, config: ServerConfig) -> SocketAddr {
    let items = items.into_iter().map(item).collect();
    let server = PsiServer::bind("127.0.0.1:0".parse().unwrap(), items, config)
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

/// The answer to a raw request.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers and the body, as text.
    pub text: String,
}

impl Answer {
    /// The body.
    pub fn body(&self) -> &str {
        self.text.split("\r\n\r\n").nth(1).unwrap_or_default()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One request on a new connection (closed after it), with the wire version
/// header unless `headers` has one; waits at most 20 s for the answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let version = if headers.contains("x-psi-wire-version") {
        String::new()
    } else {
        format!("x-psi-wire-version: {WIRE_VERSION}\r\n")
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{version}{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    Answer {
        status: text[9..12].parse().unwrap(),
        text,
    }
}

/// Opens a session with a raw hello (and `headers`); returns its token.
pub async fn open_session(addr: SocketAddr, headers: &str, set_size: u64) -> String {
    let a = request(addr, "POST", "/v1/sessions", headers, &hello(set_size)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.header("x-psi-session").unwrap()
}
