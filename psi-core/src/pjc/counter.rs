//! The counting party of PSI-cardinality and PSI-sum (see the module doc of
//! [`super`]): one typed state per protocol step.

use super::*;

/// The counting role (keys only; P1 in Ion et al.).
pub struct Counter;

impl Counter {
    /// Starts a session over `items` (distinct). Returns the first state and
    /// the [`PjcHello`] to send.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        params: &Params,
        limits: &Limits,
    ) -> Result<(ExpectResponderHello, PjcHello), Error> {
        let start = CounterStart::new(rng, items.len() as u64, params, limits)?;
        let hello = start.hello().clone();
        Ok((ExpectResponderHello { start, items }, hello))
    }
}

/// The counter's state from its hello to the responder's, the same for the
/// counter in memory and the one on disk ([`super::external`]), so that both
/// draw the same session from the same generator and check the responder's
/// hello alike.
pub(super) struct CounterStart {
    hello: PjcHello,
    secret: Arc<Secret>,
    rng: SessionRng,
    limits: Limits,
}

impl CounterStart {
    /// Checks `params` and our set's size, then draws from `rng`, in this
    /// order, the hello, the secret scalar and the session's seed.
    pub(super) fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        set_size: u64,
        params: &Params,
        limits: &Limits,
    ) -> Result<Self, Error> {
        params.check()?;
        check_size("our", set_size, limits)?;
        let hello = hello(rng, params, Role::Counter, set_size);
        let secret = Arc::new(Secret::random(rng));
        let rng = SessionRng::new(rng);
        Ok(CounterStart {
            hello,
            secret,
            rng,
            limits: limits.clone(),
        })
    }

    /// The hello this counter sent.
    pub(super) fn hello(&self) -> &PjcHello {
        &self.hello
    }

    /// Takes the responder's hello: the session both sides derived, and
    /// what the counter carries from here to the end (the secret among it).
    pub(super) fn receive(self, peer: &PjcHello) -> Result<(Session, CounterContext), Error> {
        let (session, threshold) = agree(&self.hello, peer, &self.limits)?;
        let public_key = match (is_sum(self.hello.protocol), &peer.public_key) {
            (true, Some(pk)) => Some(PublicKey::from_bytes(pk)?),
            (false, None) => None,
            (expected, _) => {
                return Err(Error::ParameterMismatch {
                    what: "public key present",
                    ours: expected.into(),
                    theirs: peer.public_key.is_some().into(),
                })
            }
        };
        let ctx = CounterContext {
            protocol: self.hello.protocol,
            secret: self.secret,
            public_key,
            threshold,
            sum_bits: self.hello.sum_bits,
            tag_len: session.tag_len,
            responder_size: peer.set_size,
            rng: self.rng,
        };
        Ok((session, ctx))
    }
}

/// Counter, waiting for the responder's [`PjcHello`].
pub struct ExpectResponderHello {
    start: CounterStart,
    items: Vec<Item>,
}

/// The counter's two streams after the hellos.
pub struct CounterStreams {
    /// Produces the counter's masked items, to send to the responder.
    pub masker: CounterMasker,
    /// Consumes the responder's shuffled answers; when finished, becomes the
    /// consumer of the responder's set.
    pub tags: ExpectShuffledTags,
}

impl ExpectResponderHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &PjcHello {
        self.start.hello()
    }

    /// Takes the responder's hello and splits into the two streams.
    pub fn receive(self, peer: PjcHello) -> Result<CounterStreams, Error> {
        let (session, ctx) = self.start.receive(&peer)?;
        let secret = ctx.secret.clone();
        let n = self.items.len() as u64;
        Ok(CounterStreams {
            tags: ExpectShuffledTags {
                tags: TagCollector::new("shuffled tags", session.tag_len, n, self.items.len()),
                ctx,
            },
            masker: CounterMasker {
                session,
                secret,
                items: self.items,
                next: 0,
                chunk: DEFAULT_CHUNK_ITEMS,
            },
        })
    }
}

/// Counter stream 1: masks its items chunk by chunk.
pub struct CounterMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Vec<Item>,
    next: usize,
    chunk: usize,
}

impl CounterMasker {
    /// Sets the number of items per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The next chunk of `a·H(x)`, or `None` when every item was sent.
    pub fn next_chunk(&mut self) -> Option<PointChunk> {
        if self.next >= self.items.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.items.len());
        let slice = &self.items[self.next..end];
        self.next = end;
        Some(PointChunk {
            stream: PointStream::CounterMasked,
            points: mask_items(&self.session, &self.secret, slice.len(), |i| &slice[i]),
        })
    }
}

