//! The client (counter) of PSI-cardinality and PSI-sum in external memory
//! ([`psi_core::pjc::external`]): the same messages as [`super::pjc`], with
//! our items read from the caller in batches, the server's answers and set
//! kept in prefix files in a [`ScratchDir`], and the count made prefix by
//! prefix. Memory: a chunk in flight and one prefix file.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use psi_core::codec::Codec;
use psi_core::pjc::external::{
    read_tags, Query, QueryRouter, StreamingCounter, StreamingCounterMasker, TagRouter,
};
use psi_core::pjc::{self, PjcHello, ResponderSetChunk, ShuffledTags};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule;
use psi_core::Item;

use super::config::ClientConfig;
use super::pjc::{finish_exchange, PjcRun};
use super::transport::Peer;
use crate::metrics::{Phases, Traffic};
use crate::scratch::{RecordFiles, ScratchDir, WrittenFiles};
use crate::Error;

/// Our distinct items, in batches (any order, each item once).
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
}

/// Runs PSI-cardinality or PSI-sum as the counter against `peer`, like
/// [`super::run_pjc_client`] (same messages, same result), holding the sets
/// on disk under `scratch` (a fresh directory in it, removed at the end).
pub async fn run_pjc_client_on_disk(
    peer: &str,
    items: Box<dyn CounterItems>,
    scratch: &Path,
    params: &pjc::Params,
    config: &ClientConfig,
    progress: OnProgress,
) -> Result<DiskPjcRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    let dir = ScratchDir::create(scratch, "pjc-counter")?;
    let t = Instant::now();
    let (limits, p, n) = (config.limits.clone(), params.clone(), items.distinct());
    let (state, hello) = tokio::task::spawn_blocking(move || {
        let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
            psi_core::Error::Misuse("the operating system's random generator failed")
        })?;
        StreamingCounter::start(&mut rng, n, &p, &limits)
    })
    .await??;
    let opened = peer
        .hello(hello.to_bytes(), None, |b| Ok(PjcHello::from_bytes(b)?))
        .await?;
    let token = opened.token;
    let server_set_size = opened.answer.set_size;
    let streams = state.receive(opened.answer)?;
    let mut phases = Phases::new();
    phases.push("hello", t.elapsed());

    let t = Instant::now();
    let upload = Upload {
        masker: streams.masker,
        items,
        chunk: config
            .chunk_items
            .clamp(1, psi_core::codec::MAX_CHUNK_ITEMS as usize),
        failed: None,
        progress: progress.clone(),
        total: n,
    };
    let (upload, sent) = peer
        .upload(&token, &schedule::CLIENT_MASKED, upload, Upload::next)
        .await?;
    if let Some(e) = upload.failed {
        return Err(e);
    }
    upload
        .masker
        .finish()
        .map_err(|_| Error::Source("our items ended before the count we announced".into()))?;
    phases.push(schedule::CLIENT_MASKED.name, t.elapsed());

    let t = Instant::now();
    let files = streams.tags.files();
    let sink = TagSink {
        files: RecordFiles::create(&dir, "tags", files, 16)?,
        router: streams.tags,
        progress: progress.clone(),
    };
    let (sink, tag_bytes) = peer
        .download(&token, &schedule::SHUFFLED_TAGS, sink, TagSink::each)
        .await?;
    let own = sink.files.finish()?;
    let router = sink.router.finish()?;
    phases.push(schedule::SHUFFLED_TAGS.name, t.elapsed());

    let t = Instant::now();
    let sum = router.is_sum();
    let sink = QuerySink {
        files: RecordFiles::create(&dir, "set", files, Query::record_len(sum))?,
        router,
        sum,
        progress: progress.clone(),
        total: server_set_size,
        record: Vec::new(),
    };
    let (sink, set_bytes) = peer
        .download(&token, &schedule::SERVER_MASKED, sink, QuerySink::each)
        .await?;
    peer.count(Traffic {
        bytes_sent: sent,
        bytes_received: tag_bytes + set_bytes,
    });
    let queries = sink.files.finish()?;
    let tally = sink.router.finish()?;
    phases.push(schedule::SERVER_MASKED.name, t.elapsed());

    let t = Instant::now();
    let scratch_bytes = dir.bytes();
    let finish =
        tokio::task::spawn_blocking(move || count(tally, own, queries, sum, &progress)).await??;
    phases.push("count", t.elapsed());
    drop(dir);

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
    })
}

/// Counts prefix file after prefix file.
fn count(
    mut tally: psi_core::pjc::external::Tally,
    mut own: WrittenFiles,
    mut queries: WrittenFiles,
    sum: bool,
    progress: &OnProgress,
) -> Result<psi_core::pjc::CounterFinish, Error> {
    let files = tally.files();
    for p in 0..files {
        let tags = own.take(p)?;
        let tags = read_tags(&tags).ok_or(Error::Task("a damaged tag file".into()))?;
        let bytes = queries.take(p)?;
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
    files: RecordFiles,
    progress: OnProgress,
}

impl TagSink {
    fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        for t in self.router.receive(ShuffledTags::from_bytes(&message)?)? {
            self.files.push(self.router.prefix(t), &t.to_le_bytes())?;
        }
        (self.progress)("answers", self.router.received(), 0);
        Ok(())
    }
}

struct QuerySink {
    router: QueryRouter,
    files: RecordFiles,
    sum: bool,
    progress: OnProgress,
    total: u64,
    record: Vec<u8>,
}

impl QuerySink {
    fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        for q in self
            .router
            .receive(ResponderSetChunk::from_bytes(&message)?)?
        {
            self.record.clear();
            q.write(self.sum, &mut self.record);
            self.files.push(self.router.prefix(q.tag), &self.record)?;
        }
        (self.progress)("peer set", self.router.received(), self.total);
        Ok(())
    }
}
