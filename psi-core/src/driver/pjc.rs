//! PSI-cardinality and PSI-sum ([`crate::pjc`]) as two [`Party`] adapters,
//! run by [`run_cardinality`] and [`run_sum`] on the
//! [`crate::schedule::CARDINALITY`] and [`crate::schedule::SUM`] schedules: the counter
//! (client) sends its masked items; the responder (server) sends the
//! shuffled tags once they have all arrived, and its own set at once; the
//! counter takes the set only after the tags. In the sums, the counter then
//! sends its sum: answered by nothing (sum to the value holder) or by the
//! [`DecryptedSum`] (sum to the key holder).

use std::sync::Arc;

use rand_core::CryptoRng;

use super::{is, Outgoing, Pair, Party, HELLO};
use crate::codec::{Codec, DecodeError, PointChunk, PointStream, Protocol};
use crate::pjc::{
    self, CounterFinish, DecryptedSum, MaskedSum, Outcome, PjcHello, ResponderFinale,
    ResponderSetChunk, ShuffledTags, SumOutput, SumResult,
};
use crate::schedule::{
    Schedule, Stream, CLIENT_MASKED, SERVER_MASKED, SHUFFLED_TAGS, SUM_EXCHANGE,
};
use crate::{Error, Item, Limits};

/// The PJC counter (the key holder, the client) as a [`Party`]: sends
/// [`CLIENT_MASKED`] and, in the sums, [`SUM_EXCHANGE`]; receives
/// [`SHUFFLED_TAGS`] then [`SERVER_MASKED`].
pub struct Counter {
    /// `None` before the hellos and once every chunk was sent.
    masker: Option<pjc::CounterMasker>,
    state: CounterState,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per party, moved only when its state changes: boxing buys nothing"
)]
enum CounterState {
    ExpectHello(pjc::ExpectResponderHello),
    ExpectTags(pjc::ExpectShuffledTags),
    ExpectSet(pjc::ExpectResponderSet),
    /// The set is in; a sum to send.
    SendSum(CounterFinish),
    /// Sum to the value holder: the sum is sent, the answer is empty.
    ExpectNothing(Outcome<u64>),
    /// Sum to the key holder: waits for the decrypted sum.
    ExpectDecrypted(pjc::ExpectDecryptedSum),
    Done(CounterOutput),
    /// A step failed.
    Failed,
}

/// What the counter learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterOutput {
    /// PSI-cardinality: the size of the intersection.
    Cardinality(Outcome<u64>),
    /// Sum to the value holder: the counter sent the sum and sees the count.
    SentSum(Outcome<u64>),
    /// Sum to the key holder: the count and the sum.
    Sum(Outcome<SumOutput>),
}

impl Counter {
    /// Starts a counter over `items` (distinct); returns it and its hello.
    pub fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Vec<Item>,
        params: &pjc::Params,
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let (state, hello) = pjc::Counter::start(rng, items, params, limits)?;
        let counter = Counter {
            masker: None,
            state: CounterState::ExpectHello(state),
        };
        Ok((counter, hello.to_bytes()))
    }

    /// What the counter learned, once it is done.
    pub fn finish(self) -> Result<CounterOutput, Error> {
        match self.state {
            CounterState::Done(output) if self.masker.is_none() => Ok(output),
            _ => Err(Error::Misuse("the PJC counter has not finished")),
        }
    }
}

