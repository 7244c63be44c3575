//! The HTTP server: sessions, streaming handlers, limits, graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use psi_core::codec::{
    ClientHello, Codec, DecodeError, PointChunk, PointStream, Protocol, MAX_FRAME_LEN, WIRE_VERSION,
};
use psi_core::ecdh::{self, ExpectClientMasked, ServerMasker};
use psi_core::kkrt::{self, ExpectMatrix, MatrixChunk, ReceiverHello, SendOprfValues};
use psi_core::linkage::{
    Duplicates, KeyColumn, Link, LinkResult, LinkageFinish, LinkageTotals, Offer, StepRecorded,
    StepSummary, Waterfall,
};
use psi_core::pjc::{
    self, ExpectCounterMasked, MaskedSum, Outcome, PjcHello, ResponderFinale, ResponderMasker,
    ShuffledTagSender, SumOutput, SumResult,
};
use psi_core::{Item, Limits};

use crate::api::{
    decode_key_declaration, KEY_SPEC_HEADER, LINKAGE_HEADER, LINKAGE_NEW, MAX_HELLO_BYTES,
    SESSION_HEADER, VERSION_HEADER,
};
use psi_core::codec::KeyDeclaration;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::body::{framed, full, BoxBody, ChannelBody, FrameReader, ReadError};
use crate::metrics::Traffic;
use crate::Error;

/// Limits and behaviour of a [`PsiServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits enforced on every client (largest set it may announce).
    pub limits: Limits,
    /// Sessions served at the same time; more get `503 busy`.
    pub max_sessions: usize,
    /// A session with no progress for this long is dropped.
    pub idle_timeout: Duration,
    /// Items per chunk of the server's own stream.
    pub chunk_items: usize,
    /// Stop after this many sessions ended (`psi serve --once` is `Some(1)`).
    pub max_completed_sessions: Option<u64>,
    /// Largest frame accepted in a streamed body.
    pub max_frame: usize,
    /// Time allowed for a client to send a request's headers.
    pub header_timeout: Duration,
    /// What this server answers: intersection (ECDH or KKRT, the client's
    /// choice), or one PSI-cardinality / PSI-sum protocol. A client asking for
    /// anything else is refused before any private data moves.
    pub mode: ServeMode,
    /// PSI-cardinality and PSI-sum: below this many matches the output party
    /// learns only that the threshold was not met (the larger of the two
    /// parties' thresholds applies).
    pub min_intersection: u64,
    /// PSI-sum: sums are below `2^sum_bits`.
    pub sum_bits: u8,
    /// What this server's keys are made of; a client declaring keys with
    /// another fingerprint is refused (`key_spec_mismatch`) before any data moves.
    pub key_spec: Option<KeyDeclaration>,
}

/// The output mode a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeMode {
    /// The client learns which of its items are shared (ECDH or KKRT).
    Intersection,
    /// The client learns only how many items are shared.
    Cardinality,
    /// PSI-sum: the server holds values; the server learns count and sum.
    SumToServer,
    /// PSI-sum: the server holds values; the client learns count and sum.
    SumToClient,
}

impl ServeMode {
    /// The protocols a client may choose in this mode.
    pub fn protocols(self) -> &'static [Protocol] {
        match self {
            ServeMode::Intersection => &[Protocol::EcdhIntersection, Protocol::Kkrt],
            ServeMode::Cardinality => &[Protocol::Cardinality],
            ServeMode::SumToServer => &[Protocol::SumToValueHolder],
            ServeMode::SumToClient => &[Protocol::SumToKeyHolder],
        }
    }

    /// Whether the mode needs a value per item.
    pub fn needs_values(self) -> bool {
        matches!(self, ServeMode::SumToServer | ServeMode::SumToClient)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_sessions: 16,
            idle_timeout: Duration::from_secs(120),
            chunk_items: psi_core::codec::DEFAULT_CHUNK_ITEMS,
            max_completed_sessions: None,
            max_frame: MAX_FRAME_LEN,
            header_timeout: Duration::from_secs(30),
            mode: ServeMode::Intersection,
            min_intersection: 1,
            sum_bits: pjc::DEFAULT_SUM_BITS,
            key_spec: None,
        }
    }
}

/// One session that ended, successfully or not.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    /// Session token.
    pub session: String,
    /// The protocol the client chose.
    pub protocol: Protocol,
    /// What the server learned: the size of the client's set.
    pub client_set_size: u64,
    /// The size of our set.
    pub server_set_size: u64,
    /// Body bytes each way, from the server's side.
    pub traffic: Traffic,
    /// Seconds from hello to end.
    pub seconds: f64,
    /// `Ok` or why it failed.
    pub outcome: Result<(), String>,
    /// PSI-sum to the server: what the server learned (count and sum, or only
    /// that the threshold was not met).
    pub sum: Option<Outcome<SumOutput>>,
}

const STREAM_UPLOAD: u8 = 1;
const STREAM_ANSWERS: u8 = 2;
const STREAM_SERVER_SET: u8 = 4;
const STREAM_FINALE: u8 = 8;
const STREAM_RESULT: u8 = 16;

/// A linkage that ended (see [`psi_core::linkage`]): the server's side.
#[derive(Debug, Clone)]
pub struct LinkageEvent {
    /// The linkage id.
    pub linkage: String,
    /// `Ok` or why it failed.
    pub outcome: Result<(), String>,
    /// Per row of our table: its link, if any.
    pub links: Vec<Option<Link>>,
    /// Per step, what it did on our side.
    pub summaries: Vec<StepSummary>,
    /// Per step, how many values the client offered (what we learned).
    pub client_offered: Vec<u64>,
    /// What the client asked for at the end.
    pub finish: Option<LinkageFinish>,
    /// Body bytes each way over all steps, from the server's side.
    pub traffic: Traffic,
    /// Seconds from the first hello to the end.
    pub seconds: f64,
}

/// The server's state of one linkage between its steps.
struct LinkageState {
    waterfall: Waterfall,
    /// The current step's offer and stream order, until its result arrives.
    pending: Option<(Offer, Arc<[u32]>)>,
    client_offered: Vec<u64>,
    bytes_in: u64,
    bytes_out: u64,
    started: Instant,
    last_activity: Instant,
}

