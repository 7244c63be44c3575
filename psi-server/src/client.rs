//! The client transport: runs the client role of ECDH-PSI or KKRT-PSI against a server.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use psi_core::codec::KeyDeclaration;
use psi_core::codec::{
    Codec, PointChunk, PointStream, ServerHello, TagChunk, MAX_FRAME_LEN, WIRE_VERSION,
};
use psi_core::ecdh::{self, ClientOutput};
use psi_core::kkrt::{self, OprfChunk, SenderHello};
use psi_core::linkage::{LinkResult, LinkageFinish, LinkageTotals, StepRecorded, Waterfall};
use psi_core::pjc::{
    self, CounterFinish, DecryptedSum, Outcome, PjcHello, ResponderSetChunk, ShuffledTags,
    SumOutput,
};
use psi_core::{Item, Limits};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpStream;

use crate::api::{
    encode_key_declaration, KEY_SPEC_HEADER, LINKAGE_HEADER, LINKAGE_NEW, SESSION_HEADER,
    VERSION_HEADER,
};
use crate::body::{framed, full, BoxBody, ChannelBody, FrameReader, ReadError};
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
    /// What our keys are made of, announced in the hello so that a server
    /// whose keys are made otherwise refuses before any private data moves.
    pub key_spec: Option<KeyDeclaration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            limits: Limits::default(),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            key_spec: None,
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
    /// KKRT: how many cuckoo-hash seeds were rejected before one fit (0 for ECDH).
    pub cuckoo_retries: u32,
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

/// Opens a session: POSTs our hello and decodes the server's answer with
/// `decode` (before looking at the token, so a peer of another version gets
/// that error rather than a vaguer one). Returns the token, the decoded answer
/// and the body bytes of both.
async fn open_session<T>(
    addr: &str,
    config: &ClientConfig,
    hello: Vec<u8>,
    decode: impl FnOnce(&[u8]) -> Result<T, Error>,
) -> Result<(String, T, u64, u64), Error> {
    let (session, decoded, sent, received, _) =
        open_session_with(addr, config, hello, None, decode).await?;
    Ok((session, decoded, sent, received))
}

/// [`open_session`] with an optional [`LINKAGE_HEADER`] value; also returns
/// the linkage id the server answered with.
async fn open_session_with<T>(
    addr: &str,
    config: &ClientConfig,
    hello: Vec<u8>,
    linkage: Option<&str>,
    decode: impl FnOnce(&[u8]) -> Result<T, Error>,
) -> Result<(String, T, u64, u64, Option<String>), Error> {
    let idle = config.idle_timeout;
    let sent = hello.len() as u64;
    let mut conn = connect(addr, config).await?;
    let mut req = request(Method::POST, addr, "/v1/sessions", full(hello))?;
    if let Some(spec) = &config.key_spec {
        let value = hyper::header::HeaderValue::from_str(&encode_key_declaration(spec))
            .map_err(|_| Error::Config("the key specification cannot be sent"))?;
        req.headers_mut().insert(KEY_SPEC_HEADER, value);
    }
    if let Some(linkage) = linkage {
        let value = hyper::header::HeaderValue::from_str(linkage)
            .map_err(|_| Error::Config("the linkage id cannot be sent"))?;
        req.headers_mut().insert(LINKAGE_HEADER, value);
    }
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
    let linkage_id = resp
        .headers()
        .get(LINKAGE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string);
    let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
    let answer = tokio::time::timeout(idle, body.collect())
        .await
        .map_err(|_| Error::Timeout {
            what: "the server's hello",
            seconds: idle.as_secs(),
        })?
        .map_err(|_| Error::StreamCut("hello"))?
        .to_bytes();
    let decoded = decode(&answer)?;
    let session = token.ok_or(Error::NotPsi(
        "its answer to the hello carries no valid session token",
    ))?;
    Ok((session, decoded, sent, answer.len() as u64, linkage_id))
}

/// Largest answer to a hello we accept (a KKRT sender hello is about 14 KB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// PUTs a stream whose messages `next` produces, off the async threads, one
/// chunk at a time as the body is sent. Returns the body bytes sent.
async fn put_stream<S: Send + 'static>(
    addr: &str,
    path: &str,
    config: &ClientConfig,
    mut state: S,
    next: fn(&mut S) -> Option<Vec<u8>>,
) -> Result<(S, u64), Error> {
    let mut conn = connect(addr, config).await?;
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
    let req = request(Method::PUT, addr, path, body.boxed())?;
    let resp = conn.send_request(req).await?;
    let resp = check(resp, config.idle_timeout).await?;
    let _ = resp.into_body().collect().await;
    producer.await?
}

