//! The responding party of PSI-cardinality and PSI-sum (see the module doc of
//! [`super`]): one typed state per protocol step.

use super::*;

/// The responding role (keys, and one value per key in the sum protocols; P2
/// in Ion et al.).
pub struct Responder;

/// The responder's key pair and values in the sum protocols.
struct ValueKeys {
    values: Arc<[u64]>,
    total: u64,
    secret: SecretKey,
    public: Arc<PublicKey>,
}

impl Responder {
    /// Starts a session over `items` (distinct; shared between sessions) with
    /// `values[i]` the value of `items[i]` in the sum protocols (`None` for
    /// cardinality). Checks every value and the total up front.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        values: Option<Arc<[u64]>>,
        params: &Params,
        limits: &Limits,
    ) -> Result<(ExpectCounterHello, PjcHello), Error> {
        params.check()?;
        check_size("our", items.len() as u64, limits)?;
        if items.len() > u32::MAX as usize {
            return Err(Error::SetTooLarge {
                who: "our",
                size: items.len() as u64,
                limit: u32::MAX.into(),
            });
        }
        let keys = match (params.is_sum(), values) {
            (false, None) => None,
            (true, Some(values)) => {
                if values.len() != items.len() {
                    return Err(Error::Misuse("one value per item is required"));
                }
                let mut total: u128 = 0;
                for (i, &v) in values.iter().enumerate() {
                    if v > MAX_VALUE {
                        return Err(Error::ValueOutOfRange {
                            index: i as u64,
                            value: v,
                            limit: MAX_VALUE,
                        });
                    }
                    total += u128::from(v);
                }
                if total >= 1u128 << params.sum_bits {
                    return Err(Error::SumOutOfRange {
                        total: u64::try_from(total).unwrap_or(u64::MAX),
                        sum_bits: params.sum_bits,
                    });
                }
                let (secret, public) = SecretKey::generate(rng);
                Some(ValueKeys {
                    values,
                    // total < 2^40 here.
                    total: u64::try_from(total).unwrap_or(u64::MAX),
                    secret,
                    public: Arc::new(public),
                })
            }
            (true, None) => return Err(Error::Misuse("the sum protocols need values")),
            (false, Some(_)) => return Err(Error::Misuse("cardinality takes no values")),
        };
        let mut hello = hello(rng, params, Role::Responder, items.len() as u64);
        hello.public_key = keys.as_ref().map(|k| k.public.to_bytes());
        let mut order: Vec<u32> = (0..items.len() as u32).collect();
        order.shuffle(rng);
        Ok((
            ExpectCounterHello {
                hello: hello.clone(),
                items,
                order,
                keys,
                secret: Arc::new(Secret::random(rng)),
                rng: SessionRng::new(rng),
                limits: limits.clone(),
            },
            hello,
        ))
    }

    /// [`Responder::start`] and [`ExpectCounterHello::receive`] in one step, for
    /// a server that answers a counter's hello: returns the hello to send back.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        values: Option<Arc<[u64]>>,
        params: &Params,
        counter: PjcHello,
        limits: &Limits,
    ) -> Result<(PjcHello, ResponderStreams), Error> {
        let (state, hello) = Self::start(rng, items, values, params, limits)?;
        Ok((hello, state.receive(counter)?))
    }
}

/// Responder, waiting for the counter's [`PjcHello`].
pub struct ExpectCounterHello {
    hello: PjcHello,
    items: Arc<[Item]>,
    order: Vec<u32>,
    keys: Option<ValueKeys>,
    secret: Arc<Secret>,
    rng: SessionRng,
    limits: Limits,
}

/// The responder's streams after the hellos, and its last step.
pub struct ResponderStreams {
    /// Takes the counter's masked items; when finished, becomes the sender of
    /// the shuffled answers.
    pub answerer: ExpectCounterMasked,
    /// Produces the responder's masked, shuffled set (independent stream).
    pub masker: ResponderMasker,
    /// The last message the responder waits for, by protocol.
    pub finale: ResponderFinale,
}

/// The responder's last step.
pub enum ResponderFinale {
    /// Cardinality: the responder is done after its streams.
    Nothing,
    /// Sum to the value holder: wait for the encrypted sum.
    ExpectSum(ExpectSumResult),
    /// Sum to the key holder: decrypt the masked sum for the counter.
    Decrypt(ExpectMaskedSum),
}

impl ExpectCounterHello {
    /// The hello this state sent.
    pub fn hello(&self) -> &PjcHello {
        &self.hello
    }

