//! The client transport: runs the client role of ECDH-PSI against a server.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use psi_core::codec::{
    Codec, PointChunk, PointStream, ServerHello, TagChunk, MAX_FRAME_LEN, WIRE_VERSION,
};
use psi_core::ecdh::{self, ClientOutput};
use psi_core::{Item, Limits};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpStream;

use crate::body::{framed, full, BoxBody, ChannelBody, FrameReader, ReadError};
use crate::server::{SESSION_HEADER, VERSION_HEADER};
use crate::Error;

/// Limits and timeouts of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits enforced on the server (largest set it may announce).
    pub limits: Limits,
    /// Items per chunk of our masked stream.
    pub chunk_items: usize,
    /// Time allowed to open each connection.
    pub connect_timeout: Duration,
    /// Time allowed without progress on any stream.
    pub idle_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// The result of a client run.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// What we learned.
    pub output: ClientOutput,
    /// The server's session token.
    pub session: String,
    /// Body bytes sent (HTTP headers not counted).
    pub bytes_sent: u64,
    /// Body bytes received (HTTP headers not counted).
    pub bytes_received: u64,
    /// Seconds per phase. The three streams run concurrently, so
    /// "client-masked", "double-masked" and "server-masked" overlap: each is
    /// measured from the start of streaming to that stream's end.
    pub phases: Vec<(&'static str, Duration)>,
}

/// `host:port` from `http://host:port[/]` or `host:port`.
fn authority(peer: &str) -> Result<String, Error> {
    let bad = |reason| Error::BadUrl {
        url: peer.to_string(),
        reason,
    };
    if peer.starts_with("https://") {
        return Err(bad(
            "TLS (https) is not supported yet; use http:// on a trusted network or a TLS tunnel",
        ));
    }
    let rest = peer
        .strip_prefix("http://")
        .unwrap_or(peer)
        .trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(bad("expected http://HOST:PORT"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(rest.to_string())
        }
        _ => Err(bad("expected http://HOST:PORT with a port number")),
    }
}

async fn with_timeout<T>(
    what: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout {
            what,
            seconds: limit.as_secs(),
        })?
}

/// Opens one HTTP/1.1 connection.
async fn connect(addr: &str, config: &ClientConfig) -> Result<SendRequest<BoxBody>, Error> {
    let stream = with_timeout(
        "the connection to the peer",
        config.connect_timeout,
        async {
            TcpStream::connect(addr)
                .await
                .map_err(|source| Error::Connect {
                    addr: addr.to_string(),
                    source,
                })
        },
    )
    .await?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed: {e}");
        }
    });
    Ok(sender)
}

fn request(
    method: Method,
    addr: &str,
    path: &str,
    body: BoxBody,
) -> Result<Request<BoxBody>, Error> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr)
        .header(VERSION_HEADER, WIRE_VERSION.to_string())
        .body(body)
        .map_err(|_| Error::BadUrl {
            url: addr.to_string(),
            reason: "cannot build a request for this address",
        })
}

/// Turns a non-2xx response into [`Error::Peer`] with the server's JSON message.
async fn check(resp: Response<Incoming>, idle: Duration) -> Result<Response<Incoming>, Error> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024);
    let bytes = tokio::time::timeout(idle, body.collect())
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |k: &str| json["error"][k].as_str().map(str::to_string);
    Err(Error::Peer {
        status,
        code: field("code").unwrap_or_else(|| "http_error".into()),
        message: field("message")
            .unwrap_or_else(|| format!("HTTP status {status} (is this a PSI server?)")),
    })
}

/// Reads a framed response body; each message goes to `each`.
async fn read_stream(
    resp: Response<Incoming>,
    name: &'static str,
    idle: Duration,
    mut each: impl FnMut(Vec<u8>) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut reader = FrameReader::new(resp.into_body(), MAX_FRAME_LEN);
    loop {
        let next = tokio::time::timeout(idle, reader.next())
            .await
            .map_err(|_| Error::Timeout {
                what: name,
                seconds: idle.as_secs(),
            })?;
        match next {
            Ok(Some(message)) => each(message)?,
            Ok(None) => return Ok(reader.bytes),
            Err(ReadError::Decode(e)) => return Err(e.into()),
            Err(ReadError::Body(_)) => return Err(Error::StreamCut(name)),
        }
    }
}