/// What the counter carries from the hellos to the end.
pub(super) struct CounterContext {
    pub(super) protocol: Protocol,
    pub(super) secret: Arc<Secret>,
    pub(super) public_key: Option<PublicKey>,
    pub(super) threshold: u64,
    pub(super) sum_bits: u8,
    pub(super) tag_len: u8,
    pub(super) responder_size: u64,
    pub(super) rng: SessionRng,
}

impl CounterContext {
    /// Checks one chunk of the responder's set, `seen` items into it (no more
    /// items than announced, a ciphertext per item in the sums and none
    /// otherwise), and re-masks its points: the count of items seen with
    /// it, and `b·a·H(y)` of each.
    pub(super) fn remask_chunk(
        &self,
        seen: u64,
        chunk: &ResponderSetChunk,
    ) -> Result<(u64, Vec<CompressedRistretto>), Error> {
        let got = seen + chunk.points.len() as u64;
        if got > self.responder_size {
            return Err(Error::UnexpectedCount {
                stream: "responder's set",
                expected: self.responder_size,
                got,
            });
        }
        let want_cts = if is_sum(self.protocol) {
            chunk.points.len()
        } else {
            0
        };
        if chunk.ciphertexts.len() != want_cts {
            return Err(Error::UnexpectedCount {
                stream: "ciphertexts in a responder chunk",
                expected: want_cts as u64,
                got: chunk.ciphertexts.len() as u64,
            });
        }
        Ok((got, remask(&self.secret, &chunk.points, seen)?))
    }

    /// Checks that all of the responder's set arrived (`seen` items).
    pub(super) fn check_complete(&self, seen: u64) -> Result<(), Error> {
        if seen != self.responder_size {
            return Err(Error::UnexpectedCount {
                stream: "responder's set",
                expected: self.responder_size,
                got: seen,
            });
        }
        Ok(())
    }
}

/// Counter stream 2: the responder's answers to the counter's items, shuffled.
pub struct ExpectShuffledTags {
    tags: TagCollector,
    ctx: CounterContext,
}

impl ExpectShuffledTags {
    /// Takes one chunk of shuffled tags.
    pub fn receive(&mut self, chunk: ShuffledTags) -> Result<(), Error> {
        self.tags.receive(&chunk.0)
    }

    /// Ends the stream (every tag must have arrived) and becomes the consumer
    /// of the responder's set.
    pub fn finish(self) -> Result<ExpectResponderSet, Error> {
        let mut own_tags = self.tags.finish()?;
        own_tags.par_sort_unstable();
        Ok(ExpectResponderSet {
            own_tags,
            seen: 0,
            count: 0,
            sum: Ciphertext::zero(),
            ctx: self.ctx,
        })
    }
}

/// Counter stream 3: the responder's masked, shuffled set (with encrypted
/// values in the sum protocols); counts the matches and sums their ciphertexts.
pub struct ExpectResponderSet {
    own_tags: Vec<u128>,
    seen: u64,
    count: u64,
    sum: Ciphertext,
    ctx: CounterContext,
}

/// What the counter does once the responder's set is in.
pub enum CounterFinish {
    /// Cardinality: the result; no more messages.
    Cardinality(Outcome<u64>),
    /// Sum to the value holder: send `message`, then the counter is done. The
    /// counter itself sees the count (it computed it).
    SendSum {
        /// The message for the responder.
        message: SumResult,
        /// The count as the counter sees it, behind the same threshold.
        count: Outcome<u64>,
    },
    /// Sum to the key holder: send `message` and wait for the decryption.
    SendMaskedSum {
        /// The message for the responder.
        message: MaskedSum,
        /// The state that takes the answer.
        next: ExpectDecryptedSum,
    },
}

impl ExpectResponderSet {
    /// Takes one chunk of the responder's set.
    pub fn receive(&mut self, chunk: ResponderSetChunk) -> Result<(), Error> {
        let (got, masked) = self.ctx.remask_chunk(self.seen, &chunk)?;
        let len = self.ctx.tag_len;
        let tags: Vec<u128> = masked.par_iter().map(|c| tag_of(c, len)).collect();
        let offset = self.seen;
        let (count, part) = tally(&self.own_tags, &tags, &chunk.ciphertexts, |i| {
            offset + i as u64
        })?;
        self.sum = self.sum.add(&part);
        self.count += count;
        self.seen = got;
        Ok(())
    }

