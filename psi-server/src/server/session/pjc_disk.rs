//! The responder's PSI-cardinality and PSI-sum streams in external memory
//! ([`psi_core::pjc::external`]), beside the in-memory ones: each stream's
//! state is one of two, dispatched without trait objects. The set comes
//! from a [`PjcSource`] (the server reads no table itself); the answers and
//! the set are shuffled through temporary files in a [`ScratchDir`] of the
//! session, removed when the session's states are dropped.

use std::sync::Arc;

use psi_core::codec::{Codec, PointChunk, PointStream};
use psi_core::pjc::external::{
    files_for, read_set_records, write_set_record, StreamingAnswerer, StreamingResponderMasker,
    TagChunker, SET_RECORD_LEN, TAG_RECORD_LEN,
};
use psi_core::pjc::{ExpectCounterMasked, ResponderMasker, ShuffledTagSender};
use psi_core::rng::ZeroizingRng;

use crate::scratch::{ScratchDir, Shuffle, Shuffled};
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
}

pub(crate) struct DiskTags {
    chunker: TagChunker,
    shuffled: Shuffled<ZeroizingRng>,
    chunk: usize,
}

pub(crate) struct DiskSet {
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    dir: ScratchDir,
    shuffled: Option<Shuffled<ZeroizingRng>>,
    chunk: usize,
}

/// The disk-backed streams of one session over `source`'s set.
pub(crate) fn disk_streams(
    answerer: StreamingAnswerer,
    masker: StreamingResponderMasker,
    source: Arc<dyn PjcSource>,
    chunk: usize,
) -> Result<(PjcAnswerer, PjcSet), psi_core::Error> {
    let dir = ScratchDir::create(source.scratch(), "pjc-session").map_err(local)?;
    let files = files_for(answerer.expected());
    let rng = answerer.shuffle_rng();
    let shuffle = Shuffle::new(&dir, "answers", files, TAG_RECORD_LEN, rng).map_err(local)?;
    let chunk = chunk.clamp(1, psi_core::pjc::MAX_RESPONDER_CHUNK_ITEMS as usize);
    Ok((
        PjcAnswerer::Disk(Box::new(DiskAnswerer {
            core: answerer,
            shuffle,
            chunk,
        })),
        PjcSet::Disk(Box::new(DiskSet {
            masker,
            source,
            dir,
            shuffled: None,
            chunk,
        })),
    ))
}

impl PjcAnswerer {
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
                let shuffled = d.shuffle.finish().map_err(local)?;
                Ok(PjcTags::Disk(Box::new(DiskTags {
                    chunker,
                    shuffled,
                    chunk: d.chunk,
                })))
            }
        }
    }
}

impl PjcTags {
    /// The next message, `None` at the end; an error cuts the stream.
    pub(crate) fn next_message(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self {
            PjcTags::Memory(s) => Ok(s.next_chunk().map(|c| c.to_bytes())),
            PjcTags::Disk(d) => {
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
        if self.shuffled.is_none() {
            self.shuffled = Some(self.shuffle_set().map_err(|e| e.to_string())?);
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

    fn shuffle_set(&self) -> Result<Shuffled<ZeroizingRng>, crate::Error> {
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
        shuffle.finish()
    }
}
