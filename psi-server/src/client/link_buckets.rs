//! The client of a bucketed linkage ([`psi_core::linkage::bucketed`]): open a
//! linkage run, then one ECDH session per bucket of each step with its result
//! shared, then the finish message.

use psi_core::bucket::PartitionSeed;
use psi_core::codec::{Codec, Protocol};
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed;
use psi_core::linkage::{LinkResult, LinkageFinish, LinkageTotals, StepRecorded};
use psi_core::schedule;
use psi_core::Item;

use super::bucket::OpenedRun;
use super::config::ClientConfig;
use super::ecdh;
use super::transport::Peer;
use crate::api::{LINKAGE_HEADER, LINKAGE_NEW, STEP_HEADER};
use crate::metrics::Traffic;
use crate::Error;

/// Opens a bucketed linkage run with our `client_nonce` (ECDH). Wait for it
/// with [`super::wait_run_ready`], which then gives the server's row count.
pub async fn open_linkage_run(
    peer: &str,
    config: &ClientConfig,
    client_nonce: [u8; 32],
) -> Result<OpenedRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.with_header(LINKAGE_HEADER, LINKAGE_NEW.to_string());
    super::bucket::send_run_hello(peer, Protocol::EcdhIntersection, client_nonce).await
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

/// Runs bucket `index` of `count` of `step` of linkage run `run` (partition
/// `seed`) with our padded `items`, and shares its result with the server.
/// Each link's id is [`bucketed::link_id`] of the seed, the step and the
/// shared item, so a bucket run again gives the same ids.
pub async fn run_link_bucket(
    peer: &str,
    config: &ClientConfig,
    (run, seed): (&str, &PartitionSeed),
    step: u16,
    (index, count): (u16, u16),
    items: Vec<Item>,
) -> Result<LinkBucket, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.in_bucket(run, index, count);
    peer.with_header(STEP_HEADER, step.to_string());
    let ours = items.clone();
    let (out, shared) = ecdh::session(&mut peer, items, Some(LINKAGE_NEW)).await?;
    let shared = shared.ok_or(Error::Config("a linkage bucket must share its result"))?;
    if shared.linkage.is_none() {
        return Err(Error::NotPsi(
            "it did not answer a linkage bucket with a linkage id",
        ));
    }
    let mut pairs = Vec::with_capacity(shared.pairs.len());
    for p in &shared.pairs {
        let item = ours
            .get(p.client)
            .ok_or(Error::Config("a shared item outside our bucket"))?;
        pairs.push((
            p.client as u32,
            p.server_position,
            bucketed::link_id(seed, step, item),
        ));
    }
    let result = LinkResult {
        pairs: pairs
            .iter()
            .map(|&(_, position, id)| (position, id))
            .collect(),
    };
    let answer = peer
        .exchange(&out.session, &schedule::RESULT, result.to_bytes())
        .await?;
    let recorded = StepRecorded::from_bytes(&answer)?;
    Ok(LinkBucket {
        matched: pairs.iter().map(|&(i, _, id)| (i, id)).collect(),
        server_offered: out.output.server_set_size,
        server_linked_rows: recorded.linked_rows,
        traffic: peer.traffic(),
    })
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