    /// Takes the counter's hello.
    pub fn receive(self, peer: PjcHello) -> Result<ResponderStreams, Error> {
        let (session, threshold) = agree(&self.hello, &peer, &self.limits)?;
        if peer.public_key.is_some() {
            return Err(Error::ParameterMismatch {
                what: "public key present",
                ours: 0,
                theirs: 1,
            });
        }
        let own_size = self.items.len() as u64;
        let (values, public, finale) = match self.keys {
            None => (None, None, ResponderFinale::Nothing),
            Some(k) => {
                let finale = sum_finale(
                    self.hello.protocol,
                    k.secret,
                    threshold,
                    own_size.min(peer.set_size),
                    k.total,
                    self.hello.sum_bits,
                );
                (Some(k.values), Some(k.public), finale)
            }
        };
        let rng = Arc::new(self.rng);
        Ok(ResponderStreams {
            answerer: ExpectCounterMasked {
                tag_len: session.tag_len,
                secret: self.secret.clone(),
                expected: peer.set_size,
                tags: Vec::with_capacity(up_front_capacity(peer.set_size)),
                rng: rng.clone(),
            },
            masker: ResponderMasker {
                session,
                secret: self.secret,
                items: self.items,
                values,
                public,
                order: self.order,
                next: 0,
                chunk: DEFAULT_CHUNK_ITEMS,
                chunks_sent: 0,
                rng,
            },
            finale,
        })
    }
}

/// The responder's last step in the sums: wait for the encrypted sum
/// (direction 1) or decrypt the masked one (direction 2).
pub(super) fn sum_finale(
    protocol: Protocol,
    secret: SecretKey,
    threshold: u64,
    max_count: u64,
    total: u64,
    sum_bits: u8,
) -> ResponderFinale {
    if protocol == Protocol::SumToValueHolder {
        ResponderFinale::ExpectSum(ExpectSumResult {
            secret,
            threshold,
            max_count,
            total,
            sum_bits,
        })
    } else {
        ResponderFinale::Decrypt(ExpectMaskedSum { secret })
    }
}

/// Responder stream 1: takes the counter's masked items and keeps their
/// doubly-masked tags until the stream ends.
pub struct ExpectCounterMasked {
    tag_len: u8,
    secret: Arc<Secret>,
    expected: u64,
    tags: Vec<u128>,
    rng: Arc<SessionRng>,
}

impl ExpectCounterMasked {
    /// Checks and re-masks one chunk.
    pub fn receive(&mut self, chunk: PointChunk) -> Result<(), Error> {
        if chunk.stream != PointStream::CounterMasked {
            return Err(Error::Misuse(
                "only counter-masked chunks go to the responder",
            ));
        }
        let seen = self.tags.len() as u64;
        let got = seen + chunk.points.len() as u64;
        if got > self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got,
            });
        }
        let len = self.tag_len;
        let masked = remask(&self.secret, &chunk.points, seen)?;
        self.tags.extend(masked.iter().map(|c| tag_of(c, len)));
        Ok(())
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.tags.len() as u64
    }

    /// Ends the stream (the counter must have sent every item it announced)
    /// and shuffles the answers.
    pub fn finish(self) -> Result<ShuffledTagSender, Error> {
        if self.tags.len() as u64 != self.expected {
            return Err(Error::UnexpectedCount {
                stream: "counter-masked points",
                expected: self.expected,
                got: self.tags.len() as u64,
            });
        }
        let mut tags = self.tags;
        tags.shuffle(&mut self.rng.stream(STREAM_SHUFFLE));
        Ok(ShuffledTagSender {
            tag_len: self.tag_len,
            tags,
            next: 0,
            chunk: DEFAULT_CHUNK_ITEMS,
        })
    }
}

/// Responder stream 2: sends the shuffled answers.
pub struct ShuffledTagSender {
    tag_len: u8,
    tags: Vec<u128>,
    next: usize,
    chunk: usize,
}

impl ShuffledTagSender {
    /// Sets the number of tags per chunk (clamped to the codec's limit).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = clamp_chunk(chunk);
    }

    /// The next chunk, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<ShuffledTags> {
        if self.next >= self.tags.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.tags.len());
        let len = usize::from(self.tag_len);
        let tags = self.tags[self.next..end]
            .iter()
            .flat_map(|t| t.to_le_bytes().into_iter().take(len))
            .collect();
        self.next = end;
        Some(ShuffledTags(TagChunk {
            tag_len: self.tag_len,
            tags,
        }))
    }
}

/// Responder stream 3: its own set, masked, in a fresh random order, with the
/// encryption of each value in the sum protocols.
pub struct ResponderMasker {
    session: Session,
    secret: Arc<Secret>,
    items: Arc<[Item]>,
    values: Option<Arc<[u64]>>,
    public: Option<Arc<PublicKey>>,
    order: Vec<u32>,
    next: usize,
    chunk: usize,
    chunks_sent: u64,
    rng: Arc<SessionRng>,
}

