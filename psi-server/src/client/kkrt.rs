//! The client (OPRF receiver) of KKRT OT-extension PSI ([`psi_core::kkrt`],
//! [`schedule::KKRT`]): the matrix up, then the OPRF values down.

use std::time::Instant;

use psi_core::codec::Codec;
use psi_core::kkrt::{self, OprfChunk, SenderHello};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule;
use psi_core::Item;

use super::config::ClientConfig;
use super::ecdh::ClientRun;
use super::transport::Peer;
use crate::metrics::{Phases, Traffic};
use crate::Error;

/// Matrix rows per uploaded chunk (a chunk is `512 × rows / 8` bytes: 512 KiB).
const MATRIX_CHUNK_ROWS: usize = 8192;

/// Runs KKRT OT-extension PSI as the receiver (client) against `peer`.
///
/// Phases: `cuckoo+hello` (cuckoo hashing, our base-OT message, the server's
/// answer), `base-ot` (finishing the base OTs), `matrix` (the OT-extension
/// matrix, computed and uploaded chunk by chunk), `oprf-values` (the server's
/// OPRF values, streamed and looked up as they arrive).
pub async fn run_kkrt_client(
    peer: &str,
    items: Vec<Item>,
    config: &ClientConfig,
) -> Result<ClientRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    Ok(session(&mut peer, items, None).await?.0)
}

/// One KKRT session with `peer` (a bucket of a run if the peer says so);
/// with `linkage` (`new`) a bucket of a linkage run, whose result the caller
/// then sends: returns the linkage id the server answered with.
pub(super) async fn session(
    peer: &mut Peer<'_>,
    items: Vec<Item>,
    linkage: Option<&str>,
) -> Result<(ClientRun, Option<String>), Error> {
    let config = peer.config();
    let t0 = Instant::now();
    let limits = config.limits.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        // Session secrets derive from it: its state is overwritten on drop.
        let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
            psi_core::Error::Misuse("the operating system's random generator failed")
        })?;
        kkrt::Receiver::start(&mut rng, items, &limits)
    })
    .await??;
    let cuckoo_retries = state.cuckoo_retries();
    if cuckoo_retries > 0 {
        tracing::info!(cuckoo_retries, "cuckoo hashing needed fresh seeds");
    }
    let opened = peer
        .hello(hello.to_bytes(), linkage, |b| {
            Ok(SenderHello::from_bytes(b)?)
        })
        .await?;
    let (token, linkage) = (opened.token, opened.linkage);
    let mut phases = Phases::new();
    phases.push("cuckoo+hello", t0.elapsed());

    let t = Instant::now();
    let answer = opened.answer;
    let mut matrix = tokio::task::spawn_blocking(move || state.receive(answer)).await??;
    phases.push("base-ot", t.elapsed());
    matrix.set_chunk_rows(MATRIX_CHUNK_ROWS);

    let t = Instant::now();
    let (matrix, sent) = peer
        .upload(&token, &schedule::MATRIX, matrix, |m| {
            m.next_chunk().map(|c| c.to_bytes())
        })
        .await?;
    let expect = matrix.finish()?;
    phases.push(schedule::MATRIX.name, t.elapsed());

    let t = Instant::now();
    let (expect, received) = peer
        .download(&token, &schedule::OPRF_VALUES, expect, |s, m| {
            Ok(s.receive(OprfChunk::from_bytes(&m)?)?)
        })
        .await?;
    peer.count(Traffic {
        bytes_sent: sent,
        bytes_received: received,
    });
    let output = expect.finish()?;
    phases.push(schedule::OPRF_VALUES.name, t.elapsed());
    let run = ClientRun {
        output,
        session: token,
        traffic: peer.traffic(),
        phases,
        cuckoo_retries,
    };
    Ok((run, linkage))
}
