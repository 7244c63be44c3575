//! How the client talks HTTP: one connection per request, a [`Peer`] that
//! opens sessions, uploads and downloads streams and exchanges small
//! messages, all named by [`psi_core::schedule`] and routed by [`crate::api`].

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use psi_core::codec::{MAX_FRAME_LEN, WIRE_VERSION};
use psi_core::schedule::Stream;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::config::ClientConfig;
use super::endpoint::endpoint;
use crate::api::{self, KEY_SPEC_HEADER, LINKAGE_HEADER, SESSION_HEADER, VERSION_HEADER};
use crate::body::{framed, full, BoxBody, ChannelBody, FrameReader, ReadError};
use crate::metrics::Traffic;
use crate::Error;

/// Largest answer to a hello or exchange we accept (a KKRT sender hello is
/// about 14 KB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

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

/// A session the server opened.
pub(super) struct Opened<T> {
    /// The session token.
    pub token: String,
    /// The server's answer to the hello, decoded.
    pub answer: T,
    /// The linkage id, if the server answered with one.
    pub linkage: Option<String>,
    /// Whether the session's streams resume ([`api::RESUMABLE_HEADER`]).
    pub resumable: bool,
}

/// A server, and the bytes exchanged with it so far.
pub(super) struct Peer<'a> {
    addr: String,
    config: &'a ClientConfig,
    traffic: Traffic,
    /// For `https://`: the TLS configuration and the server's name.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// A bucket of a run: the run id and the [`api::BUCKET_HEADER`] value
    /// every hello carries.
    bucket: Option<(String, String)>,
    /// Headers every request carries besides the usual ones (a bucketed
    /// linkage's run and step).
    extra: Vec<(&'static str, String)>,
}

