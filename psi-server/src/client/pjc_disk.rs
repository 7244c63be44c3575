//! The client (counter) of PSI-cardinality and PSI-sum in external memory
//! ([`psi_core::pjc::external`]): the same messages as [`super::pjc`], with
//! our items read from the caller in batches, the server's answers and set
//! kept in prefix files, and the count made prefix by prefix. Memory: a
//! chunk in flight and one prefix file.
//!
//! **Resuming.** Everything lives in a directory the caller keeps between
//! runs ([`super::pjc_resume`]): the generator's seed (so the same hello,
//! exponent and session seed come back), the session, and per stream how
//! far it is stored. Called again on the same directory (after a dropped
//! connection, or in a new process after this one was killed), the run
//! asks the server where its session is and goes on from there: the upload
//! from the items the server holds, each download from the items stored
//! here at the last checkpoint (the prefix files are cut back to it). A
//! server that no longer has the session (it restarted, or waited longer
//! than its idle timeout), or one that does not resume (its set in memory),
//! means starting over: a new seed and a new session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use psi_core::codec::Codec;
use psi_core::pjc::external::{
    read_tags, Query, QueryRouter, StreamingCounter, StreamingCounterMasker,
    StreamingCounterStreams, TagRouter,
};
use psi_core::pjc::{self, PjcHello, ResponderSetChunk, ShuffledTags};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule::{self, Stream};
use psi_core::Item;
use zeroize::Zeroizing;

use super::config::ClientConfig;
use super::pjc::{finish_exchange, PjcRun};
use super::pjc_resume::{hello_hex, CounterState, StreamMark};
use super::transport::Peer;
use crate::api;
use crate::metrics::{Phases, Traffic};
use crate::scratch::{RecordFiles, WrittenFiles};
use crate::Error;

/// Our distinct items, in batches, each item once, from the first, and in
/// the same order every time (a resumed upload skips those the server
/// holds).
pub trait CounterItems: Send + 'static {
    /// How many distinct items there are in all.
    fn distinct(&self) -> u64;
    /// Up to `max` next items; `None` at the end. The error is one line.
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Item>>, String>;
}

/// Progress of a long phase: `(phase, done, total)`.
pub type OnProgress = Arc<dyn Fn(&'static str, u64, u64) + Send + Sync>;

/// What an external-memory run did beyond [`PjcRun`].
#[derive(Debug, Clone)]
pub struct DiskPjcRun {
    /// The run, as in memory.
    pub run: PjcRun,
    /// The most bytes the temporary files held at once.
    pub scratch_bytes: u64,
    /// How many prefix files the count went through.
    pub prefix_files: usize,
    /// Whether this call resumed a session (rather than starting one).
    pub resumed: bool,
}

/// How an external-memory run keeps its progress.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// The directory of its state and prefix files, kept between runs
    /// (the caller removes it once the run succeeded).
    pub dir: PathBuf,
    /// The least time between two checkpoints of a download.
    pub checkpoint_every: Duration,
}