impl Party for Counter {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if is(stream, &CLIENT_MASKED) {
            if let CounterState::ExpectHello(_) = self.state {
                return Err(Error::Misuse("counter-masked before the hellos"));
            }
            return Ok(match self.masker.as_mut().and_then(|m| m.next_chunk()) {
                Some(chunk) => Outgoing::Message(chunk.to_bytes()),
                None => {
                    self.masker = None;
                    Outgoing::Ended
                }
            });
        }
        if !is(stream, &SUM_EXCHANGE) {
            return Err(Error::Misuse("a stream the PJC counter does not send"));
        }
        let (message, next) = match std::mem::replace(&mut self.state, CounterState::Failed) {
            state @ (CounterState::ExpectTags(_) | CounterState::ExpectSet(_)) => {
                self.state = state;
                return Ok(Outgoing::Later);
            }
            CounterState::SendSum(CounterFinish::SendSum { message, count }) => {
                (message.to_bytes(), CounterState::ExpectNothing(count))
            }
            CounterState::SendSum(CounterFinish::SendMaskedSum { message, next }) => {
                (message.to_bytes(), CounterState::ExpectDecrypted(next))
            }
            _ => return Err(Error::Misuse("no sum to send")),
        };
        self.state = next;
        Ok(Outgoing::Message(message))
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let state = std::mem::replace(&mut self.state, CounterState::Failed);
        self.state = match (state, message) {
            (CounterState::ExpectHello(state), Some(m)) if is(stream, &HELLO) => {
                let streams = state.receive(PjcHello::from_bytes(&m)?)?;
                self.masker = Some(streams.masker);
                CounterState::ExpectTags(streams.tags)
            }
            (CounterState::ExpectTags(mut tags), Some(m)) if is(stream, &SHUFFLED_TAGS) => {
                tags.receive(ShuffledTags::from_bytes(&m)?)?;
                CounterState::ExpectTags(tags)
            }
            (CounterState::ExpectTags(tags), None) if is(stream, &SHUFFLED_TAGS) => {
                CounterState::ExpectSet(tags.finish()?)
            }
            (CounterState::ExpectSet(mut set), Some(m)) if is(stream, &SERVER_MASKED) => {
                set.receive(ResponderSetChunk::from_bytes(&m)?)?;
                CounterState::ExpectSet(set)
            }
            (CounterState::ExpectSet(set), None) if is(stream, &SERVER_MASKED) => {
                match set.finish()? {
                    CounterFinish::Cardinality(count) => {
                        CounterState::Done(CounterOutput::Cardinality(count))
                    }
                    sum => CounterState::SendSum(sum),
                }
            }
            (CounterState::ExpectNothing(count), Some(m)) if is(stream, &SUM_EXCHANGE) => {
                if !m.is_empty() {
                    return Err(DecodeError::TrailingBytes(m.len()).into());
                }
                CounterState::Done(CounterOutput::SentSum(count))
            }
            (CounterState::ExpectDecrypted(next), Some(m)) if is(stream, &SUM_EXCHANGE) => {
                let output = next.receive(DecryptedSum::from_bytes(&m)?)?;
                CounterState::Done(CounterOutput::Sum(output))
            }
            _ => {
                return Err(Error::Misuse(
                    "a message the PJC counter cannot take in its state",
                ))
            }
        };
        Ok(None)
    }
}

/// The PJC responder (the value holder, the server) as a [`Party`]:
/// receives [`CLIENT_MASKED`] and, in the sums, [`SUM_EXCHANGE`]; sends
/// [`SHUFFLED_TAGS`] once the masked items have ended, and
/// [`SERVER_MASKED`].
pub struct Responder {
    counter_set_size: u64,
    answerer: Answerer,
    /// `None` once every chunk was sent.
    masker: Option<pjc::ResponderMasker>,
    finale: Finale,
}

enum Answerer {
    ExpectMasked(pjc::ExpectCounterMasked),
    SendTags(pjc::ShuffledTagSender),
    Ended,
    /// A step failed.
    Failed,
}

enum Finale {
    Expect(ResponderFinale),
    /// Sum to the value holder: the sum; to the key holder: nothing.
    Done(Option<Outcome<SumOutput>>),
    /// A step failed.
    Failed,
}

impl Responder {
    /// A responder over `items` (distinct), with `values[i]` for `items[i]`
    /// in the sums, for the counter whose encoded [`PjcHello`] is `hello`;
    /// returns it and its encoded answer.
    pub fn accept<R: CryptoRng + ?Sized>(
        rng: &mut R,
        items: Arc<[Item]>,
        values: Option<Arc<[u64]>>,
        params: &pjc::Params,
        hello: &[u8],
        limits: &Limits,
    ) -> Result<(Self, Vec<u8>), Error> {
        let hello = PjcHello::from_bytes(hello)?;
        let counter_set_size = hello.set_size;
        let (answer, streams) = pjc::Responder::accept(rng, items, values, params, hello, limits)?;
        let responder = Responder {
            counter_set_size,
            answerer: Answerer::ExpectMasked(streams.answerer),
            masker: Some(streams.masker),
            finale: Finale::Expect(streams.finale),
        };
        Ok((responder, answer.to_bytes()))
    }

