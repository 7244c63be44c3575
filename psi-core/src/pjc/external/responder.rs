//! The responder of [`super`]: the in-memory responder's steps with its
//! answers and its own set shuffled on the caller's disk.

use super::*;
use crate::pjc::responder::sum_finale;

/// The responding role with its set and state on disk.
pub struct StreamingResponder;

impl StreamingResponder {
    /// Answers a counter's hello for a set of `set_size` distinct items
    /// which the caller streams later; in the sums, `total` is the sum of all
    /// its values (checked against `2^sum_bits` here and against the values
    /// as they are masked). Returns the hello to send back.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        set_size: u64,
        total: Option<u64>,
        params: &Params,
        counter: PjcHello,
        limits: &Limits,
    ) -> Result<(PjcHello, StreamingResponderStreams), Error> {
        params.check()?;
        check_size("our", set_size, limits)?;
        let keys = match (params.is_sum(), total) {
            (false, None) => None,
            (true, Some(total)) => {
                if u128::from(total) >= 1u128 << params.sum_bits {
                    return Err(Error::SumOutOfRange {
                        total,
                        sum_bits: params.sum_bits,
                    });
                }
                Some((SecretKey::generate(rng), total))
            }
            (true, None) => return Err(Error::Misuse("the sum protocols need values")),
            (false, Some(_)) => return Err(Error::Misuse("cardinality takes no values")),
        };
        let mut own = hello(rng, params, Role::Responder, set_size);
        own.public_key = keys.as_ref().map(|((_, pk), _)| pk.to_bytes());
        let secret = Arc::new(Secret::random(rng));
        let rng = Arc::new(SessionRng::new(rng));
        let (session, threshold) = agree(&own, &counter, limits)?;
        if counter.public_key.is_some() {
            return Err(Error::ParameterMismatch {
                what: "public key present",
                ours: 0,
                theirs: 1,
            });
        }
        let (finale, public, total) = match keys {
            None => (ResponderFinale::Nothing, None, 0),
            Some(((sk, pk), total)) => {
                let finale = sum_finale(
                    own.protocol,
                    sk,
                    threshold,
                    set_size.min(counter.set_size),
                    total,
                    own.sum_bits,
                );
                (finale, Some(pk), total)
            }
        };
        let streams = StreamingResponderStreams {
            answerer: StreamingAnswerer {
                tag_len: session.tag_len,
                secret: secret.clone(),
                expected: counter.set_size,
                seen: 0,
                rng: rng.clone(),
            },
            masker: StreamingResponderMasker {
                session,
                secret,
                public,
                expected: set_size,
                total,
                sent: 0,
                added: 0,
                chunks_sent: 0,
                rng,
            },
            finale,
        };
        Ok((own, streams))
    }
}

/// The responder's streams after the hellos, and its last step.
pub struct StreamingResponderStreams {
    /// Takes the counter's masked items; the caller scatters the tags.
    pub answerer: StreamingAnswerer,
    /// Masks the caller's items, which it has put in a random order.
    pub masker: StreamingResponderMasker,
    /// The last message the responder waits for, by protocol.
    pub finale: ResponderFinale,
}

/// Responder stream 1: re-masks the counter's items; the caller keeps the
/// tags in files for the external shuffle.
pub struct StreamingAnswerer {
    tag_len: u8,
    secret: Arc<Secret>,
    expected: u64,
    seen: u64,
    rng: Arc<SessionRng>,
}

impl StreamingAnswerer {
    /// How many items the counter announced.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.seen
    }

    /// Counts the first `received` items as taken: their tags are already
    /// stored by the caller (an earlier process of the same session, keyed
    /// the same way, scattered them). At most the announced count.
    pub fn resume_at(&mut self, received: u64) -> Result<(), Error> {
        if received > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got: received,
            });
        }
        self.seen = received;
        Ok(())
    }

    /// The generator of the external shuffle of the answers (which file
    /// each tag goes to, and the shuffle inside each file). Overwritten on drop.
    pub fn shuffle_rng(&self) -> ZeroizingRng {
        self.rng.stream(STREAM_SHUFFLE)
    }

    /// Checks and re-masks one chunk: `truncate(b·a·H(x))` for each point.
    pub fn receive(&mut self, chunk: PointChunk) -> Result<Vec<u128>, Error> {
        if chunk.stream != PointStream::CounterMasked {
            return Err(Error::Misuse(
                "only counter-masked chunks go to the responder",
            ));
        }
        let got = self.seen + chunk.points.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got,
            });
        }
        let masked = remask(&self.secret, &chunk.points, self.seen)?;
        self.seen = got;
        let len = self.tag_len;
        Ok(masked.par_iter().map(|c| tag_of(c, len)).collect())
    }

    /// Ends the stream (every announced item must have arrived).
    pub fn finish(self) -> Result<TagChunker, Error> {
        if self.seen != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got: self.seen,
            });
        }
        Ok(TagChunker {
            tag_len: self.tag_len,
        })
    }
}