impl<'a> Peer<'a> {
    /// The server at `peer` (`http://host:port`, `https://host:port` or
    /// `host:port`). `https://` uses [`ClientConfig::tls`], or the system's
    /// CA certificates.
    pub fn new(peer: &str, config: &'a ClientConfig) -> Result<Self, Error> {
        let at = endpoint(peer)?;
        let tls = match (at.tls, &config.tls) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Error::BadUrl {
                    url: peer.to_string(),
                    reason: "TLS options are set: use https://",
                })
            }
            (true, tls) => {
                let tls = match tls {
                    Some(tls) => tls.clone(),
                    None => crate::tls::client_config(None, None)?,
                };
                let name = ServerName::try_from(at.host.clone()).map_err(|_| Error::BadUrl {
                    url: peer.to_string(),
                    reason: "the host is not a valid DNS name or IP address for TLS",
                })?;
                Some((tokio_rustls::TlsConnector::from(tls), name))
            }
        };
        Ok(Peer {
            addr: at.authority,
            config,
            traffic: Traffic::default(),
            tls,
            bucket: None,
            extra: Vec::new(),
        })
    }

    /// Makes the sessions this peer opens bucket `index` of `count` of `run`.
    pub fn in_bucket(&mut self, run: &str, index: u16, count: u16) {
        self.bucket = Some((run.to_string(), api::bucket_header(index, count)));
    }

    /// Adds `name: value` to every request this peer sends.
    pub fn with_header(&mut self, name: &'static str, value: String) {
        self.extra.push((name, value));
    }

    /// The client's configuration.
    pub fn config(&self) -> &'a ClientConfig {
        self.config
    }

    /// The bytes exchanged so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Opens one HTTP/1.1 connection.
    async fn connect(&self) -> Result<Connection, Error> {
        let addr = self.addr.as_str();
        let stream = with_timeout(
            "the connection to the peer",
            self.config.connect_timeout,
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
        let Some((connector, name)) = &self.tls else {
            return handshake(stream, false).await;
        };
        let stream = with_timeout("the TLS handshake", self.config.connect_timeout, async {
            connector
                .connect(name.clone(), stream)
                .await
                .map_err(|e| Error::Tls {
                    what: "the handshake with the server",
                    reason: e.to_string(),
                })
        })
        .await?;
        handshake(stream, true).await
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: BoxBody,
    ) -> Result<Request<BoxBody>, Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.as_str())
            .header(VERSION_HEADER, WIRE_VERSION.to_string());
        if let Some(token) = &self.config.token {
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
            let mut value = hyper::header::HeaderValue::from_str(&bearer).map_err(|_| {
                Error::Config("the partner token has characters a header cannot carry")
            })?;
            value.set_sensitive(true);
            req = req.header(hyper::header::AUTHORIZATION, value);
        }
        for (name, value) in &self.extra {
            req = req.header(*name, value.as_str());
        }
        req.body(body).map_err(|_| Error::BadUrl {
            url: self.addr.clone(),
            reason: "cannot build a request for this address",
        })
    }

    /// Sends one request with a small body and returns the response, checked.
    async fn send(&self, req: Request<BoxBody>) -> Result<Response<Incoming>, Error> {
        let idle = self.config.idle_timeout;
        let mut conn = self.connect().await?;
        let resp =
            with_timeout("the server's answer", idle, async { conn.send(req).await }).await?;
        check(resp, idle).await
    }

    /// Reads a small answer body.
    async fn small_body(
        &self,
        resp: Response<Incoming>,
        what: &'static str,
    ) -> Result<Bytes, Error> {
        self.body_of(resp, what, MAX_ANSWER_BYTES).await
    }

    /// Reads an answer body of at most `limit` bytes.
    async fn body_of(
        &self,
        resp: Response<Incoming>,
        what: &'static str,
        limit: usize,
    ) -> Result<Bytes, Error> {
        let idle = self.config.idle_timeout;
        let body = http_body_util::Limited::new(resp.into_body(), limit);
        Ok(tokio::time::timeout(idle, body.collect())
            .await
            .map_err(|_| Error::Timeout {
                what,
                seconds: idle.as_secs(),
            })?
            .map_err(|_| Error::StreamCut(what))?
            .to_bytes())
    }

    /// Opens a session: POSTs our hello (with our key declaration and, for a
    /// linkage step, `linkage`: `new` or the id) and decodes the server's
    /// answer with `decode` before looking at the token, so a peer of another
    /// version gets that error rather than a vaguer one.
    pub async fn hello<T>(
        &mut self,
        hello: Vec<u8>,
        linkage: Option<&str>,
        decode: impl FnOnce(&[u8]) -> Result<T, Error>,
    ) -> Result<Opened<T>, Error> {
        let sent = hello.len() as u64;
        let mut req = self.request(Method::POST, api::SESSIONS_PATH, full(hello))?;
        self.declare_keys(&mut req)?;
        if let Some(linkage) = linkage {
            let value = hyper::header::HeaderValue::from_str(linkage)
                .map_err(|_| Error::Config("the linkage id cannot be sent"))?;
            req.headers_mut().insert(LINKAGE_HEADER, value);
        }
        if let Some((run, bucket)) = &self.bucket {
            let (Ok(run), Ok(bucket)) = (
                hyper::header::HeaderValue::from_str(run),
                hyper::header::HeaderValue::from_str(bucket),
            ) else {
                return Err(Error::Config("the run id cannot be sent"));
            };
            req.headers_mut().insert(api::RUN_HEADER, run);
            req.headers_mut().insert(api::BUCKET_HEADER, bucket);
        }
        let resp = self.send(req).await?;
        let token = header_token(&resp, SESSION_HEADER);
        let linkage = header_token(&resp, LINKAGE_HEADER);
        let resumable = resp
            .headers()
            .get(api::RESUMABLE_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        let answer = self.small_body(resp, "the server's hello").await?;
        self.traffic.add(Traffic {
            bytes_sent: sent,
            bytes_received: answer.len() as u64,
        });
        let answer = decode(&answer)?;
        let token = token.ok_or(Error::NotPsi(
            "its answer to the hello carries no valid session token",
        ))?;
        Ok(Opened {
            token,
            answer,
            linkage,
            resumable,
        })
    }

    /// Uploads `stream` of session `token`: the messages `next` produces, off
    /// the async threads, one chunk at a time as the body is sent. Returns
    /// the state and the bytes sent (also counted in [`Peer::traffic`] by
    /// [`Peer::count`]).
    pub async fn upload<S: Send + 'static>(
        &self,
        token: &str,
        stream: &Stream,
        state: S,
        next: fn(&mut S) -> Option<Vec<u8>>,
    ) -> Result<(S, u64), Error> {
        self.upload_from(token, stream, None, state, next).await
    }

    /// [`Peer::upload`] of a resumable session's stream, continuing at item
    /// `from` ([`api::FROM_HEADER`]) when given.
    pub async fn upload_from<S: Send + 'static>(
        &self,
        token: &str,
        stream: &Stream,
        from: Option<u64>,
        mut state: S,
        next: fn(&mut S) -> Option<Vec<u8>>,
    ) -> Result<(S, u64), Error> {
        let mut conn = self.connect().await?;
        let (tx, body) = ChannelBody::channel(2);
        let producer = tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let (s, message) = tokio::task::spawn_blocking(move || {
                    let m = next(&mut state);
                    (state, m)
                })
                .await?;
                state = s;
                let Some(message) = message else {
                    return Ok::<_, Error>((state, sent));
                };
                let frame = framed(&message);
                sent += frame.len() as u64;
                if tx.send(Ok::<Bytes, std::io::Error>(frame)).await.is_err() {
                    return Ok((state, sent));
                }
            }
        });
        let path = api::stream_path(token, stream);
        let mut req = self.request(api::stream_method(stream), &path, body.boxed())?;
        with_from(&mut req, from);
        let resp = conn.send(req).await?;
        let resp = check(resp, self.config.idle_timeout).await?;
        let _ = resp.into_body().collect().await;
        producer.await?
    }

    /// Downloads `stream` of session `token` and feeds each message to `each`
    /// off the async threads. Returns the state and the bytes received.
    pub async fn download<S: Send + 'static>(
        &self,
        token: &str,
        stream: &'static Stream,
        state: S,
        each: fn(&mut S, Vec<u8>) -> Result<(), Error>,
    ) -> Result<(S, u64), Error> {
        self.download_from(token, stream, None, state, each).await
    }

    /// [`Peer::download`] of a resumable session's stream from item `from`
    /// ([`api::FROM_HEADER`]) when given; from the stream's end, it is our
    /// acknowledgment that we hold it all.
    pub async fn download_from<S: Send + 'static>(
        &self,
        token: &str,
        stream: &'static Stream,
        from: Option<u64>,
        state: S,
        each: fn(&mut S, Vec<u8>) -> Result<(), Error>,
    ) -> Result<(S, u64), Error> {
        let idle = self.config.idle_timeout;
        let path = api::stream_path(token, stream);
        let mut req = self.request(api::stream_method(stream), &path, full(Bytes::new()))?;
        with_from(&mut req, from);
        let mut conn = self.connect().await?;
        let resp = conn.send(req).await?;
        let resp = check(resp, idle).await?;
        let mut reader = FrameReader::new(resp.into_body(), MAX_FRAME_LEN);
        let mut state = Some(state);
        loop {
            let next = tokio::time::timeout(idle, reader.next())
                .await
                .map_err(|_| Error::Timeout {
                    what: stream.name,
                    seconds: idle.as_secs(),
                })?;
            let message = match next {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(ReadError::Decode(e)) => return Err(e.into()),
                Err(ReadError::Body(_)) => return Err(Error::StreamCut(stream.name)),
            };
            let mut s = state.take().ok_or(Error::Task("state lost".into()))?;
            let s =
                tokio::task::spawn_blocking(move || each(&mut s, message).map(|()| s)).await??;
            state = Some(s);
        }
        let s = state.ok_or(Error::Task("state lost".into()))?;
        Ok((s, reader.bytes))
    }

    /// Adds bytes carried by [`Peer::upload`] and [`Peer::download`] (which
    /// may run concurrently, so they cannot count themselves).
    pub fn count(&mut self, traffic: Traffic) {
        self.traffic.add(traffic);
    }

    /// Sends one small message on `stream` (an exchange) and returns the answer.
    pub async fn exchange(
        &mut self,
        token: &str,
        stream: &Stream,
        message: Vec<u8>,
    ) -> Result<Bytes, Error> {
        let path = api::stream_path(token, stream);
        self.post(&path, message).await
    }

    /// Sends the last message of a linkage and returns the answer.
    pub async fn finish_linkage(
        &mut self,
        linkage: &str,
        message: Vec<u8>,
    ) -> Result<Bytes, Error> {
        self.post(&api::linkage_finish_path(linkage), message).await
    }

    /// `PUT`s `body` to `path` (a linkage unit's upload) and returns the answer.
    pub async fn put(&mut self, path: &str, body: Vec<u8>) -> Result<Bytes, Error> {
        self.send_small(Method::PUT, path, body).await
    }

    /// Adds our key declaration, if we have one, to `req`.
    fn declare_keys(&self, req: &mut Request<BoxBody>) -> Result<(), Error> {
        if let Some(spec) = &self.config.key_spec {
            let value = hyper::header::HeaderValue::from_str(&api::encode_key_declaration(spec))
                .map_err(|_| Error::Config("the key specification cannot be sent"))?;
            req.headers_mut().insert(KEY_SPEC_HEADER, value);
        }
        Ok(())
    }

    /// `POST`s a small `message` to `path` with our key declaration: the
    /// answer and the value of the response header `header`, if any.
    pub async fn post_with_header(
        &mut self,
        path: &str,
        message: Vec<u8>,
        header: &str,
    ) -> Result<(Bytes, Option<String>), Error> {
        let sent = message.len() as u64;
        let mut req = self.request(Method::POST, path, full(message))?;
        self.declare_keys(&mut req)?;
        let resp = self.send(req).await?;
        let value = header_token(&resp, header);
        let answer = self.small_body(resp, "the server's answer").await?;
        self.traffic.add(Traffic {
            bytes_sent: sent,
            bytes_received: answer.len() as u64,
        });
        Ok((answer, value))
    }

    /// `GET`s `path`: the (successful) status and a body of at most `limit` bytes.
    pub async fn get(&mut self, path: &str, limit: usize) -> Result<(u16, Bytes), Error> {
        let req = self.request(Method::GET, path, full(Vec::new()))?;
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let answer = self.body_of(resp, "the server's answer", limit).await?;
        self.traffic.add(Traffic {
            bytes_sent: 0,
            bytes_received: answer.len() as u64,
        });
        Ok((status, answer))
    }

    /// `DELETE`s session `token`: the client holds its result (a kept
    /// session's record goes), or gives up on it.
    pub async fn close(&mut self, token: &str) -> Result<(), Error> {
        self.send_small(Method::DELETE, &api::session_path(token), Vec::new())
            .await
            .map(|_| ())
    }

    async fn post(&mut self, path: &str, message: Vec<u8>) -> Result<Bytes, Error> {
        self.send_small(Method::POST, path, message).await
    }

    /// Sends `message` and returns the server's small answer, counting both.
    async fn send_small(
        &mut self,
        method: Method,
        path: &str,
        message: Vec<u8>,
    ) -> Result<Bytes, Error> {
        let sent = message.len() as u64;
        let req = self.request(method, path, full(message))?;
        let resp = self.send(req).await?;
        let answer = self.small_body(resp, "the server's answer").await?;
        self.traffic.add(Traffic {
            bytes_sent: sent,
            bytes_received: answer.len() as u64,
        });
        Ok(answer)
    }
}

