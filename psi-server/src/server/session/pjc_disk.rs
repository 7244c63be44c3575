//! The responder's PSI-cardinality and PSI-sum streams in external memory
//! ([`psi_core::pjc::external`]), beside the in-memory ones: each stream's
//! state is one of two, dispatched without trait objects. The set comes
//! from a [`PjcSource`] (the server reads no table itself); the answers and
//! the set are shuffled through temporary files in a [`ScratchDir`] of the
//! session, removed when the session's states are dropped.
//!
//! Resuming ([`psi_core::pjc::external`]'s "Resuming"): a resumable client
//! names the position it continues from (`x-psi-from`). The answerer keeps
//! its state when the upload breaks off (its tags of the chunks it took are
//! scattered once), and the two downloads can start again at any chunk
//! boundary: their shuffles are [`Replayable`] (the files kept, the
//! generator copied), the set's masker rewound and the chunks before the
//! position counted, not masked, so every chunk is byte for byte the one
//! an uninterrupted stream sends. A kept session ([`super::pjc_keep`])
//! writes its answer files into its own directory and records them, synced,
//! when the upload ends, so a restarted server replays them
//! ([`replayed_streams`]).

use std::sync::Arc;

use psi_core::codec::{Codec, PointChunk, PointStream};
use psi_core::pjc::external::{
    files_for, read_set_records, write_set_record, StreamingAnswerer, StreamingResponderMasker,
    TagChunker, SET_RECORD_LEN, TAG_RECORD_LEN,
};
use psi_core::pjc::{ExpectCounterMasked, ResponderMasker, ShuffledTagSender};
use psi_core::rng::ZeroizingRng;

use super::pjc_keep::Kept;
use crate::scratch::{Replayable, ScratchDir, Shuffle, Shuffled};
use crate::server::pjc_source::PjcSource;

/// A failure of our disk: logged with the file, reported to the client
/// without it.
fn local(e: crate::Error) -> psi_core::Error {
    tracing::error!("external-memory session: {e}");
    psi_core::Error::Misuse("the server could not keep its temporary files (its log says why)")
}

/// Stream 1 (the counter's items): in memory, or tags scattered on disk.
pub(crate) enum PjcAnswerer {
    Memory(ExpectCounterMasked),
    Disk(Box<DiskAnswerer>),
}

/// Stream 2 (the shuffled answers).
pub(crate) enum PjcTags {
    Memory(ShuffledTagSender),
    Disk(Box<DiskTags>),
}

/// Stream 3 (our set, masked and shuffled).
// One per session, moved into and out of its lane once: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PjcSet {
    Memory(ResponderMasker),
    Disk(Box<DiskSet>),
}

pub(crate) struct DiskAnswerer {
    core: StreamingAnswerer,
    shuffle: Shuffle<ZeroizingRng>,
    chunk: usize,
    /// The session kept for a restart: its answer files are there, and the
    /// end of the upload is recorded.
    kept: Option<Arc<Kept>>,
}

pub(crate) struct DiskTags {
    chunker: TagChunker,
    replay: Replayable<ZeroizingRng>,
    /// The reader, from [`DiskTags::seek`]'s position.
    shuffled: Shuffled<ZeroizingRng>,
    /// Where the next [`PjcTags::next_message`] starts (`None`: go on).
    seek: Option<u64>,
    chunk: usize,
}

pub(crate) struct DiskSet {
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    dir: ScratchDir,
    /// Our set, scattered (on the first message).
    replay: Option<Replayable<ZeroizingRng>>,
    shuffled: Option<Shuffled<ZeroizingRng>>,
    seek: Option<u64>,
    chunk: usize,
}

fn chunk_of(chunk: usize) -> usize {
    chunk.clamp(1, psi_core::pjc::MAX_RESPONDER_CHUNK_ITEMS as usize)
}

/// The disk-backed streams of one session over `source`'s set; a `kept`
/// session's answer files go to its directory.
pub(crate) fn disk_streams(
    answerer: StreamingAnswerer,
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    chunk: usize,
    kept: Option<Arc<Kept>>,
) -> Result<(PjcAnswerer, PjcSet), psi_core::Error> {
    let dir = ScratchDir::create(source.scratch(), "pjc-session").map_err(local)?;
    let files = files_for(answerer.expected());
    let rng = answerer.shuffle_rng();
    let shuffle = match &kept {
        Some(k) => Shuffle::kept(k.dir(), ANSWERS, files, TAG_RECORD_LEN, rng),
        None => Shuffle::new(&dir, ANSWERS, files, TAG_RECORD_LEN, rng),
    }
    .map_err(local)?;
    let chunk = chunk_of(chunk);
    Ok((
        PjcAnswerer::Disk(Box::new(DiskAnswerer {
            core: answerer,
            shuffle,
            chunk,
            kept,
        })),
        disk_set(masker, source, dir, chunk),
    ))
}