/// GETs a stream and feeds each message to `each` off the async threads.
/// Returns the state and the body bytes received.
async fn get_stream<S: Send + 'static>(
    addr: &str,
    path: &str,
    name: &'static str,
    config: &ClientConfig,
    state: S,
    each: fn(&mut S, Vec<u8>) -> Result<(), Error>,
) -> Result<(S, u64), Error> {
    let idle = config.idle_timeout;
    let mut conn = connect(addr, config).await?;
    let resp = conn
        .send_request(request(Method::GET, addr, path, full(Bytes::new()))?)
        .await?;
    let resp = check(resp, idle).await?;
    let mut reader = FrameReader::new(resp.into_body(), MAX_FRAME_LEN);
    let mut state = Some(state);
    loop {
        let next = tokio::time::timeout(idle, reader.next())
            .await
            .map_err(|_| Error::Timeout {
                what: name,
                seconds: idle.as_secs(),
            })?;
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(ReadError::Decode(e)) => return Err(e.into()),
            Err(ReadError::Body(_)) => return Err(Error::StreamCut(name)),
        };
        let mut s = state.take().ok_or(Error::Task("state lost".into()))?;
        let s = tokio::task::spawn_blocking(move || each(&mut s, message).map(|()| s)).await??;
        state = Some(s);
    }
    let s = state.ok_or(Error::Task("state lost".into()))?;
    Ok((s, reader.bytes))
}

/// Runs ECDH-PSI as the client against `peer` (`http://host:port` or `host:port`).
pub async fn run_ecdh_client(
    peer: &str,
    items: Vec<Item>,
    config: &ClientConfig,
) -> Result<ClientRun, Error> {
    let addr = authority(peer)?;
    let (run, _) = ecdh_session(&addr, items, config, None).await?;
    Ok(run)
}

/// What an ECDH session that shares its result adds to [`ClientRun`].
struct SharedSession {
    pairs: Vec<ecdh::MatchedPair>,
    linkage: Option<String>,
}

/// One ECDH session; with `linkage` (`new` or an id) it is a step of a
/// linkage: the result is kept with positions and ids (and posted by the caller).
async fn ecdh_session(
    addr: &str,
    items: Vec<Item>,
    config: &ClientConfig,
    linkage: Option<&str>,
) -> Result<(ClientRun, Option<SharedSession>), Error> {
    let t0 = Instant::now();
    let limits = config.limits.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = StdRng::from_os_rng();
        ecdh::Client::start(&mut rng, items, &limits)
    })
    .await??;
    let (session, server_hello, mut bytes_sent, mut bytes_received, linkage_id) =
        open_session_with(addr, config, hello.to_bytes(), linkage, |b| {
            Ok(ServerHello::from_bytes(b)?)
        })
        .await?;
    let mut streams = state.receive(server_hello)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let session_id = streams.masker.session_id();
    let mut phases = vec![("connect+hello", t0.elapsed())];

    let t1 = Instant::now();
    let base = format!("/v1/sessions/{session}");
    // Stream 1: our masked items, produced chunk by chunk as the body is sent.
    let upload = async {
        let (_, sent) = put_stream(
            addr,
            &format!("{base}/client-masked"),
            config,
            streams.masker,
            |m| m.next_chunk().map(|c| c.to_bytes()),
        )
        .await?;
        Ok::<_, Error>((sent, t1.elapsed()))
    };
    // Stream 2: the server's answers to our items, in order.
    let answers = async {
        let (state, bytes) = get_stream(
            addr,
            &format!("{base}/double-masked"),
            "double-masked",
            config,
            streams.double_masked,
            |s, m| Ok(s.receive(TagChunk::from_bytes(&m)?)?),
        )
        .await?;
        Ok::<_, Error>((state.finish()?, bytes, t1.elapsed()))
    };
    // Stream 3: the server's masked, shuffled set; re-masked off the async threads.
    let shared = linkage.is_some();
    let server_set = async {
        let (state, bytes) = get_stream(
            addr,
            &format!("{base}/server-masked"),
            "server-masked",
            config,
            streams.server_set,
            |s, m| Ok(s.receive(PointChunk::decode(PointStream::ServerMasked, &m)?)?),
        )
        .await?;
        let done = if shared {
            state.finish_keeping_positions()?
        } else {
            state.finish()?
        };
        Ok::<_, Error>((done, bytes, t1.elapsed()))
    };

    let ((sent, t_up), (own, answer_bytes, t_answers), (theirs, set_bytes, t_set)) =
        tokio::try_join!(upload, answers, server_set)?;
    bytes_sent += sent;
    bytes_received += answer_bytes + set_bytes;
    phases.push(("client-masked", t_up));
    phases.push(("double-masked", t_answers));
    phases.push(("server-masked", t_set));

    let t2 = Instant::now();
    let (output, shared) = if shared {
        let (output, pairs) =
            tokio::task::spawn_blocking(move || ecdh::intersect_pairs(own, theirs, &session_id))
                .await??;
        let shared = SharedSession {
            pairs,
            linkage: linkage_id,
        };
        (output, Some(shared))
    } else {
        let output = tokio::task::spawn_blocking(move || ecdh::intersect(own, theirs)).await?;
        (output, None)
    };
    phases.push(("intersect", t2.elapsed()));
    let run = ClientRun {
        output,
        session,
        bytes_sent,
        bytes_received,
        phases,
        cuckoo_retries: 0,
    };
    Ok((run, shared))
}