/// Runs PSI-cardinality or PSI-sum as the counter against `peer`, like
/// [`super::run_pjc_client`] (same messages, same result), holding the sets
/// on disk in `options.dir`, and resuming the session kept there, if any.
pub async fn run_pjc_client_on_disk(
    peer: &str,
    mut items: Box<dyn CounterItems>,
    options: &DiskOptions,
    params: &pjc::Params,
    config: &ClientConfig,
    progress: OnProgress,
) -> Result<DiskPjcRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    let dir = options.dir.as_path();
    let t = Instant::now();
    let mut state = match CounterState::load(dir)? {
        Some(s) => s,
        None => CounterState::reset(dir, &new_seed()?)?,
    };
    let n = items.distinct();
    let mut resumed = false;
    if let Some(token) = state.token.clone() {
        match session_streams(&mut peer, &token, state.resumable).await? {
            Some(_) => resumed = true,
            // Cardinality with both downloads stored and acknowledged: the
            // server's session has ended, and the count needs nothing more.
            None if state.set.acked
                && params.protocol == psi_core::codec::Protocol::Cardinality =>
            {
                resumed = true
            }
            None => {
                tracing::warn!("the server no longer holds our session: starting it over");
                state = CounterState::reset(dir, &new_seed()?)?;
            }
        }
    }
    let (seed, p, limits) = (seed_of(&state, dir)?, params.clone(), config.limits.clone());
    let (start, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = ZeroizingRng::from_seed(&seed);
        StreamingCounter::start(&mut rng, n, &p, &limits)
    })
    .await??;
    let answer = match state.server_hello() {
        Some(bytes) => PjcHello::from_bytes(&bytes)?,
        None => {
            let opened = peer
                .hello(hello.to_bytes(), None, |b| Ok(PjcHello::from_bytes(b)?))
                .await?;
            state.token = Some(opened.token);
            state.server_hello = Some(hello_hex(&opened.answer.to_bytes()));
            state.resumable = opened.resumable;
            state.save(dir)?;
            opened.answer
        }
    };
    let token = state
        .token
        .clone()
        .ok_or(Error::Task("no session".into()))?;
    let resumable = state.resumable;
    let from = |at: u64| resumable.then_some(at);
    let server_set_size = answer.set_size;
    let StreamingCounterStreams { masker, tags } = start.receive(answer)?;
    let files = tags.files();
    let mut phases = Phases::new();
    phases.push("hello", t.elapsed());

    let t = Instant::now();
    let mut sent = 0;
    if !state.uploaded {
        let at = match resumed {
            true => upload_position(&mut peer, &token).await?,
            false => Some(0),
        };
        if let Some(at) = at {
            let mut upload = Upload {
                masker,
                items,
                chunk: config
                    .chunk_items
                    .clamp(1, psi_core::codec::MAX_CHUNK_ITEMS as usize),
                failed: None,
                progress: progress.clone(),
                total: n,
            };
            upload = tokio::task::spawn_blocking(move || upload.skip(at)).await??;
            let (upload, bytes) = peer
                .upload_from(
                    &token,
                    &schedule::CLIENT_MASKED,
                    from(at),
                    upload,
                    Upload::next,
                )
                .await?;
            sent = bytes;
            if let Some(e) = upload.failed {
                return Err(e);
            }
            upload.masker.finish().map_err(|_| {
                Error::Source("our items ended before the count we announced".into())
            })?;
            items = upload.items;
        }
        state.uploaded = true;
        state.save(dir)?;
    }
    drop(items);
    phases.push(schedule::CLIENT_MASKED.name, t.elapsed());

    let t = Instant::now();
    let sink = TagSink {
        router: tags,
        stored: Stored::open(dir, "tags", files, 16, &state.tags, options, n)?,
        progress: progress.clone(),
    };
    let (sink, tag_bytes, back) = receive(
        &mut peer,
        &token,
        &schedule::SHUFFLED_TAGS,
        state,
        sink,
        TagSink::each,
        |s| &mut s.tags,
    )
    .await?;
    state = back;
    let own = sink.stored.files.finish()?;
    let router = sink.router.finish()?;
    phases.push(schedule::SHUFFLED_TAGS.name, t.elapsed());

    let t = Instant::now();
    let sum = router.is_sum();
    let len = Query::record_len(sum);
    let sink = QuerySink {
        stored: Stored::open(dir, "set", files, len, &state.set, options, server_set_size)?,
        router,
        sum,
        progress: progress.clone(),
        total: server_set_size,
        record: Vec::new(),
    };
    let (sink, set_bytes, _) = receive(
        &mut peer,
        &token,
        &schedule::SERVER_MASKED,
        state,
        sink,
        QuerySink::each,
        |s| &mut s.set,
    )
    .await?;
    peer.count(Traffic {
        bytes_sent: sent,
        bytes_received: tag_bytes + set_bytes,
    });
    let queries = sink.stored.files.finish()?;
    let tally = sink.router.finish()?;
    phases.push(schedule::SERVER_MASKED.name, t.elapsed());

    let t = Instant::now();
    let scratch_bytes = dir_bytes(dir);
    let finish =
        tokio::task::spawn_blocking(move || count(tally, own, queries, sum, &progress)).await??;
    phases.push("count", t.elapsed());

    let t = Instant::now();
    let output = finish_exchange(&mut peer, &token, finish).await?;
    phases.push(schedule::SUM_EXCHANGE.name, t.elapsed());
    Ok(DiskPjcRun {
        run: PjcRun {
            output,
            server_set_size,
            session: token,
            traffic: peer.traffic(),
            phases,
        },
        scratch_bytes,
        prefix_files: files,
        resumed,
    })
}

