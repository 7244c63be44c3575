//! The two downloads of [`super::pjc_disk`]: each chunk's records into
//! the prefix files, a checkpoint (files synced, then the counts saved in
//! the state) at most every [`DiskOptions::checkpoint_every`], a resumed
//! download from the last checkpoint, and the acknowledgment of its end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use psi_core::codec::Codec;
use psi_core::pjc::external::{QueryRouter, TagRouter};
use psi_core::pjc::{ResponderSetChunk, ShuffledTags};
use psi_core::schedule::Stream;
use std::sync::Arc;

use super::pjc_resume::{CounterState, StreamMark};
use super::transport::Peer;
use crate::api;
use crate::scratch::RecordFiles;
use crate::Error;

/// Progress of a long phase: `(phase, done, total)`.
pub type OnProgress = Arc<dyn Fn(&'static str, u64, u64) + Send + Sync>;

/// How an external-memory run keeps its progress.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// The directory of its state and prefix files, kept between runs
    /// (the caller removes it once the run succeeded).
    pub dir: PathBuf,
    /// The least time between two checkpoints of a download.
    pub checkpoint_every: Duration,
    /// Tell the server at the end that we hold the result (a server that
    /// keeps its sessions then removes the sum's recorded answer); `false`
    /// leaves it, for a later call on the same directory.
    pub confirm: bool,
}

/// The session's streams at the server (its progress), or `None` when the
/// server no longer holds it or it does not resume.
pub(super) async fn session_streams(
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
pub(super) async fn stream_state(
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

/// A download's prefix files, opened at the last checkpoint, and when to
/// take the next.
pub(super) struct Stored {
    pub(super) files: RecordFiles,
    mark: StreamMark,
    every: Duration,
    last: Instant,
    total: u64,
    dir: PathBuf,
}

impl Stored {
    pub(super) fn open(
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
pub(super) trait Sink: Send + 'static {
    fn stored(&mut self) -> &mut Stored;
    /// Items received so far.
    fn received(&self) -> u64;
    /// Counts `items` already stored as received.
    fn skip(&mut self, items: u64) -> Result<(), Error>;
}

/// Downloads `stream` into `sink` from its last checkpoint (or not at all
/// if it is stored), checkpointing on the way, then acknowledges it.
pub(super) async fn receive<S: Sink>(
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

pub(super) struct TagSink {
    pub(super) router: TagRouter,
    pub(super) stored: Stored,
    pub(super) progress: OnProgress,
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
    pub(super) fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
        for t in self.router.receive(ShuffledTags::from_bytes(&message)?)? {
            self.stored
                .files
                .push(self.router.prefix(t), &t.to_le_bytes())?;
        }
        (self.progress)("answers", self.router.received(), self.stored.total);
        Ok(())
    }
}

pub(super) struct QuerySink {
    pub(super) router: QueryRouter,
    pub(super) stored: Stored,
    pub(super) sum: bool,
    pub(super) progress: OnProgress,
    pub(super) total: u64,
    pub(super) record: Vec<u8>,
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
    pub(super) fn each(&mut self, message: Vec<u8>) -> Result<(), Error> {
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