/// The result of [`run_linkage_client`].
#[derive(Debug, Clone)]
pub struct LinkageRun {
    /// Our state after every step, with each row's link.
    pub waterfall: Waterfall,
    /// The linkage id the server gave.
    pub linkage: String,
    /// Per step: the size of the server's offered set.
    pub server_offered: Vec<u64>,
    /// The server's totals.
    pub totals: LinkageTotals,
    /// Body bytes sent (all steps).
    pub bytes_sent: u64,
    /// Body bytes received (all steps).
    pub bytes_received: u64,
    /// Seconds per step.
    pub phases: Vec<(String, Duration)>,
}

/// Runs a linkage against `peer`: for each step of `waterfall`, an ECDH-PSI
/// session over the step's offer whose result is shared with the server (so
/// both withdraw linked rows), then the [`LinkageFinish`] message. See
/// [`psi_core::linkage`] for what each side learns.
pub async fn run_linkage_client(
    peer: &str,
    mut waterfall: Waterfall,
    mut finish: LinkageFinish,
    config: &ClientConfig,
) -> Result<LinkageRun, Error> {
    let addr = authority(peer)?;
    let mut linkage: Option<String> = None;
    let (mut bytes_sent, mut bytes_received) = (0, 0);
    let mut phases = Vec::new();
    let mut server_offered = Vec::new();
    while waterfall.step() < waterfall.steps() {
        let t = Instant::now();
        let step = waterfall.step();
        let offer = waterfall.offer()?;
        let header = linkage.clone().unwrap_or_else(|| LINKAGE_NEW.to_string());
        let (run, shared) = ecdh_session(&addr, offer.items.clone(), config, Some(&header)).await?;
        let shared = shared.ok_or(Error::Config("a linkage step must share its result"))?;
        match (&linkage, shared.linkage) {
            (None, Some(id)) => linkage = Some(id),
            (Some(ours), Some(theirs)) if *ours == theirs => {}
            _ => {
                return Err(Error::NotPsi(
                    "it did not answer a linkage step with the linkage id",
                ))
            }
        }
        let result = LinkResult {
            pairs: shared
                .pairs
                .iter()
                .map(|p| (p.server_position, p.id))
                .collect(),
        };
        let body = result.to_bytes();
        bytes_sent += run.bytes_sent + body.len() as u64;
        bytes_received += run.bytes_received;
        server_offered.push(run.output.server_set_size);
        let answer = post_small(
            &addr,
            &format!("/v1/sessions/{}/result", run.session),
            config,
            body,
        )
        .await?;
        bytes_received += answer.len() as u64;
        StepRecorded::from_bytes(&answer)?;
        let mine: Vec<(u32, ecdh::LinkId)> = shared
            .pairs
            .iter()
            .map(|p| (p.client as u32, p.id))
            .collect();
        waterfall.record(&offer, &mine)?;
        phases.push((format!("step {}", step + 1), t.elapsed()));
    }
    let linkage = linkage.ok_or(Error::Config("a linkage needs at least one key"))?;
    finish.client_rows = waterfall.rows() as u64;
    finish.client_unlinked_rows = finish.client_rows - waterfall.linked_rows();
    let body = finish.to_bytes();
    bytes_sent += body.len() as u64;
    let answer = post_small(
        &addr,
        &format!("/v1/linkages/{linkage}/finish"),
        config,
        body,
    )
    .await?;
    bytes_received += answer.len() as u64;
    let totals = LinkageTotals::from_bytes(&answer)?;
    Ok(LinkageRun {
        waterfall,
        linkage,
        server_offered,
        totals,
        bytes_sent,
        bytes_received,
        phases,
    })
}