    /// What the responder learns besides the counter's set size: the sum,
    /// in the sum to the value holder; nothing otherwise.
    pub fn finish(self) -> Result<Option<Outcome<SumOutput>>, Error> {
        if !self.streams_ended() {
            return Err(Error::Misuse("the PJC responder has not finished"));
        }
        match self.finale {
            Finale::Expect(ResponderFinale::Nothing) => Ok(None),
            Finale::Done(output) => Ok(output),
            _ => Err(Error::Misuse("the PJC responder is waiting for the sum")),
        }
    }

    /// The size of the counter's set.
    pub fn counter_set_size(&self) -> u64 {
        self.counter_set_size
    }

    fn streams_ended(&self) -> bool {
        matches!(self.answerer, Answerer::Ended) && self.masker.is_none()
    }
}

impl Party for Responder {
    fn send(&mut self, stream: &Stream) -> Result<Outgoing, Error> {
        if is(stream, &SERVER_MASKED) {
            return Ok(match self.masker.as_mut().and_then(|m| m.next_chunk()) {
                Some(chunk) => Outgoing::Message(chunk.to_bytes()),
                None => {
                    self.masker = None;
                    Outgoing::Ended
                }
            });
        }
        if !is(stream, &SHUFFLED_TAGS) {
            return Err(Error::Misuse("a stream the PJC responder does not send"));
        }
        Ok(match &mut self.answerer {
            Answerer::ExpectMasked(_) => Outgoing::Later,
            Answerer::SendTags(tags) => match tags.next_chunk() {
                Some(chunk) => Outgoing::Message(chunk.to_bytes()),
                None => {
                    self.answerer = Answerer::Ended;
                    Outgoing::Ended
                }
            },
            Answerer::Ended => Outgoing::Ended,
            Answerer::Failed => return Err(Error::Misuse("the PJC responder has failed")),
        })
    }

    fn receive(
        &mut self,
        stream: &Stream,
        message: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, Error> {
        if is(stream, &CLIENT_MASKED) {
            match (&mut self.answerer, message) {
                (Answerer::ExpectMasked(answerer), Some(m)) => {
                    answerer.receive(PointChunk::decode(PointStream::CounterMasked, &m)?)?;
                }
                (Answerer::ExpectMasked(_), None) => {
                    let Answerer::ExpectMasked(answerer) =
                        std::mem::replace(&mut self.answerer, Answerer::Failed)
                    else {
                        return Err(Error::Misuse("the PJC responder lost its state"));
                    };
                    self.answerer = Answerer::SendTags(answerer.finish()?);
                }
                _ => return Err(Error::Misuse("counter-masked after it ended")),
            }
            return Ok(None);
        }
        if !is(stream, &SUM_EXCHANGE) {
            return Err(Error::Misuse("a stream the PJC responder does not receive"));
        }
        let message = message.ok_or(Error::Misuse("the sum exchange ended without a sum"))?;
        if !self.streams_ended() {
            return Err(Error::Misuse("the sum before the other streams ended"));
        }
        let (finale, answer) = match std::mem::replace(&mut self.finale, Finale::Failed) {
            Finale::Expect(ResponderFinale::ExpectSum(expect)) => {
                let output = expect.receive(SumResult::from_bytes(&message)?)?;
                (Finale::Done(Some(output)), Vec::new())
            }
            Finale::Expect(ResponderFinale::Decrypt(decrypt)) => {
                let answer = decrypt.receive(MaskedSum::from_bytes(&message)?)?;
                (Finale::Done(None), answer.to_bytes())
            }
            _ => return Err(Error::Misuse("a sum the PJC responder does not expect")),
        };
        self.finale = finale;
        Ok(Some(answer))
    }
}

/// The result of a driven PSI-cardinality run ([`crate::pjc`]).
#[derive(Debug, Clone)]
pub struct CardinalityRun {
    /// What the counter (the output party) learned.
    pub output: pjc::Outcome<u64>,
    /// What the responder learned: the size of the counter's set.
    pub counter_set_size: u64,
    /// Bytes (frames included) the counter sent.
    pub counter_to_responder: u64,
    /// Bytes (frames included) the responder sent.
    pub responder_to_counter: u64,
}

/// The result of a driven PSI-sum run ([`crate::pjc`]).
#[derive(Debug, Clone)]
pub struct SumRun {
    /// The output party's result (the value holder in direction 1, the key
    /// holder in direction 2).
    pub output: pjc::Outcome<pjc::SumOutput>,
    /// Direction 1 only: the count as the key holder (counter) sees it.
    pub key_holder_count: Option<pjc::Outcome<u64>>,
    /// Bytes (frames included) the key holder (counter) sent.
    pub key_holder_to_value_holder: u64,
    /// Bytes (frames included) the value holder (responder) sent.
    pub value_holder_to_key_holder: u64,
}

/// Connects a counter and a responder and runs the schedule of
/// `params.protocol`.
fn run_pjc<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key_items: Vec<Item>,
    value_items: Vec<Item>,
    values: Option<Vec<u64>>,
    params: &pjc::Params,
    limits: &Limits,
) -> Result<Pair<Counter, Responder>, Error> {
    let (counter, hello) = Counter::start(rng, key_items, params, limits)?;
    let mut pair = Pair::connect(counter, hello, |hello| {
        let values = values.map(Into::into);
        Responder::accept(rng, value_items.into(), values, params, hello, limits)
    })?;
    pair.run(Schedule::of(params.protocol, false))?;
    Ok(pair)
}

