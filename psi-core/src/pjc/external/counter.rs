//! The counter of [`super`]: the in-memory counter's steps with its tags and
//! the responder's set handed to the caller's files.

use super::*;
use crate::pjc::counter::{finish_counting, tally, CounterContext, CounterStart};

/// The counting role with its set and state on disk.
pub struct StreamingCounter;

impl StreamingCounter {
    /// Starts a session over `set_size` distinct items, which the caller
    /// streams later. The hello and every secret are drawn from `rng` by the
    /// code [`Counter::start`] draws them with, so the same generator gives
    /// the same session.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        set_size: u64,
        params: &Params,
        limits: &Limits,
    ) -> Result<(StreamingExpectHello, PjcHello), Error> {
        let start = CounterStart::new(rng, set_size, params, limits)?;
        let hello = start.hello().clone();
        Ok((StreamingExpectHello { start }, hello))
    }
}

/// Counter, waiting for the responder's [`PjcHello`].
pub struct StreamingExpectHello {
    start: CounterStart,
}

/// The counter's two streams after the hellos.
pub struct StreamingCounterStreams {
    /// Masks the caller's items, chunk by chunk.
    pub masker: StreamingCounterMasker,
    /// Checks the responder's shuffled answers and says where each goes.
    pub tags: TagRouter,
}

impl StreamingExpectHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &PjcHello {
        self.start.hello()
    }

    /// Takes the responder's hello and splits into the two streams.
    pub fn receive(self, peer: PjcHello) -> Result<StreamingCounterStreams, Error> {
        let n = self.start.hello().set_size;
        let (session, ctx) = self.start.receive(&peer)?;
        let secret = ctx.secret.clone();
        let files = files_for(n.max(peer.set_size));
        Ok(StreamingCounterStreams {
            tags: TagRouter {
                expected: n,
                seen: 0,
                files,
                ctx,
            },
            masker: StreamingCounterMasker {
                session,
                secret,
                expected: n,
                sent: 0,
            },
        })
    }
}

/// Counter stream 1: masks the items the caller reads, chunk by chunk.
pub struct StreamingCounterMasker {
    session: Session,
    secret: Arc<Secret>,
    expected: u64,
    sent: u64,
}

impl StreamingCounterMasker {
    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// Items masked so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// `a·H(x)` for the next `items` (at most the codec's chunk limit, and
    /// never more in total than announced).
    pub fn mask(&mut self, items: &[Item]) -> Result<PointChunk, Error> {
        if items.len() > MAX_CHUNK_ITEMS as usize {
            return Err(Error::Misuse("a chunk holds at most MAX_CHUNK_ITEMS items"));
        }
        let got = self.sent + items.len() as u64;
        if got > self.expected {
            return Err(Error::Misuse("more items than the hello announced"));
        }
        self.sent = got;
        Ok(PointChunk {
            stream: PointStream::CounterMasked,
            points: mask_items(&self.session, &self.secret, items.len(), |i| &items[i]),
        })
    }

    /// Resumes a stream the responder already holds `items` of (a
    /// resumed session, [`super`]'s "Resuming"): counts them as sent
    /// without masking them again. The caller then masks the items after
    /// them, in the same order.
    pub fn skip(&mut self, items: u64) -> Result<(), Error> {
        let got = self.sent.saturating_add(items);
        if got > self.expected {
            return Err(Error::Misuse("more items than the hello announced"));
        }
        self.sent = got;
        Ok(())
    }

    /// Ends the stream: every announced item must have been masked.
    pub fn finish(self) -> Result<(), Error> {
        if self.sent != self.expected {
            return Err(Error::Misuse("fewer items than the hello announced"));
        }
        Ok(())
    }
}

/// Counts `items` more received on a stream announced at `expected`
/// (a resumed stream: what is already stored).
fn skip_received(
    seen: &mut u64,
    items: u64,
    expected: u64,
    stream: &'static str,
) -> Result<(), Error> {
    let got = seen.saturating_add(items);
    if got > expected {
        return Err(Error::UnexpectedCount {
            stream,
            expected,
            got,
        });
    }
    *seen = got;
    Ok(())
}