type Chunks = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// What the client uploads, consumed one message at a time (off the async threads).
trait Upload: Send + 'static {
    /// Takes one message; may return an answer for the answer stream.
    fn process(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, psi_core::Error>;
    /// The upload ended; everything announced must have arrived.
    fn finish(self: Box<Self>, session: &Session) -> Result<(), psi_core::Error>;
}

/// What the server streams down, produced one chunk at a time.
trait Download: Send + 'static {
    /// The next encoded message, `None` at the end.
    fn next_message(&mut self) -> Option<Vec<u8>>;
}

impl Upload for ExpectClientMasked {
    fn process(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, psi_core::Error> {
        let chunk = PointChunk::decode(PointStream::ClientMasked, message)?;
        Ok(Some(self.receive(chunk)?.to_bytes()))
    }

    fn finish(self: Box<Self>, _: &Session) -> Result<(), psi_core::Error> {
        ExpectClientMasked::finish(*self)
    }
}

impl Download for ServerMasker {
    fn next_message(&mut self) -> Option<Vec<u8>> {
        self.next_chunk().map(|c| c.to_bytes())
    }
}

impl Upload for ExpectMatrix {
    fn process(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, psi_core::Error> {
        self.receive(MatrixChunk::from_bytes(message)?)?;
        Ok(None)
    }

    fn finish(self: Box<Self>, session: &Session) -> Result<(), psi_core::Error> {
        let values = ExpectMatrix::finish(*self)?;
        if let Ok(mut slot) = session.after_upload.lock() {
            *slot = Some(Box::new(values));
        }
        Ok(())
    }
}

impl Upload for ExpectCounterMasked {
    fn process(&mut self, message: &[u8]) -> Result<Option<Vec<u8>>, psi_core::Error> {
        self.receive(PointChunk::decode(PointStream::CounterMasked, message)?)?;
        Ok(None)
    }

    fn finish(self: Box<Self>, session: &Session) -> Result<(), psi_core::Error> {
        let tags = ExpectCounterMasked::finish(*self)?;
        if let Ok(mut slot) = session.after_upload.lock() {
            *slot = Some(Box::new(tags));
        }
        Ok(())
    }
}

impl Download for ShuffledTagSender {
    fn next_message(&mut self) -> Option<Vec<u8>> {
        self.next_chunk().map(|c| c.to_bytes())
    }
}

impl Download for ResponderMasker {
    fn next_message(&mut self) -> Option<Vec<u8>> {
        self.next_chunk().map(|c| c.to_bytes())
    }
}

impl Download for SendOprfValues {
    fn next_message(&mut self) -> Option<Vec<u8>> {
        self.next_chunk().map(|c| c.to_bytes())
    }
}

struct Session {
    token: String,
    protocol: Protocol,
    started: Instant,
    client_set_size: u64,
    /// ECDH: the answerer; KKRT: the matrix receiver.
    upload: Mutex<Option<Box<dyn Upload>>>,
    /// ECDH only: the answers, forwarded from the upload to their own stream.
    answers_tx: Mutex<Option<Chunks>>,
    answers_body: Mutex<Option<ChannelBody>>,
    /// ECDH, PJC: the server's masked set (ready at once).
    download: Mutex<Option<Box<dyn Download>>>,
    /// KKRT: the OPRF values; PJC: the shuffled answers (ready when the upload
    /// finished).
    after_upload: Mutex<Option<Box<dyn Download>>>,
    /// PJC sums: the last step.
    finale: Mutex<Option<ResponderFinale>>,
    /// PJC sum to the server: what it learned.
    sum: Mutex<Option<Outcome<SumOutput>>>,
    /// A step of this linkage.
    linkage: Option<String>,
    /// Streams this protocol has; the session ends when all are done.
    all_streams: u8,
    done: AtomicU8,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    last_activity: Mutex<Instant>,
}

impl Session {
    fn touch(&self) {
        if let Ok(mut t) = self.last_activity.lock() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().ok().and_then(|mut s| s.take())
}

struct Shared {
    items: Arc<[Item]>,
    /// Every key, for linkages (the first key's items are `items`).
    linkage_keys: Option<(Vec<KeyColumn>, Duplicates)>,
    linkages: Mutex<HashMap<String, Arc<Mutex<LinkageState>>>>,
    linkage_events: broadcast::Sender<LinkageEvent>,
    values: Option<Arc<[u64]>>,
    config: ServerConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    completed: AtomicU64,
    finished: Notify,
    events: broadcast::Sender<SessionEvent>,
}

impl Shared {
    fn session(&self, token: &str) -> Option<Arc<Session>> {
        self.sessions.lock().ok()?.get(token).cloned()
    }

    /// Ends a session (once): removes it, emits its event, counts it.
    fn end(&self, session: &Session, outcome: Result<(), String>) {
        let removed = self
            .sessions
            .lock()
            .map(|mut s| s.remove(&session.token).is_some())
            .unwrap_or(false);
        if !removed {
            return;
        }
        if let Some(id) = &session.linkage {
            let bytes = (
                session.bytes_in.load(Ordering::Relaxed),
                session.bytes_out.load(Ordering::Relaxed),
            );
            match &outcome {
                Ok(()) => {
                    if let Some(state) = self.linkage(id) {
                        if let Ok(mut st) = state.lock() {
                            st.bytes_in += bytes.0;
                            st.bytes_out += bytes.1;
                        }
                    }
                }
                Err(e) => self.end_linkage(id, Err(format!("step failed: {e}")), None),
            }
            tracing::debug!(session = %session.token, linkage = %id, "linkage step ended");
            return;
        }
        let event = SessionEvent {
            session: session.token.clone(),
            protocol: session.protocol,
            client_set_size: session.client_set_size,
            server_set_size: self.items.len() as u64,
            traffic: Traffic {
                bytes_received: session.bytes_in.load(Ordering::Relaxed),
                bytes_sent: session.bytes_out.load(Ordering::Relaxed),
            },
            seconds: session.started.elapsed().as_secs_f64(),
            outcome,
            sum: session.sum.lock().ok().and_then(|s| *s),
        };
        match &event.outcome {
            Ok(()) => tracing::info!(
                session = %event.session,
                client_set_size = event.client_set_size,
                bytes_received = event.traffic.bytes_received,
                bytes_sent = event.traffic.bytes_sent,
                seconds = event.seconds,
                "session completed"
            ),
            Err(e) => tracing::warn!(session = %event.session, error = %e, "session failed"),
        }
        let _ = self.events.send(event);
        let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .config
            .max_completed_sessions
            .is_some_and(|max| n >= max)
        {
            self.finished.notify_one();
        }
    }