/// One HTTP/1.1 connection.
struct Connection {
    sender: SendRequest<BoxBody>,
    tls: bool,
}

impl Connection {
    /// Sends a request. If the connection broke, the error gives the whole
    /// cause (a TLS alert from a server that refused our certificate arrives
    /// only after the handshake, as the reason a request was cancelled).
    async fn send(&mut self, req: Request<BoxBody>) -> Result<Response<Incoming>, Error> {
        let tls = self.tls;
        self.sender.send_request(req).await.map_err(|e| {
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why = format!("{why}: {c}");
                cause = c.source();
            }
            if tls {
                // With TLS 1.3 a server refuses a client certificate after
                // the handshake: the first request is where that shows.
                return Error::Tls {
                    what: "the server closed the connection (does it want a client certificate from another CA?)",
                    reason: why,
                };
            }
            match std::error::Error::source(&e) {
                Some(_) => Error::ConnectionLost(why),
                None => Error::Http(e),
            }
        })
    }
}

/// HTTP/1.1 over a connected stream (plain, or TLS with `tls`).
async fn handshake<S>(stream: S, tls: bool) -> Result<Connection, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection closed: {e}");
        }
    });
    Ok(Connection { sender, tls })
}

/// Adds [`api::FROM_HEADER`] to `req` when `from` is given.
fn with_from(req: &mut Request<BoxBody>, from: Option<u64>) {
    if let Some(from) = from {
        req.headers_mut()
            .insert(api::FROM_HEADER, hyper::header::HeaderValue::from(from));
    }
}

/// A token-like header value (session token, linkage id), if valid.
fn header_token(resp: &Response<Incoming>, header: &str) -> Option<String> {
    resp.headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// Turns a non-2xx response into [`Error::Peer`] with the server's JSON
/// message ([`Error::KeySpecMismatch`] for a key-spec refusal).
async fn check(resp: Response<Incoming>, idle: Duration) -> Result<Response<Incoming>, Error> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
    let bytes = tokio::time::timeout(idle, body.collect())
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |k: &str| json["error"][k].as_str().map(str::to_string);
    if let (Some(server), Some(client)) = (field("server_key_spec"), field("client_key_spec")) {
        return Err(Error::KeySpecMismatch { server, client });
    }
    Err(Error::Peer {
        status,
        code: field("code").unwrap_or_else(|| "http_error".into()),
        message: field("message")
            .unwrap_or_else(|| format!("HTTP status {status} (is this a PSI server?)")),
    })
}