/// Counter stream 2: checks the responder's shuffled answers; the caller
/// stores each tag in the file [`TagRouter::prefix`] names.
pub struct TagRouter {
    expected: u64,
    seen: u64,
    files: usize,
    ctx: CounterContext,
}

fn prefix_of(tag: u128, files: usize) -> usize {
    // `files` is a power of two at most MAX_FILES (2^10) and a tag has at
    // least 2 bytes (`ecdh::tag_len`): the low bits are bits of the tag.
    (tag as usize) & (files - 1)
}

impl TagRouter {
    /// How many prefix files the caller keeps (a power of two).
    pub fn files(&self) -> usize {
        self.files
    }

    /// The file of `tag`.
    pub fn prefix(&self, tag: u128) -> usize {
        prefix_of(tag, self.files)
    }

    /// Uses `files` prefix files instead of [`files_for`]'s choice (a power
    /// of two up to [`MAX_FILES`]), before any tag arrived: tests and
    /// benchmarks cross file boundaries with small sets this way.
    pub fn set_files(&mut self, files: usize) -> Result<(), Error> {
        if self.seen > 0 || !files.is_power_of_two() || files > MAX_FILES {
            return Err(Error::Misuse(
                "prefix files: a power of two up to MAX_FILES, set before any tag",
            ));
        }
        self.files = files;
        Ok(())
    }

    /// Whether the session is one of the sums (the records carry ciphertexts).
    pub fn is_sum(&self) -> bool {
        is_sum(self.ctx.protocol)
    }

    /// Tags received so far.
    pub fn received(&self) -> u64 {
        self.seen
    }

    /// Resumes the stream after `tags` tags the caller already stored (a
    /// resumed session): the responder sends the rest in the same order.
    pub fn skip(&mut self, tags: u64) -> Result<(), Error> {
        skip_received(&mut self.seen, tags, self.expected, "shuffled tags")
    }

    /// Checks one chunk (tag length, count) and returns its tags.
    pub fn receive(&mut self, chunk: ShuffledTags) -> Result<Vec<u128>, Error> {
        let chunk = chunk.0;
        if chunk.tag_len != self.ctx.tag_len {
            return Err(Error::WrongTagLength {
                expected: self.ctx.tag_len,
                got: chunk.tag_len,
            });
        }
        let got = self.seen + chunk.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "shuffled tags",
                expected: self.expected,
                got,
            });
        }
        self.seen = got;
        Ok(chunk.tag_values().collect())
    }

    /// Ends the stream (every tag must have arrived) and becomes the
    /// consumer of the responder's set.
    pub fn finish(self) -> Result<QueryRouter, Error> {
        if self.seen != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "shuffled tags",
                expected: self.expected,
                got: self.seen,
            });
        }
        Ok(QueryRouter {
            own: self.expected,
            seen: 0,
            files: self.files,
            ctx: self.ctx,
        })
    }
}

/// Counter stream 3: re-masks the responder's set; the caller stores each
/// [`Query`] in the file of its tag's prefix.
pub struct QueryRouter {
    own: u64,
    seen: u64,
    files: usize,
    ctx: CounterContext,
}

impl QueryRouter {
    /// The file of `tag` (as [`TagRouter::prefix`]).
    pub fn prefix(&self, tag: u128) -> usize {
        prefix_of(tag, self.files)
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.seen
    }

    /// Whether the records carry ciphertexts (the sums).
    pub fn is_sum(&self) -> bool {
        is_sum(self.ctx.protocol)
    }

    /// Resumes the stream after `items` items the caller already stored (a
    /// resumed session): the responder sends the rest in the same order,
    /// and the next chunk's positions start at `items`.
    pub fn skip(&mut self, items: u64) -> Result<(), Error> {
        let expected = self.ctx.responder_size;
        skip_received(&mut self.seen, items, expected, "responder's set")
    }

