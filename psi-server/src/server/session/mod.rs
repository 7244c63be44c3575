//! One session per client run: the protocol's typed states, held by value in
//! one lane per stream of its [`Schedule`], so a stream runs once and only
//! when the schedule says it is ready.

mod ecdh;
mod handoff;
mod kkrt;
mod lane;
mod pjc;
mod pjc_disk;
pub(crate) mod pjc_keep;
mod result_lane;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::quota::Place;
use psi_core::codec::Protocol;
use psi_core::pjc::{Outcome, SumOutput};
use psi_core::schedule::{Schedule, Stream};

pub(crate) use self::ecdh::EcdhStreams;
pub(crate) use self::handoff::{Chunks, Download, Downstream, Exchange, Upload, Uploaded};
pub(crate) use self::kkrt::KkrtStreams;
pub(crate) use self::lane::Refusal;
pub(crate) use self::pjc::PjcStreams;
pub(crate) use self::pjc_disk::{disk_streams, replayed_streams, PjcAnswerer, PjcSet};
use crate::auth::Identity;
use crate::metrics::Traffic;

/// The streams of a session, per protocol.
pub(crate) enum Streams {
    /// ECDH-PSI, possibly a linkage step.
    Ecdh(EcdhStreams),
    /// KKRT OT-extension PSI, possibly a bucket of a linkage.
    Kkrt(KkrtStreams),
    /// PSI-cardinality and PSI-sum.
    Pjc(PjcStreams),
}

impl Streams {
    /// Starts the upload of `stream`; with it, where its answers go.
    /// A resumable client's `from` (the position it continues at) is taken
    /// by external-memory PJC sessions only.
    pub(crate) fn start_upload(
        &mut self,
        stream: &Stream,
        from: Option<u64>,
    ) -> Result<(Upload, Option<Chunks>), Refusal> {
        match (self, from) {
            (Streams::Pjc(s), from) => s.start_upload(stream, from).map(|u| (u, None)),
            (_, Some(asked)) => Err(Refusal::Offset { asked, holds: None }),
            (Streams::Ecdh(s), None) => s.start_upload(stream),
            (Streams::Kkrt(s), None) => s.start_upload(stream).map(|u| (u, None)),
        }
    }

    /// A resumable upload broke off: whether its state was kept for the
    /// client to resume (else the session fails).
    pub(crate) fn upload_broken(&mut self, upload: Upload) -> bool {
        match self {
            Streams::Pjc(s) => s.upload_broken(upload),
            _ => false,
        }
    }

    /// A resumed download's producer stopped: its state waits for the client.
    pub(crate) fn download_returned(&mut self, download: Download) {
        if let Streams::Pjc(s) = self {
            s.download_returned(download);
        }
    }

    /// Whether the session's streams resume (external-memory PJC).
    pub(crate) fn resumable(&self) -> bool {
        matches!(self, Streams::Pjc(s) if s.resumable())
    }

    /// The upload ended with `uploaded`.
    pub(crate) fn uploaded(&mut self, uploaded: Uploaded) {
        match self {
            Streams::Ecdh(s) => s.uploaded(uploaded),
            Streams::Kkrt(s) => s.uploaded(uploaded),
            Streams::Pjc(s) => s.uploaded(uploaded),
        }
    }

    /// Starts the download of `stream`.
    pub(crate) fn start_download(
        &mut self,
        stream: &Stream,
        from: Option<u64>,
    ) -> Result<Downstream, Refusal> {
        match (self, from) {
            (Streams::Pjc(s), from) => s.start_download(stream, from),
            (_, Some(asked)) => Err(Refusal::Offset { asked, holds: None }),
            (Streams::Ecdh(s), None) => s.start_download(stream),
            (Streams::Kkrt(s), None) => s.start_download(stream),
        }
    }

    /// The download of `stream` was fully handed to the connection.
    pub(crate) fn downloaded(&mut self, stream: &Stream) {
        match self {
            Streams::Ecdh(s) => s.downloaded(stream),
            Streams::Kkrt(s) => s.downloaded(),
            Streams::Pjc(s) => s.downloaded(stream),
        }
    }

    /// Starts the exchange on `stream`.
    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        match self {
            Streams::Ecdh(s) => s.start_exchange(stream),
            Streams::Kkrt(s) => s.start_exchange(stream),
            Streams::Pjc(s) => s.start_exchange(stream),
        }
    }

    /// The exchange ended; a sum to the server leaves what it learned.
    pub(crate) fn exchanged(&mut self, learned: Option<Outcome<SumOutput>>) {
        match self {
            Streams::Ecdh(s) => s.exchanged(),
            Streams::Kkrt(s) => s.exchanged(),
            Streams::Pjc(s) => s.exchanged(learned),
        }
    }

    /// Whether every stream ended.
    pub(crate) fn all_done(&self) -> bool {
        match self {
            Streams::Ecdh(s) => s.all_done(),
            Streams::Kkrt(s) => s.all_done(),
            Streams::Pjc(s) => s.all_done(),
        }
    }

    /// Sum to the server: what it learned.
    pub(crate) fn learned(&self) -> Option<Outcome<SumOutput>> {
        match self {
            Streams::Pjc(s) => s.learned,
            _ => None,
        }
    }

    /// The sums' last message arrived: closing the session now confirms
    /// the answer rather than aborting it.
    pub(crate) fn finale_received(&self) -> bool {
        matches!(self, Streams::Pjc(s) if s.finale_received())
    }

    /// The client confirms it holds the sum's answer.
    pub(crate) fn confirm(&mut self) {
        if let Streams::Pjc(s) = self {
            s.confirm();
        }
    }

    /// A kept sum answered but not confirmed by its client.
    pub(crate) fn answered_unconfirmed(&self) -> bool {
        matches!(self, Streams::Pjc(s) if s.answered_unconfirmed())
    }

    /// Its end was reported by an earlier process (a kept sum answered again).
    pub(crate) fn reported(&self) -> bool {
        matches!(self, Streams::Pjc(s) if s.reported())
    }

    /// The session kept on disk for a restart, if any.
    pub(crate) fn kept(&self) -> Option<&std::sync::Arc<pjc_keep::Kept>> {
        match self {
            Streams::Pjc(s) => s.kept(),
            _ => None,
        }
    }

    /// Records the sums' finale as answered (a kept session).
    pub(crate) fn record_finale(
        &self,
        finale: crate::pjc_state::Finale,
        decrypting: bool,
    ) -> Result<(), crate::Error> {
        match self {
            Streams::Pjc(s) => s.record_finale(finale, decrypting),
            _ => Ok(()),
        }
    }
}