fn new_seed() -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    let mut rng = ZeroizingRng::from_os_rng()
        .map_err(|_| psi_core::Error::Misuse("the operating system's random generator failed"))?;
    rand_core::RngCore::fill_bytes(&mut rng, &mut *seed);
    Ok(seed)
}

fn seed_of(state: &CounterState, dir: &Path) -> Result<Zeroizing<[u8; 32]>, Error> {
    state.seed().ok_or_else(|| Error::DamagedState {
        path: dir.join("session.json"),
        reason: "no seed".into(),
    })
}

/// The session's streams at the server (its progress), or `None` when the
/// server no longer holds it or it does not resume.
async fn session_streams(
    peer: &mut Peer<'_>,
    token: &str,
    resumable: bool,
) -> Result<Option<serde_json::Value>, Error> {
    if !resumable {
        return Ok(None);
    }
    match peer.get(&api::session_path(token), 64 * 1024).await {
        Ok((_, body)) => {
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|_| Error::NotPsi("its session progress is not JSON"))?;
            Ok(Some(json["streams"].clone()))
        }
        Err(Error::Peer { code, .. }) if code == api::code::UNKNOWN_SESSION => Ok(None),
        Err(e) => Err(e),
    }
}

/// The state of our session's `stream` at the server (`ready`, `done`,
/// `waiting`) and, for the upload, the items it holds. While the server
/// still runs the stream for a connection that broke (it notices soon),
/// waits, at most for our idle timeout.
async fn stream_state(
    peer: &mut Peer<'_>,
    token: &str,
    stream: &Stream,
) -> Result<(String, Option<u64>), Error> {
    let limit = Instant::now() + peer.config().idle_timeout;
    loop {
        let streams = session_streams(peer, token, true)
            .await?
            .ok_or(Error::Peer {
                status: 404,
                code: api::code::UNKNOWN_SESSION.into(),
                message: "the session ended while we resumed it".into(),
            })?;
        let lane = &streams[stream.name];
        match lane["state"].as_str() {
            Some("running") if Instant::now() < limit => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(state) => return Ok((state.to_string(), lane["received"].as_u64())),
            None => {
                return Err(Error::NotPsi(
                    "its session progress does not say where our streams stand",
                ))
            }
        }
    }
}

/// Where our upload resumes: the items the server holds, or `None` if it
/// has them all.
async fn upload_position(peer: &mut Peer<'_>, token: &str) -> Result<Option<u64>, Error> {
    match stream_state(peer, token, &schedule::CLIENT_MASKED).await? {
        (state, _) if state == "done" => Ok(None),
        (state, Some(at)) if state == "ready" => Ok(Some(at)),
        _ => Err(Error::NotPsi(
            "its session progress does not say where our upload stands",
        )),
    }
}

/// A download's prefix files, opened at the last checkpoint, and when to
/// take the next.
struct Stored {
    files: RecordFiles,
    mark: StreamMark,
    every: Duration,
    last: Instant,
    total: u64,
    dir: PathBuf,
}