/// Runs ECDH-PSI as the client against `peer` (`http://host:port` or `host:port`).
pub async fn run_ecdh_client(
    peer: &str,
    items: Vec<Item>,
    config: &ClientConfig,
) -> Result<ClientRun, Error> {
    let addr = authority(peer)?;
    let idle = config.idle_timeout;
    let t0 = Instant::now();
    let limits = config.limits.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = StdRng::from_os_rng();
        ecdh::Client::start(&mut rng, items, &limits)
    })
    .await??;
    let hello_bytes = hello.to_bytes();
    let mut bytes_sent = hello_bytes.len() as u64;

    let mut conn = connect(&addr, config).await?;
    let req = request(Method::POST, &addr, "/v1/sessions", full(hello_bytes))?;
    let resp = with_timeout("the server's hello", idle, async {
        Ok(conn.send_request(req).await?)
    })
    .await?;
    let resp = check(resp, idle).await?;
    let token = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string);
    let body = http_body_util::Limited::new(resp.into_body(), 1024);
    let hello_answer = tokio::time::timeout(idle, body.collect())
        .await
        .map_err(|_| Error::Timeout {
            what: "the server's hello",
            seconds: idle.as_secs(),
        })?
        .map_err(|_| Error::StreamCut("hello"))?
        .to_bytes();
    let mut bytes_received = hello_answer.len() as u64;
    // Decode first: a peer of another version gets that error, not a vaguer one.
    let server_hello = ServerHello::from_bytes(&hello_answer)?;
    let session = token.ok_or(Error::NotPsi(
        "its answer to the hello carries no valid session token",
    ))?;
    let mut streams = state.receive(server_hello)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let mut phases = vec![("connect+hello", t0.elapsed())];
    drop(conn);

    let t1 = Instant::now();
    let base = format!("/v1/sessions/{session}");

    // Stream 1: our masked items, produced chunk by chunk as the body is sent.
    let upload = {
        let addr = addr.clone();
        let path = format!("{base}/client-masked");
        let config = config.clone();
        let mut masker = streams.masker;
        async move {
            let mut conn = connect(&addr, &config).await?;
            let (tx, body) = ChannelBody::channel(2);
            let producer = tokio::spawn(async move {
                let mut sent = 0u64;
                loop {
                    let (m, chunk) = tokio::task::spawn_blocking(move || {
                        let c = masker.next_chunk();
                        (masker, c)
                    })
                    .await?;
                    masker = m;
                    let Some(chunk) = chunk else {
                        return Ok::<u64, Error>(sent);
                    };
                    let frame = framed(&chunk.to_bytes());
                    sent += frame.len() as u64;
                    if tx.send(Ok::<Bytes, std::io::Error>(frame)).await.is_err() {
                        return Ok(sent);
                    }
                }
            });
            let req = request(Method::PUT, &addr, &path, body.boxed())?;
            let resp = conn.send_request(req).await?;
            let resp = check(resp, config.idle_timeout).await?;
            let _ = resp.into_body().collect().await;
            let sent = producer.await??;
            Ok::<(u64, Duration), Error>((sent, t1.elapsed()))
        }
    };

    // Stream 2: the server's answers to our items, in order.
    let answers = {
        let addr = addr.clone();
        let path = format!("{base}/double-masked");
        let config = config.clone();
        let mut state = streams.double_masked;
        async move {
            let mut conn = connect(&addr, &config).await?;
            let resp = conn
                .send_request(request(Method::GET, &addr, &path, full(Bytes::new()))?)
                .await?;
            let resp = check(resp, config.idle_timeout).await?;
            let bytes = read_stream(resp, "double-masked", config.idle_timeout, |m| {
                state.receive(TagChunk::from_bytes(&m)?)?;
                Ok(())
            })
            .await?;
            let done = state.finish()?;
            Ok::<_, Error>((done, bytes, t1.elapsed()))
        }
    };

    // Stream 3: the server's masked, shuffled set; re-masked off the async threads.
    let server_set = {
        let addr = addr.clone();
        let path = format!("{base}/server-masked");
        let config = config.clone();
        let state = streams.server_set;
        async move {
            let mut conn = connect(&addr, &config).await?;
            let resp = conn
                .send_request(request(Method::GET, &addr, &path, full(Bytes::new()))?)
                .await?;
            let resp = check(resp, config.idle_timeout).await?;
            let mut reader = FrameReader::new(resp.into_body(), MAX_FRAME_LEN);
            let mut state = Some(state);
            loop {
                let next = tokio::time::timeout(config.idle_timeout, reader.next())
                    .await
                    .map_err(|_| Error::Timeout {
                        what: "server-masked",
                        seconds: config.idle_timeout.as_secs(),
                    })?;
                let message = match next {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(ReadError::Decode(e)) => return Err(e.into()),
                    Err(ReadError::Body(_)) => return Err(Error::StreamCut("server-masked")),
                };
                let chunk = PointChunk::decode(PointStream::ServerMasked, &message)?;
                let mut s = state.take().ok_or(Error::Task("state lost".into()))?;
                let s = tokio::task::spawn_blocking(move || s.receive(chunk).map(|()| s)).await??;
                state = Some(s);
            }
            let s = state.ok_or(Error::Task("state lost".into()))?;
            let done = s.finish()?;
            Ok::<_, Error>((done, reader.bytes, t1.elapsed()))
        }
    };

    let ((sent, t_up), (own, answer_bytes, t_answers), (theirs, set_bytes, t_set)) =
        tokio::try_join!(upload, answers, server_set)?;
    bytes_sent += sent;
    bytes_received += answer_bytes + set_bytes;
    phases.push(("client-masked", t_up));
    phases.push(("double-masked", t_answers));
    phases.push(("server-masked", t_set));

    let t2 = Instant::now();
    let output = tokio::task::spawn_blocking(move || ecdh::intersect(own, theirs)).await?;
    phases.push(("intersect", t2.elapsed()));
    Ok(ClientRun {
        output,
        session,
        bytes_sent,
        bytes_received,
        phases,
    })
}

#[cfg(test)]
mod tests {
    use super::authority;

    #[test]
    fn peer_addresses() {
        assert_eq!(
            authority("http://127.0.0.1:7700").ok().as_deref(),
            Some("127.0.0.1:7700")
        );
        assert_eq!(
            authority("127.0.0.1:7700/").ok().as_deref(),
            Some("127.0.0.1:7700")
        );
        assert_eq!(
            authority("http://[::1]:80").ok().as_deref(),
            Some("[::1]:80")
        );
        assert!(authority("https://x:1").is_err());
        assert!(authority("http://x").is_err());
        assert!(authority("http://x:1/path").is_err());
        assert!(authority("").is_err());
    }
}