    fn linkage(&self, id: &str) -> Option<Arc<Mutex<LinkageState>>> {
        self.linkages.lock().ok()?.get(id).cloned()
    }

    /// Ends a linkage (once): removes it, emits its event, counts it.
    fn end_linkage(&self, id: &str, outcome: Result<(), String>, finish: Option<LinkageFinish>) {
        let Some(state) = self.linkages.lock().ok().and_then(|mut l| l.remove(id)) else {
            return;
        };
        let Ok(st) = state.lock() else { return };
        let event = LinkageEvent {
            linkage: id.to_string(),
            outcome,
            links: st.waterfall.links().to_vec(),
            summaries: st.waterfall.summaries().to_vec(),
            client_offered: st.client_offered.clone(),
            finish,
            traffic: Traffic {
                bytes_received: st.bytes_in,
                bytes_sent: st.bytes_out,
            },
            seconds: st.started.elapsed().as_secs_f64(),
        };
        match &event.outcome {
            Ok(()) => {
                tracing::info!(linkage = %id, linked_rows = st.waterfall.linked_rows(), "linkage completed")
            }
            Err(e) => tracing::warn!(linkage = %id, error = %e, "linkage failed"),
        }
        let _ = self.linkage_events.send(event);
        let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if self
            .config
            .max_completed_sessions
            .is_some_and(|max| n >= max)
        {
            self.finished.notify_one();
        }
    }

    /// Marks one stream of a session done; the session ends when all are.
    fn stream_done(&self, session: &Session, stream: u8) {
        let before = session.done.fetch_or(stream, Ordering::SeqCst);
        if before | stream == session.all_streams {
            self.end(session, Ok(()));
        }
    }
}

/// A streaming PSI server for one table and many sessions.
pub struct PsiServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl PsiServer {
    /// Binds (port 0 picks a free port) and prepares to serve `items` (distinct).
    pub async fn bind(
        addr: SocketAddr,
        items: Vec<Item>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        Self::bind_with_values(addr, items, None, config).await
    }

    /// [`PsiServer::bind`] with one value per item, for the PSI-sum modes.
    pub async fn bind_with_values(
        addr: SocketAddr,
        items: Vec<Item>,
        values: Option<Vec<u64>>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        Self::bind_table(addr, items, values, None, config).await
    }

    /// Binds with everything a server may serve.
    async fn bind_table(
        addr: SocketAddr,
        items: Vec<Item>,
        values: Option<Vec<u64>>,
        linkage_keys: Option<(Vec<KeyColumn>, Duplicates)>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        match &values {
            Some(v) if v.len() != items.len() => {
                return Err(Error::Config("one value per item is required"))
            }
            None if config.mode.needs_values() => {
                return Err(Error::Config("a PSI-sum server needs a value per item"))
            }
            _ => {}
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let (events, _) = broadcast::channel(256);
        let (linkage_events, _) = broadcast::channel(64);
        Ok(PsiServer {
            listener,
            shared: Arc::new(Shared {
                items: items.into(),
                linkage_keys,
                linkages: Mutex::new(HashMap::new()),
                linkage_events,
                values: values.map(Into::into),
                config,
                sessions: Mutex::new(HashMap::new()),
                completed: AtomicU64::new(0),
                finished: Notify::new(),
                events,
            }),
        })
    }

    /// Binds and prepares to serve a table with several keys (in priority
    /// order, one [`KeyColumn`] each): linkage sessions run the waterfall over
    /// them ([`psi_core::linkage`]); single sessions of any protocol use the
    /// first key. `duplicates` applies to single-key linkages.
    pub async fn bind_linkage(
        addr: SocketAddr,
        keys: Vec<KeyColumn>,
        duplicates: Duplicates,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        // Checks the columns once, here, rather than at every linkage.
        Waterfall::new(keys.clone(), duplicates).map_err(|_| {
            Error::Config("linkage keys need one entry per row, and 1 to 65535 keys")
        })?;
        let items = keys.first().map(|k| k.items.clone()).unwrap_or_default();
        Self::bind_table(addr, items, None, Some((keys, duplicates)), config).await
    }

    /// A receiver of one event per linkage that ended.
    pub fn linkage_events(&self) -> broadcast::Receiver<LinkageEvent> {
        self.shared.linkage_events.subscribe()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has an address; fall back to unspecified.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// A receiver of one event per session that ended.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.shared.events.subscribe()
    }

    /// Serves until `shutdown` resolves or `max_completed_sessions` sessions
    /// ended; then stops accepting and lets open connections finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = self.shared.clone();
        let reaper = tokio::spawn(reap_idle(shared.clone(), stop_rx.clone()));
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = shared.finished.notified() => break,
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(shared.clone(), stream, peer, stop_rx.clone()));
                }
            }
            while connections.try_join_next().is_some() {}
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        // Open connections finish their current exchange, bounded in time.
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            connections.abort_all();
        }
        reaper.abort();
        Ok(())
    }
}