/// Who opened a session, and its place under the session limit (none for a
/// linkage step: the linkage holds one).
pub(crate) struct Admitted {
    pub(crate) owner: Identity,
    /// The address it connected from.
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) place: Option<Place>,
}

/// One session: who it is, its protocol's streams, and what it cost.
pub(crate) struct Session {
    pub(crate) token: String,
    /// Who opened it; nobody else may see it.
    pub(crate) owner: Identity,
    /// The address its hello came from.
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) protocol: Protocol,
    pub(crate) schedule: &'static Schedule,
    pub(crate) started: Instant,
    pub(crate) client_set_size: u64,
    /// A step of this linkage.
    pub(crate) linkage: Option<String>,
    pub(crate) streams: Mutex<Streams>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    last_activity: Mutex<Instant>,
    /// Its place under the session limit (a linkage step's is the linkage's).
    place: Mutex<Option<Place>>,
    /// Set when it ends: every task still working for it stops.
    ended: tokio::sync::watch::Sender<bool>,
    /// A bucket of a run: `--once` counts the run, not its buckets.
    pub(crate) in_run: bool,
}

impl Session {
    /// A new session; `hello` counts the hello and its answer.
    pub(crate) fn new(
        token: String,
        admitted: Admitted,
        protocol: Protocol,
        client_set_size: u64,
        linkage: Option<String>,
        streams: Streams,
        hello: Traffic,
    ) -> Self {
        let Admitted { owner, place, peer } = admitted;
        Session {
            token,
            owner,
            peer,
            protocol,
            schedule: Schedule::of(protocol, linkage.is_some()),
            started: Instant::now(),
            client_set_size,
            linkage,
            streams: Mutex::new(streams),
            bytes_in: AtomicU64::new(hello.bytes_received),
            bytes_out: AtomicU64::new(hello.bytes_sent),
            last_activity: Mutex::new(Instant::now()),
            place: Mutex::new(place),
            ended: tokio::sync::watch::channel(false).0,
            in_run: false,
        }
    }

    /// Its progress, for its owner (`GET /v1/sessions/{token}`): protocol,
    /// announced set size, bytes each way, seconds, and whether it is a
    /// bucket of a run.
    pub(crate) fn progress(&self) -> serde_json::Value {
        let t = self.traffic();
        let streams = match self.streams.lock().as_deref() {
            Ok(Streams::Pjc(s)) => s.progress(),
            _ => serde_json::Value::Null,
        };
        serde_json::json!({
            "streams": streams,
            "session": self.token,
            "protocol": self.protocol.name(),
            "client_set_size": self.client_set_size,
            "bytes_received": t.bytes_received,
            "bytes_sent": t.bytes_sent,
            "seconds": self.started.elapsed().as_secs_f64(),
            "idle_seconds": self.idle_for().as_secs_f64(),
            "linkage": self.linkage,
            "in_run": self.in_run,
        })
    }

    /// Marks it a bucket of a run.
    pub(crate) fn in_run(mut self, in_run: bool) -> Self {
        self.in_run = in_run;
        self
    }

    /// Resolves when the session has ended (at once if it has).
    pub(crate) fn ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.ended.subscribe();
        async move {
            let _ = rx.wait_for(|ended| *ended).await;
        }
    }

    /// Gives back its place under the session limit and stops every task
    /// still working for it (a producer blocked on a client that stopped
    /// reading, say), so nothing of it outlives it.
    pub(crate) fn release(&self) {
        self.ended.send_replace(true);
        if let Ok(mut p) = self.place.lock() {
            p.take();
        }
    }

    /// Runs `f` on the streams (a poisoned lock is refused as taken).
    pub(crate) fn with_streams<T>(
        &self,
        f: impl FnOnce(&mut Streams) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        match self.streams.lock() {
            Ok(mut s) => f(&mut s),
            Err(_) => Err(Refusal::Taken),
        }
    }

    /// Whether every stream ended.
    pub(crate) fn all_done(&self) -> bool {
        self.streams.lock().is_ok_and(|s| s.all_done())
    }

    /// Counts bytes received from the client.
    pub(crate) fn received(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts bytes sent to the client.
    pub(crate) fn sent(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// The bytes so far, from the server's side.
    pub(crate) fn traffic(&self) -> Traffic {
        Traffic {
            bytes_sent: self.bytes_out.load(Ordering::Relaxed),
            bytes_received: self.bytes_in.load(Ordering::Relaxed),
        }
    }

    /// Marks progress.
    pub(crate) fn touch(&self) {
        if let Ok(mut t) = self.last_activity.lock() {
            *t = Instant::now();
        }
    }

    /// Time since the last progress.
    pub(crate) fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }
}