fn disk_set(
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    dir: ScratchDir,
    chunk: usize,
) -> PjcSet {
    PjcSet::Disk(Box::new(DiskSet {
        masker,
        source,
        dir,
        replay: None,
        shuffled: None,
        seek: None,
        chunk,
    }))
}

/// The answer files' names.
const ANSWERS: &str = "answers";

/// A restarted server's streams of a kept session whose whole upload was
/// stored (`counts` records in its answer files): the shuffled answers
/// come back from those files in the same order, and our set as before.
pub(crate) fn replayed_streams(
    mut answerer: StreamingAnswerer,
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    chunk: usize,
    kept: &Kept,
    counts: &[u64],
) -> Result<(PjcTags, PjcSet), psi_core::Error> {
    let dir = ScratchDir::create(source.scratch(), "pjc-session").map_err(local)?;
    if counts.len() != files_for(answerer.expected())
        || counts.iter().sum::<u64>() != answerer.expected()
    {
        return Err(psi_core::Error::Misuse(
            "the kept answer files do not match the session",
        ));
    }
    let rng = answerer.shuffle_rng();
    let replay =
        Replayable::reopen(kept.dir(), ANSWERS, counts, TAG_RECORD_LEN, rng).map_err(local)?;
    answerer.resume_at(answerer.expected())?;
    let chunk = chunk_of(chunk);
    let tags = PjcTags::Disk(Box::new(DiskTags {
        chunker: answerer.finish()?,
        shuffled: replay.shuffled(),
        replay,
        seek: None,
        chunk,
    }));
    Ok((tags, disk_set(masker, source, dir, chunk)))
}

impl PjcAnswerer {
    /// Items taken so far, on disk (`None` in memory: not resumable).
    pub(crate) fn resumable_at(&self) -> Option<u64> {
        match self {
            PjcAnswerer::Memory(_) => None,
            PjcAnswerer::Disk(d) => Some(d.core.received()),
        }
    }