impl ResponderMasker {
    /// Sets the number of items per chunk (clamped to
    /// [`MAX_RESPONDER_CHUNK_ITEMS`]).
    pub fn set_chunk_items(&mut self, chunk: usize) {
        self.chunk = chunk.clamp(1, MAX_RESPONDER_CHUNK_ITEMS as usize);
    }

    /// The session id both sides derived.
    pub fn session_id(&self) -> [u8; 32] {
        self.session.id
    }

    /// The next chunk in shuffled order, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<ResponderSetChunk> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.chunk).min(self.order.len());
        let slice = &self.order[self.next..end];
        self.next = end;
        let items = &self.items;
        let points = mask_items(&self.session, &self.secret, slice.len(), |i| {
            &items[slice[i] as usize]
        });
        let ciphertexts = match (&self.values, &self.public) {
            (Some(values), Some(pk)) => {
                let mut rng = self.rng.stream(STREAM_CHUNKS + self.chunks_sent);
                let mut nonces: Vec<Scalar> =
                    slice.iter().map(|_| random_scalar(&mut rng)).collect();
                let vals: Vec<u64> = slice.iter().map(|&i| values[i as usize]).collect();
                let out = pk.encrypt_batch(&vals, &nonces);
                nonces.zeroize();
                out
            }
            _ => Vec::new(),
        };
        self.chunks_sent += 1;
        Some(ResponderSetChunk {
            points,
            ciphertexts,
        })
    }
}

/// Responder, direction 1: waits for the counter's encrypted sum.
pub struct ExpectSumResult {
    secret: SecretKey,
    threshold: u64,
    max_count: u64,
    total: u64,
    sum_bits: u8,
}

impl ExpectSumResult {
    /// Decrypts the sum (bounded discrete log), behind the threshold:
    /// [`ExpectSumResult::check`] then [`CheckedSum::vartime_decrypt`]. A
    /// server that must answer the counter first calls the two apart.
    pub fn receive(self, message: SumResult) -> Result<Outcome<SumOutput>, Error> {
        self.check(message)?.vartime_decrypt()
    }

    /// Checks the counter's message (the count against both sets, the
    /// ciphertext's points, the threshold) and decrypts it to the point
    /// `(Σ t)·G`, all in time that does not depend on the sum: what is left,
    /// the discrete log, is variable time and can wait until the counter has
    /// its answer.
    pub fn check(self, message: SumResult) -> Result<CheckedSum, Error> {
        let (count, ciphertext) = match message {
            SumResult::ThresholdNotMet => return Ok(CheckedSum(None)),
            SumResult::Sum { count, ciphertext } => (count, ciphertext),
        };
        if count > self.max_count {
            return Err(Error::UnexpectedCount {
                stream: "matches",
                expected: self.max_count,
                got: count,
            });
        }
        let ct = Ciphertext::from_bytes(&ciphertext, 0)?;
        if count < self.threshold {
            return Ok(CheckedSum(None));
        }
        Ok(CheckedSum(Some(SumPoint {
            point: self.secret.decrypt_point(&ct),
            count,
            bound: bound_for_count(count, self.sum_bits).min(self.total + 1),
            sum_bits: self.sum_bits,
        })))
    }
}

/// Responder, direction 1: a checked sum, decrypted to a point; `None` when
/// the threshold was not met.
pub struct CheckedSum(Option<SumPoint>);

struct SumPoint {
    point: curve25519_dalek::RistrettoPoint,
    count: u64,
    bound: u64,
    sum_bits: u8,
}

impl CheckedSum {
    /// Solves the bounded discrete log. **Variable time**: its running time
    /// reveals roughly the sum, so run it after the last message to the
    /// counter. [`Error::SumNotFound`] means the counter deviated.
    pub fn vartime_decrypt(self) -> Result<Outcome<SumOutput>, Error> {
        let Some(p) = self.0 else {
            return Ok(Outcome::ThresholdNotMet);
        };
        let sum = vartime_dlog(&p.point, p.bound).ok_or(Error::SumNotFound {
            sum_bits: p.sum_bits,
        })?;
        Ok(Outcome::Released(SumOutput {
            count: p.count,
            sum,
        }))
    }
}

/// Responder, direction 2: decrypts the counter's masked sum.
pub struct ExpectMaskedSum {
    secret: SecretKey,
}

impl ExpectMaskedSum {
    /// Decrypts to the point `(S + r)·G` (uniform to us) for the counter.
    pub fn receive(self, message: MaskedSum) -> Result<DecryptedSum, Error> {
        let ct = Ciphertext::from_bytes(&message.ciphertext, 0)?;
        Ok(DecryptedSum {
            point: self.secret.decrypt_point(&ct).compress().to_bytes(),
        })
    }
}