impl Stored {
    fn open(
        dir: &Path,
        name: &str,
        files: usize,
        record_len: usize,
        mark: &StreamMark,
        options: &DiskOptions,
        total: u64,
    ) -> Result<Self, Error> {
        let counts = if mark.counts.len() == files {
            mark.counts.clone()
        } else if mark.received == 0 {
            vec![0; files]
        } else {
            return Err(Error::DamagedState {
                path: dir.join("session.json"),
                reason: format!(
                    "{} prefix files recorded where {files} are used",
                    mark.counts.len()
                ),
            });
        };
        Ok(Stored {
            files: RecordFiles::resume(dir, name, &counts, record_len)?,
            mark: mark.clone(),
            every: options.checkpoint_every,
            last: Instant::now(),
            total,
            dir: dir.to_path_buf(),
        })
    }

    /// Takes a checkpoint after `received` items if it is time (or `force`).
    fn checkpoint(
        &mut self,
        received: u64,
        force: bool,
        state: &mut CounterState,
        mark_of: fn(&mut CounterState) -> &mut StreamMark,
    ) -> Result<(), Error> {
        if !force && self.last.elapsed() < self.every {
            return Ok(());
        }
        self.mark.counts = self.files.checkpoint()?;
        self.mark.received = received;
        self.mark.stored = received == self.total;
        *mark_of(state) = self.mark.clone();
        state.save(&self.dir)?;
        self.last = Instant::now();
        Ok(())
    }
}

/// A download sink: its router and prefix files.
trait Sink: Send + 'static {
    fn stored(&mut self) -> &mut Stored;
    /// Items received so far.
    fn received(&self) -> u64;
    /// Counts `items` already stored as received.
    fn skip(&mut self, items: u64) -> Result<(), Error>;
}

/// Downloads `stream` into `sink` from its last checkpoint (or not at all
/// if it is stored), checkpointing on the way, then acknowledges it.
async fn receive<S: Sink>(
    peer: &mut Peer<'_>,
    token: &str,
    stream: &'static Stream,
    mut state: CounterState,
    mut sink: S,
    each: fn(&mut S, Vec<u8>) -> Result<(), Error>,
    mark_of: fn(&mut CounterState) -> &mut StreamMark,
) -> Result<(S, u64, CounterState), Error> {
    let mark = mark_of(&mut state).clone();
    sink.skip(mark.received)?;
    let mut bytes = 0;
    let resumable = state.resumable;
    if resumable && !mark.acked {
        // A connection of an earlier try may still hold the stream.
        stream_state(peer, token, stream).await?;
    }
    if !mark.stored {
        let from = resumable.then_some(mark.received);
        let mut run = Receiving {
            sink,
            state,
            each,
            mark_of,
        };
        (run, bytes) = peer
            .download_from(token, stream, from, run, Receiving::each)
            .await?;
        let received = run.sink.received();
        run.sink
            .stored()
            .checkpoint(received, true, &mut run.state, mark_of)?;
        (sink, state) = (run.sink, run.state);
        if !mark_of(&mut state).stored {
            return Err(Error::StreamCut(stream.name));
        }
    }
    if resumable && !mark_of(&mut state).acked {
        let total = sink.stored().total;
        peer.download_from(token, stream, Some(total), (), |_, _| {
            Err(Error::NotPsi("it sent more after the end of a stream"))
        })
        .await?;
        mark_of(&mut state).acked = true;
        state.save(&sink.stored().dir)?;
    }
    Ok((sink, bytes, state))
}

/// A download in progress with the state it checkpoints into.
struct Receiving<S: Sink> {
    sink: S,
    state: CounterState,
    each: fn(&mut S, Vec<u8>) -> Result<(), Error>,
    mark_of: fn(&mut CounterState) -> &mut StreamMark,
}

impl<S: Sink> Receiving<S> {
    fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        (self.each)(&mut self.sink, message)?;
        let received = self.sink.received();
        self.sink
            .stored()
            .checkpoint(received, false, &mut self.state, self.mark_of)
    }
}