    /// Checks and re-masks one chunk of the responder's set (the
    /// ciphertexts are checked when counted).
    pub fn receive(&mut self, chunk: ResponderSetChunk) -> Result<Vec<Query>, Error> {
        let (got, masked) = self.ctx.remask_chunk(self.seen, &chunk)?;
        let len = self.ctx.tag_len;
        let offset = self.seen;
        let queries = masked
            .par_iter()
            .enumerate()
            .map(|(i, c)| Query {
                tag: tag_of(c, len),
                index: offset + i as u64,
                ciphertext: chunk
                    .ciphertexts
                    .get(i)
                    .copied()
                    .unwrap_or([0; CIPHERTEXT_LEN]),
            })
            .collect();
        self.seen = got;
        Ok(queries)
    }

    /// Ends the stream (every item must have arrived); the caller then adds
    /// its files, prefix by prefix.
    pub fn finish(self) -> Result<Tally, Error> {
        self.ctx.check_complete(self.seen)?;
        Ok(Tally {
            own: self.own,
            own_counted: 0,
            next: 0,
            files: self.files,
            counted: 0,
            count: 0,
            sum: Ciphertext::zero(),
            ctx: self.ctx,
        })
    }
}

/// The counting, one prefix file at a time.
pub struct Tally {
    own: u64,
    own_counted: u64,
    next: usize,
    files: usize,
    counted: u64,
    count: u64,
    sum: Ciphertext,
    ctx: CounterContext,
}

impl Tally {
    /// The prefix the next [`Tally::add_prefix`] takes.
    pub fn next_prefix(&self) -> usize {
        self.next
    }

    /// How many prefix files there are.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Counts prefix `prefix` (they come in order, from 0): our tags of that
    /// prefix and the responder's items stored under it. Every item is
    /// treated alike, match or not (see the in-memory counter).
    pub fn add_prefix(
        &mut self,
        prefix: usize,
        mut own: Vec<u128>,
        queries: &[Query],
    ) -> Result<(), Error> {
        if prefix != self.next || prefix >= self.files {
            return Err(Error::Misuse(
                "prefix files are counted once each, in order",
            ));
        }
        let files = self.files;
        let misplaced = own.iter().any(|t| prefix_of(*t, files) != prefix)
            || queries.iter().any(|q| prefix_of(q.tag, files) != prefix);
        if misplaced {
            return Err(Error::Misuse("a record is in another prefix's file"));
        }
        own.par_sort_unstable();
        let tags: Vec<u128> = queries.iter().map(|q| q.tag).collect();
        let cts: Vec<[u8; CIPHERTEXT_LEN]> = if is_sum(self.ctx.protocol) {
            queries.iter().map(|q| q.ciphertext).collect()
        } else {
            Vec::new()
        };
        let (count, part) = tally(&own, &tags, &cts, |i| queries[i].index)?;
        self.count += count;
        self.sum = self.sum.add(&part);
        self.counted += queries.len() as u64;
        self.own_counted += own.len() as u64;
        self.next += 1;
        Ok(())
    }

    /// Ends the counting (every prefix added, every item of the responder's
    /// set counted once) and says what to do next, as the in-memory counter.
    pub fn finish(self) -> Result<CounterFinish, Error> {
        if self.next != self.files {
            return Err(Error::Misuse("every prefix file must be counted"));
        }
        if self.own_counted != self.own {
            return Err(Error::UnexpectedCount {
                stream: "our tags in the prefix files",
                expected: self.own,
                got: self.own_counted,
            });
        }
        if self.counted != self.ctx.responder_size {
            return Err(Error::UnexpectedCount {
                stream: "responder's items in the prefix files",
                expected: self.ctx.responder_size,
                got: self.counted,
            });
        }
        finish_counting(self.ctx, self.count, &self.sum)
    }
}
