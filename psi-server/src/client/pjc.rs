//! The client (counter) of PSI-cardinality and PSI-sum ([`psi_core::pjc`],
//! [`schedule::CARDINALITY`], [`schedule::SUM`]).

use std::time::Instant;

use psi_core::codec::Codec;
use psi_core::pjc::{
    self, CounterFinish, DecryptedSum, Outcome, PjcHello, ResponderSetChunk, ShuffledTags,
    SumOutput,
};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule;
use psi_core::Item;

use super::config::ClientConfig;
use super::transport::Peer;
use crate::metrics::{Phases, Traffic};
use crate::Error;

/// What the client (the counter) learned in a PSI-cardinality or PSI-sum run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PjcOutput {
    /// Cardinality: the count, behind the threshold.
    Cardinality(Outcome<u64>),
    /// Sum to the server: the client learns the count it computed (behind the
    /// threshold); the server learns count and sum.
    SumToServer(Outcome<u64>),
    /// Sum to the client: count and sum, behind the threshold.
    SumToClient(Outcome<SumOutput>),
}

/// The result of a PSI-cardinality or PSI-sum client run.
#[derive(Debug, Clone)]
pub struct PjcRun {
    /// What we learned.
    pub output: PjcOutput,
    /// The server's set size (both parties learn both sizes).
    pub server_set_size: u64,
    /// The server's session token.
    pub session: String,
    /// Body bytes each way.
    pub traffic: Traffic,
    /// Seconds per phase: `hello`, `client-masked` (our items, masked and
    /// uploaded), `shuffled-tags` (the server's answers in a secret order),
    /// `server-masked` (the server's set, counted), `sum` (the last exchange).
    pub phases: Phases,
}

/// Runs PSI-cardinality or PSI-sum as the counter (client) against `peer`:
/// `params.protocol` picks the mode; the server must serve the same one.
pub async fn run_pjc_client(
    peer: &str,
    items: Vec<Item>,
    params: &pjc::Params,
    config: &ClientConfig,
) -> Result<PjcRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    let t = Instant::now();
    let limits = config.limits.clone();
    let p = params.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        // Session secrets derive from it: its state is overwritten on drop.
        let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
            psi_core::Error::Misuse("the operating system's random generator failed")
        })?;
        pjc::Counter::start(&mut rng, items, &p, &limits)
    })
    .await??;
    let opened = peer
        .hello(hello.to_bytes(), None, |b| Ok(PjcHello::from_bytes(b)?))
        .await?;
    let token = opened.token;
    let server_set_size = opened.answer.set_size;
    let mut streams = state.receive(opened.answer)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let mut phases = Phases::new();
    phases.push("hello", t.elapsed());

    let t = Instant::now();
    let (_, sent) = peer
        .upload(&token, &schedule::CLIENT_MASKED, streams.masker, |m| {
            m.next_chunk().map(|c| c.to_bytes())
        })
        .await?;
    phases.push(schedule::CLIENT_MASKED.name, t.elapsed());

    let t = Instant::now();
    let (tags, tag_bytes) = peer
        .download(&token, &schedule::SHUFFLED_TAGS, streams.tags, |s, m| {
            Ok(s.receive(ShuffledTags::from_bytes(&m)?)?)
        })
        .await?;
    let set = tags.finish()?;
    phases.push(schedule::SHUFFLED_TAGS.name, t.elapsed());

    let t = Instant::now();
    let (set, set_bytes) = peer
        .download(&token, &schedule::SERVER_MASKED, set, |s, m| {
            Ok(s.receive(ResponderSetChunk::from_bytes(&m)?)?)
        })
        .await?;
    peer.count(Traffic {
        bytes_sent: sent,
        bytes_received: tag_bytes + set_bytes,
    });
    let finish = tokio::task::spawn_blocking(move || set.finish()).await??;
    phases.push(schedule::SERVER_MASKED.name, t.elapsed());

    let t = Instant::now();
    let output = finish_exchange(&mut peer, &token, finish).await?;
    phases.push(schedule::SUM_EXCHANGE.name, t.elapsed());
    Ok(PjcRun {
        output,
        server_set_size,
        session: token,
        traffic: peer.traffic(),
        phases,
    })
}

/// The counter's last step: the result, or the sums' one exchange.
pub(super) async fn finish_exchange(
    peer: &mut Peer<'_>,
    token: &str,
    finish: CounterFinish,
) -> Result<PjcOutput, Error> {
    let sum = &schedule::SUM_EXCHANGE;
    Ok(match finish {
        CounterFinish::Cardinality(count) => PjcOutput::Cardinality(count),
        CounterFinish::SendSum { message, count } => {
            peer.exchange(token, sum, message.to_bytes()).await?;
            PjcOutput::SumToServer(count)
        }
        CounterFinish::SendMaskedSum { message, next } => {
            let answer = peer.exchange(token, sum, message.to_bytes()).await?;
            let answer = DecryptedSum::from_bytes(&answer)?;
            let outcome = tokio::task::spawn_blocking(move || next.receive(answer)).await??;
            PjcOutput::SumToClient(outcome)
        }
    })
}