async fn reap_idle(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let period =
        (shared.config.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let idle: Vec<Arc<Session>> = shared
            .sessions
            .lock()
            .map(|s| {
                s.values()
                    .filter(|s| s.idle_for() > shared.config.idle_timeout)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for s in idle {
            shared.end(
                &s,
                Err(format!(
                    "no progress for {} s",
                    shared.config.idle_timeout.as_secs()
                )),
            );
        }
        // A linkage between steps has no session; it is reaped on its own.
        let idle_linkages: Vec<String> = shared
            .linkages
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(_, st)| {
                        st.lock()
                            .is_ok_and(|st| st.last_activity.elapsed() > shared.config.idle_timeout)
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in idle_linkages {
            let active = shared
                .sessions
                .lock()
                .map(|s| {
                    s.values()
                        .any(|s| s.linkage.as_deref() == Some(id.as_str()))
                })
                .unwrap_or(false);
            if !active {
                let why = format!("no step for {} s", shared.config.idle_timeout.as_secs());
                shared.end_linkage(&id, Err(why), None);
            }
        }
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(shared, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// An error answer: status plus `{"error":{"code","message"}}`.
fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response<BoxBody> {
    let body = serde_json::json!({"error": {"code": code, "message": message.into()}});
    let mut r = Response::new(full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Maps a core error to a status and code; the message is the error's text,
/// which names what was wrong and carries no internals.
fn core_error(e: &psi_core::Error) -> Response<BoxBody> {
    use psi_core::Error as E;
    let (status, code) = match e {
        E::Decode(DecodeError::UnsupportedVersion { .. }) => {
            (StatusCode::BAD_REQUEST, "unsupported_version")
        }
        E::Decode(DecodeError::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        E::Decode(_) => (StatusCode::BAD_REQUEST, "malformed_message"),
        E::InvalidPoint { .. } => (StatusCode::BAD_REQUEST, "invalid_point"),
        E::UnexpectedCount { .. } => (StatusCode::BAD_REQUEST, "unexpected_count"),
        E::ProtocolMismatch { .. } => (StatusCode::BAD_REQUEST, "protocol_mismatch"),
        E::WrongTagLength { .. } => (StatusCode::BAD_REQUEST, "malformed_message"),
        E::SetTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "set_too_large"),
        _ => (StatusCode::BAD_REQUEST, "protocol_error"),
    };
    error_response(status, code, e.to_string())
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<BoxBody> {
    if let Some(v) = req.headers().get(VERSION_HEADER) {
        if v.as_bytes() != WIRE_VERSION.to_string().as_bytes() {
            return error_response(
                StatusCode::BAD_REQUEST,
                "unsupported_version",
                format!(
                    "client speaks wire version {}, this server speaks version {WIRE_VERSION}",
                    String::from_utf8_lossy(v.as_bytes())
                ),
            );
        }
    }
    let path: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    let method = req.method().clone();
    match (method, parts.as_slice()) {
        (Method::GET, ["v1", "health"]) => health(&shared),
        (Method::POST, ["v1", "sessions"]) => hello(shared, req).await,
        (Method::PUT, ["v1", "sessions", token, stream @ ("client-masked" | "matrix")]) => {
            let (token, stream) = (token.to_string(), stream.to_string());
            upload(shared, &token, &stream, req).await
        }
        (Method::GET, ["v1", "sessions", token, "double-masked"]) => answers(shared, token),
        (Method::GET, ["v1", "sessions", token, stream @ ("oprf-values" | "shuffled-tags")]) => {
            download(shared, token, stream, true)
        }
        (Method::GET, ["v1", "sessions", token, "server-masked"]) => {
            download(shared, token, "server-masked", false)
        }
        (Method::POST, ["v1", "sessions", token, "sum"]) => {
            let token = token.to_string();
            finale(shared, &token, req).await
        }
        (Method::POST, ["v1", "sessions", token, "result"]) => {
            let token = token.to_string();
            link_result(shared, &token, req).await
        }
        (Method::POST, ["v1", "linkages", id, "finish"]) => {
            let id = id.to_string();
            finish_linkage(shared, &id, req).await
        }
        (Method::DELETE, ["v1", "sessions", token]) => match shared.session(token) {
            Some(s) => {
                shared.end(&s, Err("aborted by the client".into()));
                error_response(StatusCode::OK, "aborted", "session aborted")
            }
            None => unknown_session(),
        },
        (_, ["v1", "health"])
        | (_, ["v1", "sessions"])
        | (
            _,
            ["v1", "sessions", _, "client-masked" | "double-masked" | "server-masked" | "matrix" | "oprf-values"
            | "shuffled-tags" | "sum" | "result"],
        )
        | (_, ["v1", "linkages", _, "finish"]) => error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this path",
        ),
        _ => error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

fn health(shared: &Shared) -> Response<BoxBody> {
    let protocols: Vec<&str> = shared
        .config
        .mode
        .protocols()
        .iter()
        .map(|p| p.name())
        .collect();
    let body = serde_json::json!({
        "status": "ok",
        "wire_version": WIRE_VERSION,
        "protocols": protocols,
        "server_version": env!("CARGO_PKG_VERSION"),
    });
    let mut r = Response::new(full(body.to_string()));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn unknown_session() -> Response<BoxBody> {
    error_response(
        StatusCode::NOT_FOUND,
        "unknown_session",
        "no such session (it ended, timed out or never existed)",
    )
}

fn already_taken(stream: &str) -> Response<BoxBody> {
    error_response(
        StatusCode::CONFLICT,
        "stream_taken",
        format!("the {stream} stream of this session was already requested"),
    )
}

fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The parts of a new session that depend on its protocol.
struct Opened {
    protocol: Protocol,
    client_set_size: u64,
    answer: Vec<u8>,
    upload: Box<dyn Upload>,
    download: Option<Box<dyn Download>>,
    finale: Option<ResponderFinale>,
    all_streams: u8,
    /// ECDH: the shuffled order of our items in the server-masked stream.
    order: Option<Arc<[u32]>>,
}

/// Runs the server side of a hello (off the async threads: ECDH shuffles the
/// whole set, KKRT does the base OTs). The message type byte picks the protocol.
fn open(
    bytes: &[u8],
    items: Arc<[Item]>,
    values: Option<Arc<[u64]>>,
    config: &ServerConfig,
) -> Result<Opened, OpenError> {
    let mut rng = StdRng::from_os_rng();
    let allowed = config.mode.protocols();
    let check = |protocol: Protocol| {
        if allowed.contains(&protocol) {
            Ok(())
        } else {
            Err(OpenError::Refused {
                asked: protocol,
                mode: config.mode,
            })
        }
    };
    if bytes.get(1) == Some(&psi_core::codec::PJC_HELLO_TYPE) {
        let hello = PjcHello::from_bytes(bytes)?;
        check(hello.protocol)?;
        let params = pjc::Params {
            protocol: hello.protocol,
            min_intersection: config.min_intersection,
            sum_bits: config.sum_bits,
        };
        let values = if config.mode.needs_values() {
            values
        } else {
            None
        };
        let client_set_size = hello.set_size;
        let (answer, mut streams) =
            pjc::Responder::accept(&mut rng, items, values, &params, hello, &config.limits)?;
        streams.masker.set_chunk_items(config.chunk_items);
        let (finale, extra) = match streams.finale {
            ResponderFinale::Nothing => (None, 0),
            f => (Some(f), STREAM_FINALE),
        };
        return Ok(Opened {
            protocol: params.protocol,
            client_set_size,
            answer: answer.to_bytes(),
            upload: Box::new(streams.answerer),
            download: Some(Box::new(streams.masker)),
            finale,
            all_streams: STREAM_UPLOAD | STREAM_ANSWERS | STREAM_SERVER_SET | extra,
            order: None,
        });
    }
    if bytes.get(1) == Some(&psi_core::codec::KKRT_HELLO_TYPE) {
        let hello = ReceiverHello::from_bytes(bytes)?;
        check(hello.protocol)?;
        let (answer, matrix) = kkrt::Sender::accept(&mut rng, items, &hello, &config.limits)?;
        return Ok(Opened {
            protocol: Protocol::Kkrt,
            client_set_size: hello.set_size,
            answer: answer.to_bytes(),
            upload: Box::new(matrix),
            download: None,
            finale: None,
            all_streams: STREAM_UPLOAD | STREAM_ANSWERS,
            order: None,
        });
    }
    let hello = ClientHello::from_bytes(bytes)?;
    check(hello.protocol)?;
    let (answer, mut streams) = ecdh::Server::accept(&mut rng, items, &hello, &config.limits)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let order = Some(streams.masker.stream_order());
    Ok(Opened {
        protocol: hello.protocol,
        client_set_size: hello.set_size,
        answer: answer.to_bytes(),
        upload: Box::new(streams.answerer),
        download: Some(Box::new(streams.masker)),
        finale: None,
        all_streams: STREAM_UPLOAD | STREAM_ANSWERS | STREAM_SERVER_SET,
        order,
    })
}

/// Why a hello was not accepted.
enum OpenError {
    /// The protocol failed (malformed hello, sizes, parameters).
    Core(psi_core::Error),
    /// The client asked for a protocol this server does not offer.
    Refused { asked: Protocol, mode: ServeMode },
}

impl From<psi_core::Error> for OpenError {
    fn from(e: psi_core::Error) -> Self {
        OpenError::Core(e)
    }
}

impl From<psi_core::codec::DecodeError> for OpenError {
    fn from(e: psi_core::codec::DecodeError) -> Self {
        OpenError::Core(e.into())
    }
}

/// The refusal of a hello whose key specification differs from ours, if it does.
fn key_spec_refusal(shared: &Shared, req: &Request<Incoming>) -> Option<Response<BoxBody>> {
    let ours = shared.config.key_spec.as_ref()?;
    let theirs = match req.headers().get(KEY_SPEC_HEADER) {
        None => KeyDeclaration {
            canonical: String::new(),
            fingerprint: [0; 32],
        },
        Some(v) => match decode_key_declaration(v.as_bytes()) {
            Some(d) => d,
            None => {
                return Some(error_response(
                    StatusCode::BAD_REQUEST,
                    "malformed_message",
                    format!("the {KEY_SPEC_HEADER} header is not a hex-encoded key declaration"),
                ))
            }
        },
    };
    if ours.agrees_with(&theirs) {
        return None;
    }
    let (ours, theirs) = (&ours.canonical, &theirs.canonical);
    let body = serde_json::json!({
        "error": {
            "code": "key_spec_mismatch",
            "message": format!(
                "the two sides normalise and combine key columns differently: this server uses `{ours}`, the client sent `{theirs}`"
            ),
            "server_key_spec": ours,
            "client_key_spec": theirs,
        }
    });
    let mut r = Response::new(full(body.to_string()));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Some(r)
}

async fn hello(shared: Arc<Shared>, req: Request<Incoming>) -> Response<BoxBody> {
    if let Some(refusal) = key_spec_refusal(&shared, &req) {
        return refusal;
    }
    let headers = req.headers().clone();
    let limited = http_body_util::Limited::new(req.into_body(), MAX_HELLO_BYTES);
    let bytes = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the hello must be at most {MAX_HELLO_BYTES} bytes"),
            )
        }
    };
    let active = shared
        .sessions
        .lock()
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if active >= shared.config.max_sessions {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "the server is at its limit of {} concurrent sessions; try again later",
                shared.config.max_sessions
            ),
        );
    }
    let linkage = match linkage_step(&shared, &headers, &bytes) {
        Ok(l) => l,
        Err(refusal) => return refusal,
    };
    let items = match &linkage {
        Some((_, _, offer)) => offer.items.clone().into(),
        None => shared.items.clone(),
    };
    let values = shared.values.clone();
    let config = shared.config.clone();
    let hello_len = bytes.len() as u64;
    let opened =
        match tokio::task::spawn_blocking(move || open(&bytes, items, values, &config)).await {
            Ok(Ok(o)) => o,
            Ok(Err(OpenError::Core(e))) => return core_error(&e),
            Ok(Err(OpenError::Refused { asked, mode })) => {
                let offered: Vec<&str> = mode.protocols().iter().map(|p| p.name()).collect();
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "mode_mismatch",
                    format!(
                    "this server does not run {asked}; it offers {} (check --mode on both sides)",
                    offered.join(", ")
                ),
                );
            }
            Err(e) => {
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        };
    let (answers_tx, answers_body) = if opened.protocol == Protocol::EcdhIntersection {
        let (tx, body) = ChannelBody::channel(4);
        (Some(tx), Some(body))
    } else {
        (None, None)
    };
    let mut all_streams = opened.all_streams;
    let mut linkage_id = None;
    if let Some((id, state, offer)) = linkage {
        let Some(order) = opened.order else {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an ECDH session without a stream order",
            );
        };
        if let Ok(mut st) = state.lock() {
            st.pending = Some((offer, order));
            st.client_offered.push(opened.client_set_size);
            st.last_activity = Instant::now();
        }
        all_streams |= STREAM_RESULT;
        linkage_id = Some(id);
    }
    let token = random_token();
    let session = Arc::new(Session {
        token: token.clone(),
        protocol: opened.protocol,
        started: Instant::now(),
        client_set_size: opened.client_set_size,
        upload: Mutex::new(Some(opened.upload)),
        answers_tx: Mutex::new(answers_tx),
        answers_body: Mutex::new(answers_body),
        download: Mutex::new(opened.download),
        after_upload: Mutex::new(None),
        finale: Mutex::new(opened.finale),
        sum: Mutex::new(None),
        linkage: linkage_id.clone(),
        all_streams,
        done: AtomicU8::new(0),
        bytes_in: AtomicU64::new(hello_len),
        bytes_out: AtomicU64::new(opened.answer.len() as u64),
        last_activity: Mutex::new(Instant::now()),
    });
    if let Ok(mut s) = shared.sessions.lock() {
        s.insert(token.clone(), session.clone());
    }
    tracing::info!(
        session = %token,
        protocol = %session.protocol,
        client_set_size = session.client_set_size,
        "session started"
    );
    let mut r = Response::new(full(opened.answer));
    *r.status_mut() = StatusCode::CREATED;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&token) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    if let Some(id) = linkage_id {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
            r.headers_mut().insert(LINKAGE_HEADER, v);
        }
    }
    r
}

type LinkageStep = (String, Arc<Mutex<LinkageState>>, Offer);

/// A hello with [`LINKAGE_HEADER`]: starts a linkage or finds it, checks that
/// the previous step's result arrived, and computes this step's offer.
#[allow(clippy::result_large_err)]
fn linkage_step(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    hello: &[u8],
) -> Result<Option<LinkageStep>, Response<BoxBody>> {
    let Some(value) = headers.get(LINKAGE_HEADER) else {
        return Ok(None);
    };
    let bad =
        |code: &str, message: String| Err(error_response(StatusCode::BAD_REQUEST, code, message));
    if hello.get(1) != Some(&psi_core::codec::CLIENT_HELLO_TYPE) {
        return bad(
            "linkage_protocol",
            "a linkage step runs ECDH-PSI (ristretto255); other protocols have no shared result"
                .into(),
        );
    }
    let Some((keys, duplicates)) = &shared.linkage_keys else {
        return bad(
            "no_linkage",
            "this server was not started with linkage keys".into(),
        );
    };
    let value = value.to_str().unwrap_or_default();
    let (id, state) = if value == LINKAGE_NEW {
        let waterfall = match Waterfall::new(keys.clone(), *duplicates) {
            Ok(w) => w,
            Err(e) => return bad("no_linkage", e.to_string()),
        };
        let state = Arc::new(Mutex::new(LinkageState {
            waterfall,
            pending: None,
            client_offered: Vec::new(),
            bytes_in: 0,
            bytes_out: 0,
            started: Instant::now(),
            last_activity: Instant::now(),
        }));
        let id = random_token();
        if let Ok(mut l) = shared.linkages.lock() {
            l.insert(id.clone(), state.clone());
        }
        (id, state)
    } else {
        match shared.linkage(value) {
            Some(state) => (value.to_string(), state),
            None => {
                return Err(error_response(
                    StatusCode::NOT_FOUND,
                    "unknown_linkage",
                    "no such linkage (it ended, failed or timed out)",
                ))
            }
        }
    };
    let offer = {
        let Ok(st) = state.lock() else {
            return bad("internal", "linkage state poisoned".into());
        };
        if st.pending.is_some() {
            return Err(error_response(
                StatusCode::CONFLICT,
                "not_ready",
                "the previous step's result has not arrived",
            ));
        }
        match st.waterfall.offer() {
            Ok(o) => o,
            Err(_) => {
                return Err(error_response(
                    StatusCode::CONFLICT,
                    "linkage_done",
                    format!(
                        "every one of the {} steps of this linkage has run",
                        st.waterfall.steps()
                    ),
                ))
            }
        }
    };
    Ok(Some((id, state, offer)))
}

/// POST …/result (a linkage step): the client's [`LinkResult`].
async fn link_result(
    shared: Arc<Shared>,
    token: &str,
    req: Request<Incoming>,
) -> Response<BoxBody> {
    let Some(session) = shared.session(token) else {
        return unknown_session();
    };
    let Some(id) = session.linkage.clone() else {
        return wrong_stream(session.protocol, "result");
    };
    let Some(state) = shared.linkage(&id) else {
        return error_response(StatusCode::NOT_FOUND, "unknown_linkage", "no such linkage");
    };
    let Some((offer, order)) = state.lock().ok().and_then(|mut st| st.pending.take()) else {
        return already_taken("result");
    };
    // Six header bytes and 20 per matched position at most.
    let limit = 16 + 20 * order.len();
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    let Ok(bytes) = limited.collect().await.map(|b| b.to_bytes()) else {
        let why = "the result is larger than the offered set allows, or broke off".to_string();
        shared.end(&session, Err(why.clone()));
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why);
    };
    session
        .bytes_in
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let st = state.clone();
    let recorded = tokio::task::spawn_blocking(move || -> Result<u64, psi_core::Error> {
        let result = LinkResult::from_bytes(&bytes)?;
        let matched = psi_core::linkage::resolve(&result, &order)?;
        let mut st = st
            .lock()
            .map_err(|_| psi_core::Error::Misuse("linkage state poisoned"))?;
        let before = st.waterfall.linked_rows();
        st.waterfall.record(&offer, &matched)?;
        st.last_activity = Instant::now();
        Ok(st.waterfall.linked_rows() - before)
    })
    .await;
    match recorded {
        Ok(Ok(linked)) => {
            shared.stream_done(&session, STREAM_RESULT);
            let answer = StepRecorded {
                linked_rows: linked,
            };
            Response::new(full(answer.to_bytes()))
        }
        Ok(Err(e)) => {
            shared.end(&session, Err(e.to_string()));
            core_error(&e)
        }
        Err(e) => {
            let why = format!("internal error: {e}");
            shared.end(&session, Err(why.clone()));
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", why)
        }
    }
}

/// POST /v1/linkages/{id}/finish: the client's [`LinkageFinish`]; answers
/// with our [`LinkageTotals`] and ends the linkage.
async fn finish_linkage(
    shared: Arc<Shared>,
    id: &str,
    req: Request<Incoming>,
) -> Response<BoxBody> {
    let Some(state) = shared.linkage(id) else {
        return error_response(StatusCode::NOT_FOUND, "unknown_linkage", "no such linkage");
    };
    let limited = http_body_util::Limited::new(req.into_body(), MAX_HELLO_BYTES);
    let Ok(bytes) = limited.collect().await.map(|b| b.to_bytes()) else {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the finish message is too large",
        );
    };
    let finish = match LinkageFinish::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => return core_error(&e.into()),
    };
    let totals = {
        let Ok(mut st) = state.lock() else {
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "linkage state poisoned",
            );
        };
        if st.waterfall.step() < st.waterfall.steps() || st.pending.is_some() {
            return error_response(
                StatusCode::CONFLICT,
                "not_ready",
                format!(
                    "the linkage ran {} of its {} steps",
                    st.waterfall.step(),
                    st.waterfall.steps()
                ),
            );
        }
        st.bytes_in += bytes.len() as u64;
        let rows = st.waterfall.rows() as u64;
        LinkageTotals {
            server_rows: rows,
            server_unlinked_rows: rows - st.waterfall.linked_rows(),
        }
    };
    shared.end_linkage(id, Ok(()), Some(finish));
    Response::new(full(totals.to_bytes()))
}

