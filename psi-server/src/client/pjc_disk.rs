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
//! server that keeps its sessions on disk takes ours up again after it
//! restarted or dropped it from memory. One that no longer has the session
//! (past its retention, another input), or one that does not resume (its
//! set in memory), means starting over: a new seed and a new session. In
//! the sums we confirm that we hold the answer (`DELETE` of the session),
//! so a server that recorded it can forget it.

use std::path::Path;
use std::time::Instant;

use psi_core::codec::Codec;
use psi_core::pjc::external::{
    read_tags, Query, StreamingCounter, StreamingCounterMasker, StreamingCounterStreams,
};
use psi_core::pjc::{self, PjcHello};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule;
use psi_core::Item;
use zeroize::Zeroizing;

use super::config::ClientConfig;
use super::pjc::{finish_exchange, PjcRun};
use super::pjc_resume::{hello_hex, CounterState};
use super::pjc_sinks::{receive, session_streams, stream_state, QuerySink, Stored, TagSink};
pub use super::pjc_sinks::{DiskOptions, OnProgress};
use super::transport::Peer;
use crate::metrics::{Phases, Traffic};
use crate::scratch::WrittenFiles;
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
    let scratch_bytes = crate::scratch::dir_bytes(dir);
    let finish =
        tokio::task::spawn_blocking(move || count(tally, own, queries, sum, &progress)).await??;
    phases.push("count", t.elapsed());

    let t = Instant::now();
    let sum_exchange = !matches!(finish, psi_core::pjc::CounterFinish::Cardinality(_));
    let output = finish_exchange(&mut peer, &token, finish).await?;
    if resumable && sum_exchange && options.confirm {
        // The server keeps the sum's answer for us until we confirm it.
        match peer.close(&token).await {
            Ok(()) => {}
            // It did not wait for us (it does not keep its sessions).
            Err(Error::Peer { code, .. }) if code == crate::api::code::UNKNOWN_SESSION => {}
            Err(e) => tracing::warn!("confirming the sum's answer to the server: {e}"),
        }
    }
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