    /// Ends the stream (every item must have arrived) and says what to do next.
    pub fn finish(self) -> Result<CounterFinish, Error> {
        self.ctx.check_complete(self.seen)?;
        finish_counting(self.ctx, self.count, &self.sum)
    }
}

/// Counts the `tags` (the responder's items, re-masked by us) found in `own`
/// (sorted) and, when `ciphertexts` is not empty (the sums), adds the
/// ciphertexts of the matches; `index(i)` is the stream position of item `i`,
/// for errors. Every item is treated alike, match or not, so the time this
/// takes does not depend on the number of matches: the lookup is a
/// fixed-length binary search, and in the sums every ciphertext is decoded,
/// selected without a branch (itself or the encryption of 0 with nonce 0)
/// and added.
pub(super) fn tally(
    own: &[u128],
    tags: &[u128],
    ciphertexts: &[[u8; CIPHERTEXT_LEN]],
    index: impl Fn(usize) -> u64 + Sync,
) -> Result<(u64, Ciphertext), Error> {
    let found: Vec<Choice> = tags
        .par_iter()
        .map(|t| Choice::from(u8::from(own.binary_search(t).is_ok())))
        .collect();
    let sum = if ciphertexts.is_empty() {
        Ciphertext::zero()
    } else {
        ciphertexts
            .par_iter()
            .zip(&found)
            .enumerate()
            .map(|(i, (ct, &found))| {
                Ciphertext::from_bytes(ct, index(i)).map(|ct| ct.or_zero(found))
            })
            .try_reduce(Ciphertext::zero, |a, b| Ok(a.add(&b)))?
    };
    let count = found.iter().map(|f| u64::from(f.unwrap_u8())).sum::<u64>();
    Ok((count, sum))
}

/// The counter's last step once every item of the responder's set is
/// counted: the result (cardinality) or the message to send (the sums).
pub(super) fn finish_counting(
    ctx: CounterContext,
    count: u64,
    sum: &Ciphertext,
) -> Result<CounterFinish, Error> {
    let released = outcome(count, ctx.threshold, count);
    let pk = match (&ctx.public_key, ctx.protocol) {
        (_, Protocol::Cardinality) => return Ok(CounterFinish::Cardinality(released)),
        (Some(pk), _) => pk,
        (None, _) => return Err(Error::Misuse("sum protocol without a public key")),
    };
    let mut rng = ctx.rng.stream(STREAM_FINALE);
    let k = Zeroizing::new(random_scalar(&mut rng));
    if ctx.protocol == Protocol::SumToValueHolder {
        let message = if count < ctx.threshold {
            SumResult::ThresholdNotMet
        } else {
            SumResult::Sum {
                count,
                ciphertext: pk.add_encrypted(sum, &Scalar::ZERO, &k).to_bytes(),
            }
        };
        return Ok(CounterFinish::SendSum {
            message,
            count: released,
        });
    }
    let mask = Zeroizing::new(random_scalar(&mut rng));
    let ciphertext = pk.add_encrypted(sum, &mask, &k).to_bytes();
    Ok(CounterFinish::SendMaskedSum {
        message: MaskedSum { ciphertext },
        next: ExpectDecryptedSum {
            mask,
            count,
            threshold: ctx.threshold,
            sum_bits: ctx.sum_bits,
        },
    })
}

/// Counter, direction 2: waits for the value holder's decryption of the masked sum.
pub struct ExpectDecryptedSum {
    mask: Zeroizing<Scalar>,
    count: u64,
    threshold: u64,
    sum_bits: u8,
}

impl ExpectDecryptedSum {
    /// Removes the mask and solves the bounded discrete log.
    pub fn receive(self, answer: DecryptedSum) -> Result<Outcome<SumOutput>, Error> {
        let point = CompressedRistretto(answer.point)
            .decompress()
            .ok_or(Error::InvalidPoint { index: 0 })?;
        if self.count < self.threshold {
            return Ok(Outcome::ThresholdNotMet);
        }
        let unmasked = point - curve25519_dalek::RistrettoPoint::mul_base(&self.mask);
        let sum = vartime_dlog(&unmasked, bound_for_count(self.count, self.sum_bits)).ok_or(
            Error::SumNotFound {
                sum_bits: self.sum_bits,
            },
        )?;
        Ok(Outcome::Released(SumOutput {
            count: self.count,
            sum,
        }))
    }
}
