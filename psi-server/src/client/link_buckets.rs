//! The client of a bucketed linkage ([`psi_core::linkage::bucketed`]): open a
//! linkage run, then one session per bucket of each step with its result
//! shared, then the finish message. The run's protocol is ECDH (the result:
//! the server's stream positions of the shared items, with their ids) or
//! KKRT (the result: the ids of our shared items, which the server finds
//! among its own).

use psi_core::bucket::PartitionSeed;
use psi_core::codec::{Codec, Protocol};
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed;
use psi_core::linkage::{LinkIds, LinkResult, LinkageFinish, LinkageTotals, StepRecorded};
use psi_core::schedule;
use psi_core::Item;

use super::bucket::OpenedRun;
use super::config::ClientConfig;
use super::ecdh;
use super::kkrt;
use super::transport::Peer;
use crate::api::{LINKAGE_HEADER, LINKAGE_NEW, STEP_HEADER};
use crate::metrics::Traffic;
use crate::Error;

/// Opens a bucketed linkage run of `protocol` (ECDH or KKRT: every bucket
/// runs it, and the server refuses a bucket of another) with our
/// `client_nonce`. Wait for it with [`super::wait_run_ready`], which then
/// gives the server's row count.
pub async fn open_linkage_run(
    peer: &str,
    config: &ClientConfig,
    protocol: Protocol,
    client_nonce: [u8; 32],
) -> Result<OpenedRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.with_header(LINKAGE_HEADER, LINKAGE_NEW.to_string());
    super::bucket::send_run_hello(peer, protocol, client_nonce).await
}

/// A linkage run as its buckets name it: its id, its partition seed (the
/// link ids derive from it) and its protocol.
#[derive(Debug, Clone, Copy)]
pub struct LinkRunRef<'a> {
    /// The run id.
    pub id: &'a str,
    /// The run's partition seed.
    pub seed: &'a PartitionSeed,
    /// ECDH or KKRT.
    pub protocol: Protocol,
}

/// What one bucket of a linkage step gave us.
#[derive(Debug, Clone)]
pub struct LinkBucket {
    /// (index into our padded items, id) of each shared item.
    pub matched: Vec<(u32, LinkId)>,
    /// The server's padded offer in this bucket.
    pub server_offered: u64,
    /// The server's rows this bucket linked.
    pub server_linked_rows: u64,
    /// Body bytes each way.
    pub traffic: Traffic,
}

/// Runs bucket `index` of `count` of `step` of linkage run `run` with our
/// padded `items` (the first `real` are the values we offer, the rest
/// dummies), and shares its result with the server. Each link's id is
/// [`bucketed::link_id`] of the seed, the step and the shared item, so a
/// bucket run again gives the same ids.
pub async fn run_link_bucket(
    peer: &str,
    config: &ClientConfig,
    run: LinkRunRef<'_>,
    step: u16,
    (index, count): (u16, u16),
    items: Vec<Item>,
    real: usize,
) -> Result<LinkBucket, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.in_bucket(run.id, index, count);
    peer.with_header(STEP_HEADER, step.to_string());
    let ours = items.clone();
    let id_of = |i: usize| {
        ours.get(i)
            .map(|item| bucketed::link_id(run.seed, step, item))
            .ok_or(Error::Config("a shared item outside our bucket"))
    };
    let (session, server_offered, matched, result) = match run.protocol {
        Protocol::Kkrt => {
            let (out, linkage) = kkrt::session(&mut peer, items, Some(LINKAGE_NEW)).await?;
            if linkage.is_none() {
                return Err(linkage_id_missing());
            }
            // Only our real values have ids the server knows (a dummy
            // matches with negligible probability, and is never reported).
            let mut matched = Vec::with_capacity(out.output.matched.len());
            for &i in out.output.matched.iter().filter(|&&i| i < real) {
                matched.push((i as u32, id_of(i)?));
            }
            let ids = LinkIds {
                ids: matched.iter().map(|&(_, id)| id).collect(),
            };
            let server_offered = out.output.server_set_size;
            (out.session, server_offered, matched, ids.to_bytes())
        }
        _ => {
            let (out, shared) = ecdh::session(&mut peer, items, Some(LINKAGE_NEW)).await?;
            let shared = shared.ok_or(Error::Config("a linkage bucket must share its result"))?;
            if shared.linkage.is_none() {
                return Err(linkage_id_missing());
            }
            let mut pairs = Vec::with_capacity(shared.pairs.len());
            for p in &shared.pairs {
                pairs.push((p.client as u32, p.server_position, id_of(p.client)?));
            }
            let result = LinkResult {
                pairs: pairs
                    .iter()
                    .map(|&(_, position, id)| (position, id))
                    .collect(),
            };
            let matched = pairs.iter().map(|&(i, _, id)| (i, id)).collect();
            let server_offered = out.output.server_set_size;
            (out.session, server_offered, matched, result.to_bytes())
        }
    };
    let answer = peer.exchange(&session, &schedule::RESULT, result).await?;
    let recorded = StepRecorded::from_bytes(&answer)?;
    Ok(LinkBucket {
        matched,
        server_offered,
        server_linked_rows: recorded.linked_rows,
        traffic: peer.traffic(),
    })
}

fn linkage_id_missing() -> Error {
    Error::NotPsi("it did not answer a linkage bucket with a linkage id")
}

/// Ends linkage run `run` with `finish`; returns the server's totals (its
/// count of unlinked rows bounded by our set-size limit) and the bytes.
pub async fn finish_linkage_run(
    peer: &str,
    config: &ClientConfig,
    run: &str,
    finish: &LinkageFinish,
) -> Result<(LinkageTotals, Traffic), Error> {
    let mut peer = Peer::new(peer, config)?;
    let answer = peer.finish_linkage(run, finish.to_bytes()).await?;
    let totals = LinkageTotals::from_bytes(&answer)?;
    totals.check_unlinked_rows(&config.limits)?;
    Ok((totals, peer.traffic()))
}