/// Runs PSI-cardinality ([`crate::pjc`], [`Protocol::Cardinality`]): the counter
/// holds `counter_items` and learns the size of the intersection with
/// `responder_items` (each list distinct), behind `min_intersection`.
pub fn run_cardinality<R: CryptoRng + ?Sized>(
    rng: &mut R,
    counter_items: Vec<Item>,
    responder_items: Vec<Item>,
    min_intersection: u64,
    limits: &Limits,
) -> Result<CardinalityRun, Error> {
    let params = pjc::Params::new(Protocol::Cardinality, min_intersection);
    let pair = run_pjc(rng, counter_items, responder_items, None, &params, limits)?;
    let (counter_to_responder, responder_to_counter) =
        (pair.client_to_server(), pair.server_to_client());
    let counter_set_size = pair.server.counter_set_size();
    let output = match (pair.client.finish()?, pair.server.finish()?) {
        (CounterOutput::Cardinality(output), None) => output,
        _ => return Err(Error::Misuse("cardinality run ended in another mode")),
    };
    Ok(CardinalityRun {
        output,
        counter_set_size,
        counter_to_responder,
        responder_to_counter,
    })
}

/// Runs PSI-sum ([`crate::pjc`]): the key holder holds `key_items`, the value
/// holder `value_items` with `values[i]` for `value_items[i]` (each list
/// distinct). `params.protocol` picks the direction:
/// [`Protocol::SumToValueHolder`] or [`Protocol::SumToKeyHolder`].
pub fn run_sum<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key_items: Vec<Item>,
    value_items: Vec<Item>,
    values: Vec<u64>,
    params: &pjc::Params,
    limits: &Limits,
) -> Result<SumRun, Error> {
    let pair = run_pjc(rng, key_items, value_items, Some(values), params, limits)?;
    let (key_holder_to_value_holder, value_holder_to_key_holder) =
        (pair.client_to_server(), pair.server_to_client());
    let (output, key_holder_count) = match (pair.client.finish()?, pair.server.finish()?) {
        (CounterOutput::SentSum(count), Some(output)) => (output, Some(count)),
        (CounterOutput::Sum(output), None) => (output, None),
        _ => return Err(Error::Misuse("run_sum needs a sum protocol")),
    };
    Ok(SumRun {
        output,
        key_holder_count,
        key_holder_to_value_holder,
        value_holder_to_key_holder,
    })
}