/// Bytes in the files of `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Counts prefix file after prefix file.
fn count(
    mut tally: psi_core::pjc::external::Tally,
    own: WrittenFiles,
    queries: WrittenFiles,
    sum: bool,
    progress: &OnProgress,
) -> Result<psi_core::pjc::CounterFinish, Error> {
    let files = tally.files();
    for p in 0..files {
        let tags = own.read(p)?;
        let tags = read_tags(&tags).ok_or(Error::Task("a damaged tag file".into()))?;
        let bytes = queries.read(p)?;
        let qs: Vec<Query> = bytes
            .chunks_exact(Query::record_len(sum))
            .filter_map(|r| Query::read(r, sum))
            .collect();
        tally.add_prefix(p, tags, &qs)?;
        progress("count", p as u64 + 1, files as u64);
    }
    Ok(tally.finish()?)
}

struct Upload {
    masker: StreamingCounterMasker,
    items: Box<dyn CounterItems>,
    chunk: usize,
    failed: Option<Error>,
    progress: OnProgress,
    total: u64,
}

impl Upload {
    /// Skips the first `at` items (the server holds them).
    fn skip(mut self, at: u64) -> Result<Self, Error> {
        let mut left = at;
        while left > 0 {
            let max = usize::try_from(left.min(1 << 16)).unwrap_or(1 << 16);
            let got = match self.items.next_batch(max).map_err(Error::Source)? {
                Some(b) if !b.is_empty() => b.len() as u64,
                _ => {
                    return Err(Error::Source(
                        "our items ended before the server's count".into(),
                    ))
                }
            };
            left -= got.min(left);
        }
        self.masker.skip(at)?;
        Ok(self)
    }

    fn next(&mut self) -> Option<Vec<u8>> {
        let batch = match self.items.next_batch(self.chunk) {
            Ok(Some(b)) if !b.is_empty() => b,
            Ok(_) => return None,
            Err(e) => {
                self.failed = Some(Error::Source(e));
                return None;
            }
        };
        match self.masker.mask(&batch) {
            Ok(chunk) => {
                (self.progress)("upload", self.masker.sent(), self.total);
                Some(chunk.to_bytes())
            }
            Err(_) => {
                self.failed = Some(Error::Source(
                    "our items ran past the count we announced".into(),
                ));
                None
            }
        }
    }
}

struct TagSink {
    router: TagRouter,
    stored: Stored,
    progress: OnProgress,
}

impl Sink for TagSink {
    fn stored(&mut self) -> &mut Stored {
        &mut self.stored
    }
    fn received(&self) -> u64 {
        self.router.received()
    }
    fn skip(&mut self, items: u64) -> Result<(), Error> {
        Ok(self.router.skip(items)?)
    }
}

impl TagSink {
    fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        for t in self.router.receive(ShuffledTags::from_bytes(&message)?)? {
            self.stored
                .files
                .push(self.router.prefix(t), &t.to_le_bytes())?;
        }
        (self.progress)("answers", self.router.received(), self.stored.total);
        Ok(())
    }
}

struct QuerySink {
    router: QueryRouter,
    stored: Stored,
    sum: bool,
    progress: OnProgress,
    total: u64,
    record: Vec<u8>,
}

impl Sink for QuerySink {
    fn stored(&mut self) -> &mut Stored {
        &mut self.stored
    }
    fn received(&self) -> u64 {
        self.router.received()
    }
    fn skip(&mut self, items: u64) -> Result<(), Error> {
        Ok(self.router.skip(items)?)
    }
}

impl QuerySink {
    fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        for q in self
            .router
            .receive(ResponderSetChunk::from_bytes(&message)?)?
        {
            self.record.clear();
            q.write(self.sum, &mut self.record);
            self.stored
                .files
                .push(self.router.prefix(q.tag), &self.record)?;
        }
        (self.progress)("peer set", self.router.received(), self.total);
        Ok(())
    }
}