    pub(crate) fn process(&mut self, message: &[u8]) -> Result<(), psi_core::Error> {
        let chunk = PointChunk::decode(PointStream::CounterMasked, message)?;
        match self {
            PjcAnswerer::Memory(s) => s.receive(chunk),
            PjcAnswerer::Disk(d) => {
                for t in d.core.receive(chunk)? {
                    d.shuffle.push(&t.to_le_bytes()).map_err(local)?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn finish(self) -> Result<PjcTags, psi_core::Error> {
        match self {
            PjcAnswerer::Memory(s) => s.finish().map(PjcTags::Memory),
            PjcAnswerer::Disk(d) => {
                let d = *d;
                let chunker = d.core.finish()?;
                let replay = match &d.kept {
                    // Synced and recorded before the client hears the
                    // upload ended: a restarted server replays from them.
                    Some(kept) => {
                        let (replay, counts) = d.shuffle.finish_synced().map_err(local)?;
                        kept.update(|r| r.answers = Some(counts)).map_err(local)?;
                        replay
                    }
                    None => d.shuffle.finish_replayable().map_err(local)?,
                };
                Ok(PjcTags::Disk(Box::new(DiskTags {
                    chunker,
                    shuffled: replay.shuffled(),
                    replay,
                    seek: None,
                    chunk: d.chunk,
                })))
            }
        }
    }
}

/// Reads `shuffled` up to position `to` (a chunk boundary of batches of
/// `chunk`), handing each skipped batch to `skip`.
fn skip_to(
    shuffled: &mut Shuffled<ZeroizingRng>,
    to: u64,
    chunk: usize,
    record: usize,
    mut skip: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut at = 0u64;
    while at < to {
        let Some(bytes) = shuffled.next_batch(chunk).map_err(|e| e.to_string())? else {
            break;
        };
        at += (bytes.len() / record) as u64;
        skip(&bytes)?;
    }
    if at != to {
        return Err(format!(
            "the client resumes at item {to}, not where a chunk starts"
        ));
    }
    Ok(())
}

impl PjcTags {
    /// How many items the stream carries, and whether it resumes (on disk).
    pub(crate) fn resumable_total(&self) -> Option<u64> {
        match self {
            PjcTags::Memory(_) => None,
            PjcTags::Disk(d) => Some(d.replay.records()),
        }
    }

    /// Starts the stream again at item `from` (on disk; the next message
    /// seeks).
    pub(crate) fn start_at(&mut self, from: u64) {
        if let PjcTags::Disk(d) = self {
            d.seek = Some(from);
        }
    }

    /// The next message, `None` at the end; an error cuts the stream.
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self {
            PjcTags::Memory(s) => Ok(s.next_chunk().map(|c| c.to_bytes())),
            PjcTags::Disk(d) => {
                if let Some(from) = d.seek.take() {
                    d.shuffled = d.replay.shuffled();
                    skip_to(&mut d.shuffled, from, d.chunk, TAG_RECORD_LEN, |_| Ok(()))?;
                }
                let Some(bytes) = d.shuffled.next_batch(d.chunk).map_err(|e| e.to_string())? else {
                    return Ok(None);
                };
                let tags = psi_core::pjc::external::read_tags(&bytes)
                    .ok_or("a damaged temporary tag file")?;
                let chunk = d.chunker.chunk(&tags).map_err(|e| e.to_string())?;
                Ok(Some(chunk.to_bytes()))
            }
        }
    }
}

impl PjcSet {
    /// How many items the stream carries, and whether it resumes (on disk).
    pub(crate) fn resumable_total(&self) -> Option<u64> {
        match self {
            PjcSet::Memory(_) => None,
            PjcSet::Disk(d) => Some(d.source.distinct()),
        }
    }

    /// Starts the stream again at item `from` (on disk; the next message
    /// seeks).
    pub(crate) fn start_at(&mut self, from: u64) {
        if let PjcSet::Disk(d) = self {
            d.seek = Some(from);
        }
    }

    /// The next message, `None` at the end; an error cuts the stream.
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self {
            PjcSet::Memory(s) => Ok(s.next_chunk().map(|c| c.to_bytes())),
            PjcSet::Disk(d) => d.next_message(),
        }
    }
}

impl DiskSet {
    /// Shuffles our set onto disk (the first call), then masks it chunk by chunk.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.replay.is_none() {
            let replay = self.shuffle_set().map_err(|e| e.to_string())?;
            self.shuffled = Some(replay.shuffled());
            self.replay = Some(replay);
        }
        if let (Some(from), Some(replay)) = (self.seek.take(), &self.replay) {
            let mut shuffled = replay.shuffled();
            self.masker.rewind();
            let masker = &mut self.masker;
            skip_to(&mut shuffled, from, self.chunk, SET_RECORD_LEN, |bytes| {
                let (items, values) =
                    read_set_records(bytes).ok_or("a damaged temporary set file")?;
                masker.skip(items.len(), &values).map_err(|e| e.to_string())
            })?;
            self.shuffled = Some(shuffled);
        }
        let Some(shuffled) = self.shuffled.as_mut() else {
            return Ok(None);
        };
        let Some(bytes) = shuffled.next_batch(self.chunk).map_err(|e| e.to_string())? else {
            self.masker_done()?;
            return Ok(None);
        };
        let (items, values) = read_set_records(&bytes).ok_or("a damaged temporary set file")?;
        let chunk = self
            .masker
            .mask(&items, &values)
            .map_err(|e| e.to_string())?;
        Ok(Some(chunk.to_bytes()))
    }

    fn masker_done(&self) -> Result<(), String> {
        if self.masker.sent() != self.source.distinct() {
            return Err(format!(
                "the table gave {} keys where {} were announced",
                self.masker.sent(),
                self.source.distinct()
            ));
        }
        Ok(())
    }

    fn shuffle_set(&self) -> Result<Replayable<ZeroizingRng>, crate::Error> {
        let files = files_for(self.source.distinct());
        let rng = self.masker.order_rng();
        let mut shuffle = Shuffle::new(&self.dir, "set", files, SET_RECORD_LEN, rng)?;
        let mut record = Vec::with_capacity(SET_RECORD_LEN);
        let mut failed = None;
        let read = {
            let mut each = |items: &[psi_core::Item], values: &[u64]| {
                for (i, item) in items.iter().enumerate() {
                    record.clear();
                    write_set_record(item, values.get(i).copied().unwrap_or(0), &mut record);
                    if let Err(e) = shuffle.push(&record) {
                        let line = e.to_string();
                        failed = Some(e);
                        return Err(line);
                    }
                }
                Ok(())
            };
            self.source.for_each(&mut each)
        };
        if let Err(why) = read {
            return Err(failed.unwrap_or(crate::Error::Source(why)));
        }
        shuffle.finish_replayable()
    }
}