/// Runs KKRT OT-extension PSI as the receiver (client) against `peer`.
///
/// Phases: `cuckoo+hello` (cuckoo hashing, our base-OT message, the server's
/// answer), `base-ot` (finishing the base OTs), `matrix` (the OT-extension
/// matrix, computed and uploaded chunk by chunk), `oprf-values` (the server's
/// OPRF values, streamed and looked up as they arrive).
pub async fn run_kkrt_client(
    peer: &str,
    items: Vec<Item>,
    config: &ClientConfig,
) -> Result<ClientRun, Error> {
    let addr = authority(peer)?;
    let t0 = Instant::now();
    let limits = config.limits.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = StdRng::from_os_rng();
        kkrt::Receiver::start(&mut rng, items, &limits)
    })
    .await??;
    let cuckoo_retries = state.cuckoo_retries();
    if cuckoo_retries > 0 {
        tracing::info!(cuckoo_retries, "cuckoo hashing needed fresh seeds");
    }
    let (session, sender_hello, mut bytes_sent, mut bytes_received) =
        open_session(&addr, config, hello.to_bytes(), |b| {
            Ok(SenderHello::from_bytes(b)?)
        })
        .await?;
    let mut phases = vec![("cuckoo+hello", t0.elapsed())];

    let t = Instant::now();
    let mut matrix = tokio::task::spawn_blocking(move || state.receive(sender_hello)).await??;
    phases.push(("base-ot", t.elapsed()));
    matrix.set_chunk_rows(MATRIX_CHUNK_ROWS);

    let t = Instant::now();
    let base = format!("/v1/sessions/{session}");
    let (matrix, sent) = put_stream(&addr, &format!("{base}/matrix"), config, matrix, |m| {
        m.next_chunk().map(|c| c.to_bytes())
    })
    .await?;
    bytes_sent += sent;
    let expect = matrix.finish()?;
    phases.push(("matrix", t.elapsed()));

    let t = Instant::now();
    let (expect, received) = get_stream(
        &addr,
        &format!("{base}/oprf-values"),
        "oprf-values",
        config,
        expect,
        |s, m| Ok(s.receive(OprfChunk::from_bytes(&m)?)?),
    )
    .await?;
    bytes_received += received;
    let output = expect.finish()?;
    phases.push(("oprf-values", t.elapsed()));
    Ok(ClientRun {
        output,
        session,
        bytes_sent,
        bytes_received,
        phases,
        cuckoo_retries,
    })
}

/// What the client (the counter) learned in a PSI-cardinality or PSI-sum run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PjcOutput {
    /// Cardinality: the count, behind the threshold.
    Cardinality(Outcome<u64>),
    /// Sum to the server: the client learns the count it computed (behind the
    /// threshold); the server learns count and sum.
    SumToServer(Outcome<u64>),
    /// Sum to the client: count and sum, behind the threshold.
    SumToClient(Outcome<SumOutput>),
}