/// Which upload path belongs to which protocol.
fn upload_path(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Kkrt => "matrix",
        _ => "client-masked",
    }
}

/// Which stream, ready after the upload, belongs to which protocol.
fn after_upload_path(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Kkrt => "oprf-values",
        Protocol::EcdhIntersection => "double-masked",
        _ => "shuffled-tags",
    }
}

fn wrong_stream(protocol: Protocol, stream: &str) -> Response<BoxBody> {
    error_response(
        StatusCode::NOT_FOUND,
        "wrong_stream",
        format!("a {protocol} session has no {stream} stream"),
    )
}

/// PUT …/client-masked (ECDH) or …/matrix (KKRT): feeds each frame to the
/// session's upload state as it arrives; ECDH answers go to their own stream.
async fn upload(
    shared: Arc<Shared>,
    token: &str,
    stream: &str,
    req: Request<Incoming>,
) -> Response<BoxBody> {
    let Some(session) = shared.session(token) else {
        return unknown_session();
    };
    if upload_path(session.protocol) != stream {
        return wrong_stream(session.protocol, stream);
    }
    let Some(mut state) = take(&session.upload) else {
        return already_taken(stream);
    };
    let tx = take(&session.answers_tx);
    let mut reader = FrameReader::new(req.into_body(), shared.config.max_frame);
    let mut messages = 0u64;
    let fail = |shared: &Shared, session: &Session, resp: Response<BoxBody>, why: String| {
        if let Some(tx) = &tx {
            let _ = tx.try_send(Err(std::io::Error::other(why.clone())));
        }
        shared.end(session, Err(why));
        resp
    };
    loop {
        let before = reader.bytes;
        let Ok(next) = tokio::time::timeout(shared.config.idle_timeout, reader.next()).await else {
            let why = format!(
                "no data from the client for {} s",
                shared.config.idle_timeout.as_secs()
            );
            let resp = error_response(StatusCode::REQUEST_TIMEOUT, "idle_timeout", why.clone());
            return fail(&shared, &session, resp, why);
        };
        session
            .bytes_in
            .fetch_add(reader.bytes - before, Ordering::Relaxed);
        session.touch();
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(ReadError::Decode(e)) => {
                let e = psi_core::Error::Decode(e);
                return fail(&shared, &session, core_error(&e), e.to_string());
            }
            Err(ReadError::Body(e)) => {
                let why = format!("the {stream} upload broke off: {e}");
                let resp = error_response(StatusCode::BAD_REQUEST, "broken_body", why.clone());
                return fail(&shared, &session, resp, why);
            }
        };
        messages += 1;
        let processed = tokio::task::spawn_blocking(move || {
            let r = state.process(&message);
            (state, r)
        })
        .await;
        let answer = match processed {
            Ok((s, Ok(answer))) => {
                state = s;
                answer
            }
            Ok((_, Err(e))) => return fail(&shared, &session, core_error(&e), e.to_string()),
            Err(e) => {
                let why = format!("internal error: {e}");
                let resp =
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", why.clone());
                return fail(&shared, &session, resp, why);
            }
        };
        if let (Some(answer), Some(tx)) = (answer, &tx) {
            let frame = framed(&answer);
            session
                .bytes_out
                .fetch_add(frame.len() as u64, Ordering::Relaxed);
            // Backpressure: waits while the client is not reading the answers.
            if tx.send(Ok(frame)).await.is_err() {
                let why = "the client stopped reading the double-masked stream".to_string();
                shared.end(&session, Err(why.clone()));
                return error_response(StatusCode::BAD_REQUEST, "stream_closed", why);
            }
        }
        session.touch();
    }
    let s = session.clone();
    let finished = tokio::task::spawn_blocking(move || state.finish(&s)).await;
    match finished {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return fail(&shared, &session, core_error(&e), e.to_string()),
        Err(e) => {
            let why = format!("internal error: {e}");
            let resp = error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", why.clone());
            return fail(&shared, &session, resp, why);
        }
    }
    drop(tx); // ends the double-masked stream
    shared.stream_done(&session, STREAM_UPLOAD);
    let body = serde_json::json!({ "messages": messages });
    let mut r = Response::new(full(body.to_string()));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A body that marks its stream done when it has been fully handed to hyper.