/// Responder stream 2: encodes the shuffled answers the caller reads back.
pub struct TagChunker {
    tag_len: u8,
}

impl TagChunker {
    /// One chunk of at most [`MAX_CHUNK_ITEMS`] tags.
    pub fn chunk(&self, tags: &[u128]) -> Result<ShuffledTags, Error> {
        if tags.len() > MAX_CHUNK_ITEMS as usize {
            return Err(Error::Misuse("a chunk holds at most MAX_CHUNK_ITEMS tags"));
        }
        let len = usize::from(self.tag_len);
        let tags = tags
            .iter()
            .flat_map(|t| t.to_le_bytes().into_iter().take(len))
            .collect();
        Ok(ShuffledTags(TagChunk {
            tag_len: self.tag_len,
            tags,
        }))
    }
}

/// Responder stream 3: masks (and in the sums encrypts) its own items in
/// the order the caller gives them, which must be uniformly random
/// ([`StreamingResponderMasker::order_rng`]).
pub struct StreamingResponderMasker {
    session: Session,
    secret: Arc<Secret>,
    public: Option<PublicKey>,
    expected: u64,
    total: u64,
    sent: u64,
    added: u64,
    chunks_sent: u64,
    rng: Arc<SessionRng>,
}

impl StreamingResponderMasker {
    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// Whether values go with the items (the sums).
    pub fn is_sum(&self) -> bool {
        self.public.is_some()
    }

    /// Items masked so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The generator of the external shuffle of our set (independent of
    /// [`StreamingAnswerer::shuffle_rng`]). Overwritten on drop.
    pub fn order_rng(&self) -> ZeroizingRng {
        self.rng.stream(STREAM_ORDER)
    }

    /// The next chunk: `b·H(y)` for each item and, in the sums, `Enc(t_y)`
    /// with `values` (one per item, ignored in cardinality); at most
    /// [`MAX_RESPONDER_CHUNK_ITEMS`] items.
    pub fn mask(&mut self, items: &[Item], values: &[u64]) -> Result<ResponderSetChunk, Error> {
        let added = self.admit(items.len(), values)?;
        let points = mask_items(&self.session, &self.secret, items.len(), |i| &items[i]);
        let ciphertexts = match &self.public {
            None => Vec::new(),
            Some(pk) => {
                let mut rng = self.rng.stream(STREAM_CHUNKS + self.chunks_sent);
                let mut nonces: Vec<Scalar> =
                    values.iter().map(|_| random_scalar(&mut rng)).collect();
                let out = pk.encrypt_batch(values, &nonces);
                nonces.zeroize();
                out
            }
        };
        self.count(items.len(), added);
        Ok(ResponderSetChunk {
            points,
            ciphertexts,
        })
    }

    /// Checks the next chunk of `items` items with their `values` (in the
    /// sums): its size, the announced count, one value per item, each in
    /// range, their running total within the announced one. Returns the
    /// running total with them; nothing is counted yet ([`Self::count`]).
    fn admit(&self, items: usize, values: &[u64]) -> Result<u64, Error> {
        if items > MAX_RESPONDER_CHUNK_ITEMS as usize {
            return Err(Error::Misuse(
                "a chunk holds at most MAX_RESPONDER_CHUNK_ITEMS items",
            ));
        }
        if self.sent + items as u64 > self.expected {
            return Err(Error::Misuse("more items than the hello announced"));
        }
        if self.public.is_none() {
            return Ok(self.added);
        }
        if values.len() != items {
            return Err(Error::Misuse("one value per item is required"));
        }
        if let Some((i, &v)) = values.iter().enumerate().find(|(_, &v)| v > MAX_VALUE) {
            return Err(Error::ValueOutOfRange {
                index: self.sent + i as u64,
                value: v,
                limit: MAX_VALUE,
            });
        }
        let added = values.iter().fold(self.added, |a, &v| a.saturating_add(v));
        if added > self.total {
            return Err(Error::Misuse("the values add up to more than the total"));
        }
        Ok(added)
    }

    /// Counts a chunk [`Self::admit`] let through as sent.
    fn count(&mut self, items: usize, added: u64) {
        self.added = added;
        self.sent += items as u64;
        self.chunks_sent += 1;
    }

    /// Goes back to the start of the stream (a resumed session): the same
    /// keys and the same generator, so masking the same items in the same
    /// chunks again gives the same messages, byte for byte.
    pub fn rewind(&mut self) {
        self.sent = 0;
        self.added = 0;
        self.chunks_sent = 0;
    }

    /// Counts the next chunk (`items` items with their `values`, ignored in
    /// cardinality) as sent without masking it: what [`Self::mask`] checks
    /// and counts, so that the chunk after it is masked exactly as in a run
    /// that sent this one (its nonces come from its position).
    pub fn skip(&mut self, items: usize, values: &[u64]) -> Result<(), Error> {
        let added = self.admit(items, values)?;
        self.count(items, added);
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