/// The result of a PSI-cardinality or PSI-sum client run.
#[derive(Debug, Clone)]
pub struct PjcRun {
    /// What we learned.
    pub output: PjcOutput,
    /// The server's set size (both parties learn both sizes).
    pub server_set_size: u64,
    /// The server's session token.
    pub session: String,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// Body bytes received.
    pub bytes_received: u64,
    /// Seconds per phase: `hello`, `client-masked` (our items, masked and
    /// uploaded), `shuffled-tags` (the server's answers in a secret order),
    /// `server-masked` (the server's set, counted), `sum` (the last exchange).
    pub phases: Vec<(&'static str, Duration)>,
}

/// Runs PSI-cardinality or PSI-sum as the counter (client) against `peer`:
/// `params.protocol` picks the mode; the server must serve the same one.
pub async fn run_pjc_client(
    peer: &str,
    items: Vec<Item>,
    params: &pjc::Params,
    config: &ClientConfig,
) -> Result<PjcRun, Error> {
    let addr = authority(peer)?;
    let t = Instant::now();
    let limits = config.limits.clone();
    let p = params.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = StdRng::from_os_rng();
        pjc::Counter::start(&mut rng, items, &p, &limits)
    })
    .await??;
    let (session, answer, mut bytes_sent, mut bytes_received) =
        open_session(&addr, config, hello.to_bytes(), |b| {
            Ok(PjcHello::from_bytes(b)?)
        })
        .await?;
    let server_set_size = answer.set_size;
    let mut streams = state.receive(answer)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let mut phases = vec![("hello", t.elapsed())];
    let base = format!("/v1/sessions/{session}");

    let t = Instant::now();
    let (_, sent) = put_stream(
        &addr,
        &format!("{base}/client-masked"),
        config,
        streams.masker,
        |m| m.next_chunk().map(|c| c.to_bytes()),
    )
    .await?;
    bytes_sent += sent;
    phases.push(("client-masked", t.elapsed()));

    let t = Instant::now();
    let (tags, received) = get_stream(
        &addr,
        &format!("{base}/shuffled-tags"),
        "shuffled-tags",
        config,
        streams.tags,
        |s, m| Ok(s.receive(ShuffledTags::from_bytes(&m)?)?),
    )
    .await?;
    bytes_received += received;
    let set = tags.finish()?;
    phases.push(("shuffled-tags", t.elapsed()));

    let t = Instant::now();
    let (set, received) = get_stream(
        &addr,
        &format!("{base}/server-masked"),
        "server-masked",
        config,
        set,
        |s, m| Ok(s.receive(ResponderSetChunk::from_bytes(&m)?)?),
    )
    .await?;
    bytes_received += received;
    let finish = tokio::task::spawn_blocking(move || set.finish()).await??;
    phases.push(("server-masked", t.elapsed()));

    let t = Instant::now();
    let output = match finish {
        CounterFinish::Cardinality(count) => PjcOutput::Cardinality(count),
        CounterFinish::SendSum { message, count } => {
            let bytes = message.to_bytes();
            bytes_sent += bytes.len() as u64;
            post_small(&addr, &format!("{base}/sum"), config, bytes).await?;
            PjcOutput::SumToServer(count)
        }
        CounterFinish::SendMaskedSum { message, next } => {
            let bytes = message.to_bytes();
            bytes_sent += bytes.len() as u64;
            let answer = post_small(&addr, &format!("{base}/sum"), config, bytes).await?;
            bytes_received += answer.len() as u64;
            let answer = DecryptedSum::from_bytes(&answer)?;
            let outcome = tokio::task::spawn_blocking(move || next.receive(answer)).await??;
            PjcOutput::SumToClient(outcome)
        }
    };
    phases.push(("sum", t.elapsed()));
    Ok(PjcRun {
        output,
        server_set_size,
        session,
        bytes_sent,
        bytes_received,
        phases,
    })
}

/// POSTs a small message and returns the (small) answer body.
async fn post_small(
    addr: &str,
    path: &str,
    config: &ClientConfig,
    body: Vec<u8>,
) -> Result<Bytes, Error> {
    let idle = config.idle_timeout;
    let mut conn = connect(addr, config).await?;
    let req = request(Method::POST, addr, path, full(body))?;
    let resp = with_timeout("the server's answer", idle, async {
        Ok(conn.send_request(req).await?)
    })
    .await?;
    let resp = check(resp, idle).await?;
    let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES);
    Ok(tokio::time::timeout(idle, body.collect())
        .await
        .map_err(|_| Error::Timeout {
            what: "the server's answer",
            seconds: idle.as_secs(),
        })?
        .map_err(|_| Error::StreamCut("answer"))?
        .to_bytes())
}

/// Matrix rows per uploaded chunk (a chunk is `448 × rows / 8` bytes: 448 KB).
const MATRIX_CHUNK_ROWS: usize = 8192;

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