struct Tracked {
    inner: ChannelBody,
    shared: Arc<Shared>,
    session: Arc<Session>,
    stream: u8,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(None) => {
                this.shared.stream_done(&this.session, this.stream);
            }
            std::task::Poll::Ready(Some(_)) => this.session.touch(),
            std::task::Poll::Pending => {}
        }
        polled
    }
}

fn stream_response(
    shared: Arc<Shared>,
    session: Arc<Session>,
    body: ChannelBody,
    stream: u8,
) -> Response<BoxBody> {
    let tracked = Tracked {
        inner: body,
        shared,
        session,
        stream,
    };
    let mut r = Response::new(tracked.boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    r
}

/// GET …/double-masked (ECDH): the answers forwarded by the upload handler.
fn answers(shared: Arc<Shared>, token: &str) -> Response<BoxBody> {
    let Some(session) = shared.session(token) else {
        return unknown_session();
    };
    if session.protocol != Protocol::EcdhIntersection {
        return wrong_stream(session.protocol, "double-masked");
    }
    let Some(body) = take(&session.answers_body) else {
        return already_taken("double-masked");
    };
    session.touch();
    stream_response(shared, session, body, STREAM_ANSWERS)
}

/// GET …/server-masked (ECDH, PJC: our set, masked and shuffled, ready at
/// once) or, with `after_upload`, …/oprf-values (KKRT) and …/shuffled-tags
/// (PJC), ready when the upload ended; one chunk at a time.
fn download(
    shared: Arc<Shared>,
    token: &str,
    stream: &str,
    after_upload: bool,
) -> Response<BoxBody> {
    let Some(session) = shared.session(token) else {
        return unknown_session();
    };
    let (slot, bit) = if after_upload {
        if after_upload_path(session.protocol) != stream {
            return wrong_stream(session.protocol, stream);
        }
        (&session.after_upload, STREAM_ANSWERS)
    } else {
        if session.all_streams & STREAM_SERVER_SET == 0 {
            return wrong_stream(session.protocol, stream);
        }
        (&session.download, STREAM_SERVER_SET)
    };
    let Some(mut producer) = take(slot) else {
        let upload_pending = session.done.load(Ordering::SeqCst) & STREAM_UPLOAD == 0;
        if after_upload && upload_pending {
            return error_response(
                StatusCode::CONFLICT,
                "not_ready",
                format!("the {stream} stream is ready only after the whole upload"),
            );
        }
        return already_taken(stream);
    };
    session.touch();
    // One chunk in flight: computing runs at most one chunk ahead of the socket.
    let (tx, body) = ChannelBody::channel(1);
    let s = session.clone();
    tokio::spawn(async move {
        loop {
            let produced = tokio::task::spawn_blocking(move || {
                let message = producer.next_message();
                (producer, message)
            })
            .await;
            let Ok((p, message)) = produced else {
                let _ = tx.send(Err(std::io::Error::other("internal error"))).await;
                return;
            };
            producer = p;
            let Some(message) = message else { return };
            let frame = framed(&message);
            s.bytes_out.fetch_add(frame.len() as u64, Ordering::Relaxed);
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    stream_response(shared, session, body, bit)
}

/// POST …/sum (PJC sums): the counter's last message. Sum to the server: the
/// encrypted sum, decrypted here (the server learns count and sum). Sum to the
/// client: the masked sum, decrypted and sent back.
async fn finale(shared: Arc<Shared>, token: &str, req: Request<Incoming>) -> Response<BoxBody> {
    let Some(session) = shared.session(token) else {
        return unknown_session();
    };
    if session.all_streams & STREAM_FINALE == 0 {
        return wrong_stream(session.protocol, "sum");
    }
    if session.done.load(Ordering::SeqCst) & (STREAM_UPLOAD | STREAM_ANSWERS | STREAM_SERVER_SET)
        != STREAM_UPLOAD | STREAM_ANSWERS | STREAM_SERVER_SET
    {
        return error_response(
            StatusCode::CONFLICT,
            "not_ready",
            "the sum comes after every stream of the session ended",
        );
    }
    let Some(state) = take(&session.finale) else {
        return already_taken("sum");
    };
    let limited = http_body_util::Limited::new(req.into_body(), MAX_HELLO_BYTES);
    let Ok(bytes) = limited.collect().await.map(|b| b.to_bytes()) else {
        let why = "the sum message is too large or broke off".to_string();
        shared.end(&session, Err(why.clone()));
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why);
    };
    session
        .bytes_in
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    // The discrete log may take a second or two: off the async threads.
    let s = session.clone();
    let done = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, psi_core::Error> {
        match state {
            ResponderFinale::ExpectSum(expect) => {
                let outcome = expect.receive(SumResult::from_bytes(&bytes)?)?;
                if let Ok(mut slot) = s.sum.lock() {
                    *slot = Some(outcome);
                }
                Ok(Vec::new())
            }
            ResponderFinale::Decrypt(expect) => {
                Ok(expect.receive(MaskedSum::from_bytes(&bytes)?)?.to_bytes())
            }
            ResponderFinale::Nothing => Err(psi_core::Error::Misuse("no sum in this protocol")),
        }
    })
    .await;
    match done {
        Ok(Ok(answer)) => {
            session
                .bytes_out
                .fetch_add(answer.len() as u64, Ordering::Relaxed);
            shared.stream_done(&session, STREAM_FINALE);
            Response::new(full(answer))
        }
        Ok(Err(e)) => {
            shared.end(&session, Err(e.to_string()));
            core_error(&e)
        }
        Err(e) => {
            let why = format!("internal error: {e}");
            shared.end(&session, Err(why.clone()));
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", why)
        }
    }
}
