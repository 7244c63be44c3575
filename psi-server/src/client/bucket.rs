//! The client of a bucketed run ([`psi_core::bucket`]): open the run, wait
//! while the server partitions its set, then one session per bucket.

use std::time::Duration;

use psi_core::bucket::wire::{RunAnswer, RunHello, RunReady};
use psi_core::bucket::{self, PartitionSeed};
use psi_core::codec::{Codec, Protocol};
use psi_core::Item;

use super::config::ClientConfig;
use super::ecdh::{self, ClientRun};
use super::kkrt;
use super::transport::Peer;
use crate::api::{self, RUN_HEADER};
use crate::metrics::Traffic;
use crate::Error;

/// A run the server opened.
#[derive(Debug, Clone)]
pub struct OpenedRun {
    /// The run id (for every bucket's hello).
    pub id: String,
    /// The partition both sides use.
    pub seed: PartitionSeed,
    /// Bytes of the opening.
    pub traffic: Traffic,
}

/// Opens a run of `protocol` (ECDH or KKRT) with our `client_nonce`; the same
/// nonce gives the same partition again (a resumed run).
pub async fn open_run(
    peer: &str,
    config: &ClientConfig,
    protocol: Protocol,
    client_nonce: [u8; 32],
) -> Result<OpenedRun, Error> {
    let peer = Peer::new(peer, config)?;
    send_run_hello(peer, protocol, client_nonce).await
}

/// Sends the run hello through `peer` (with whatever headers it carries) and
/// reads the server's answer: the run id and the partition seed.
pub(super) async fn send_run_hello(
    mut peer: Peer<'_>,
    protocol: Protocol,
    client_nonce: [u8; 32],
) -> Result<OpenedRun, Error> {
    let hello = RunHello {
        protocol,
        client_nonce,
    };
    let (answer, id) = peer
        .post_with_header(api::RUNS_PATH, hello.to_bytes(), RUN_HEADER)
        .await?;
    let answer = RunAnswer::from_bytes(&answer).map_err(psi_core::Error::from)?;
    let id = id.ok_or(Error::NotPsi(
        "its answer to the run hello carries no run id",
    ))?;
    Ok(OpenedRun {
        id,
        seed: bucket::seed(&client_nonce, &answer.server_nonce),
        traffic: peer.traffic(),
    })
}

/// Polls until the server's set is partitioned; returns its size. `rows`
/// hears how many rows the server has read so far.
pub async fn wait_run_ready(
    peer: &str,
    config: &ClientConfig,
    run: &str,
    mut rows: impl FnMut(u64),
) -> Result<u64, Error> {
    let mut peer = Peer::new(peer, config)?;
    let path = api::run_ready_path(run);
    let mut pause = Duration::from_millis(20);
    loop {
        let (status, body) = peer.get(&path, 4096).await?;
        if status == 200 {
            let ready = RunReady::from_bytes(&body).map_err(psi_core::Error::from)?;
            return Ok(ready.server_set_size);
        }
        if let Some(read) = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("rows_read")?.as_u64())
        {
            rows(read);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Runs bucket `index` of `count` of `run` with our (padded) `items`.
pub async fn run_bucket(
    peer: &str,
    config: &ClientConfig,
    protocol: Protocol,
    run: &str,
    (index, count): (u16, u16),
    items: Vec<Item>,
) -> Result<ClientRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.in_bucket(run, index, count);
    match protocol {
        Protocol::Kkrt => Ok(kkrt::session(&mut peer, items, None).await?.0),
        _ => Ok(ecdh::session(&mut peer, items, None).await?.0),
    }
}

/// Ends the run: we have every bucket we wanted.
pub async fn close_run(peer: &str, config: &ClientConfig, run: &str) -> Result<(), Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.post_with_header(&api::run_close_path(run), Vec::new(), RUN_HEADER)
        .await?;
    Ok(())
}
