//! Riding out a dropped connection or a restarted server in a bucketed run:
//! every exchange with the peer (opening the run, waiting for its partition,
//! each bucket) is tried again after a transient failure, with a pause that
//! doubles from one second, [`TRIES`] times in all. A server that restarted
//! has forgotten the run, so before the next try the run is opened again
//! with the same client nonce: the server derives the same nonce from its
//! kept key, so the partition is the same and nothing done is lost. A server
//! that lost its key answers with another seed; that is a clear error (the
//! same command again then starts the buckets over), never a mixed result.
//!
//! A linkage run ([`RunLink::open_linkage`]) is reopened the same way: the
//! server finds its linkage's directory by the seed and resumes it
//! (`serve_link.rs`); a bucket it recorded but whose answer we lost is undone
//! when we ask for it again. If it lost its directory but kept its key, it
//! answers [`behind`]: the caller starts the buckets over.

use std::time::Duration;

use psi_core::bucket::PartitionSeed;
use psi_core::codec::Protocol;
use psi_core::linkage::{LinkageFinish, LinkageTotals};
use psi_server::{ClientRun, LinkBucket, LinkRunRef, OpenedRun, Traffic};

use crate::error::CliError;
use crate::plan::ClientPlan;

/// Tries per exchange before the run fails.
pub const TRIES: u32 = 6;

/// Whether a failure is worth another try: the connection, not the protocol.
pub fn transient(e: &psi_server::Error) -> bool {
    use psi_server::Error as E;
    match e {
        E::Connect { .. }
        | E::Timeout { .. }
        | E::Http(_)
        | E::ConnectionLost(_)
        | E::StreamCut(_) => true,
        E::Peer { status, code, .. } => {
            use psi_server::api::code::{BUSY, UNKNOWN_RUN, UNKNOWN_SESSION};
            *status >= 500 || [UNKNOWN_RUN, UNKNOWN_SESSION, BUSY].contains(&code.as_str())
        }
        _ => false,
    }
}

/// Whether the peer refused because it has not recorded buckets the request
/// needs (a linkage server that lost its progress but not its key).
pub fn behind(e: &CliError) -> bool {
    matches!(e, CliError::Peer(psi_server::Error::Peer { code, .. })
        if code.as_str() == psi_server::api::code::LINKAGE_BEHIND)
}

/// Tries so far and the next pause.
struct Backoff {
    tries: u32,
    pause: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            tries: 0,
            pause: Duration::from_secs(1),
        }
    }

    /// After a failure of `what`: the error if it is final, else a pause.
    async fn failed(&mut self, what: &str, e: psi_server::Error) -> Result<(), CliError> {
        self.tries += 1;
        if self.tries >= TRIES || !transient(&e) {
            return Err(e.into());
        }
        tracing::warn!("{what} failed ({e}); trying again in {:?}", self.pause);
        tokio::time::sleep(self.pause).await;
        self.pause *= 2;
        Ok(())
    }
}

/// The run this client talks to: its id changes when it is opened again.
pub struct RunLink<'a> {
    client: &'a ClientPlan,
    protocol: Protocol,
    nonce: [u8; 32],
    /// The partition all buckets are cut by.
    pub seed: PartitionSeed,
    /// The run's current id at the peer.
    pub id: String,
    /// A bucketed linkage's run (opened with `x-psi-linkage: new`).
    linkage: bool,
}

impl<'a> RunLink<'a> {
    /// Opens the run with our `nonce`.
    pub async fn open(
        client: &'a ClientPlan,
        protocol: Protocol,
        nonce: [u8; 32],
    ) -> Result<(RunLink<'a>, OpenedRun), CliError> {
        Self::open_as(client, protocol, nonce, false).await
    }

    /// Opens a bucketed linkage run of `protocol` (ECDH or KKRT) with our `nonce`.
    pub async fn open_linkage(
        client: &'a ClientPlan,
        protocol: Protocol,
        nonce: [u8; 32],
    ) -> Result<(RunLink<'a>, OpenedRun), CliError> {
        Self::open_as(client, protocol, nonce, true).await
    }

    async fn open_as(
        client: &'a ClientPlan,
        protocol: Protocol,
        nonce: [u8; 32],
        linkage: bool,
    ) -> Result<(RunLink<'a>, OpenedRun), CliError> {
        let mut backoff = Backoff::new();
        loop {
            match open_once(client, protocol, nonce, linkage).await {
                Ok(run) => {
                    let link = RunLink {
                        client,
                        protocol,
                        nonce,
                        seed: run.seed.clone(),
                        id: run.id.clone(),
                        linkage,
                    };
                    return Ok((link, run));
                }
                Err(e) => backoff.failed("opening the run", e).await?,
            }
        }
    }

    /// Opens the run again after a failure (a restarted server forgot it),
    /// and waits for its partition; errors here only make the next try fail,
    /// except another seed.
    async fn reopen(&mut self) -> Result<(), CliError> {
        let (peer, cfg) = (&self.client.peer, &self.client.config);
        let opened = open_once(self.client, self.protocol, self.nonce, self.linkage).await;
        let Ok(run) = opened else {
            return Ok(());
        };
        if run.seed != self.seed {
            return Err(CliError::Usage(
                "the peer restarted without its state (its partition seed changed); run the same command again to start the buckets over".into(),
            ));
        }
        self.id = run.id;
        let _ = psi_server::wait_run_ready(peer, cfg, &self.id, |_| {}).await;
        Ok(())
    }

    /// Waits until the peer has partitioned its set; its distinct keys.
    pub async fn ready(&mut self, rows: impl Fn(u64)) -> Result<u64, CliError> {
        let mut backoff = Backoff::new();
        loop {
            let (peer, cfg) = (&self.client.peer, &self.client.config);
            match psi_server::wait_run_ready(peer, cfg, &self.id, &rows).await {
                Ok(n) => return Ok(n),
                Err(e) => {
                    backoff
                        .failed("waiting for the peer's partition", e)
                        .await?;
                    self.reopen().await?;
                }
            }
        }
    }

    /// Runs one bucket `(index, count)` of `items`.
    pub async fn bucket(
        &mut self,
        bucket: (u16, u16),
        items: &[psi_core::Item],
    ) -> Result<ClientRun, CliError> {
        let mut backoff = Backoff::new();
        loop {
            let (peer, cfg) = (&self.client.peer, &self.client.config);
            let result =
                psi_server::run_bucket(peer, cfg, self.protocol, &self.id, bucket, items.to_vec())
                    .await;
            match result {
                Ok(out) => return Ok(out),
                Err(e) => {
                    let what = format!("bucket {}", bucket.0);
                    backoff.failed(&what, e).await?;
                    self.reopen().await?;
                }
            }
        }
    }

    /// Runs bucket `(index, count)` of linkage step `step` with our padded
    /// `items` (the first `real` offered, the rest dummies), its result shared.
    pub async fn link_bucket(
        &mut self,
        step: u16,
        bucket: (u16, u16),
        items: &[psi_core::Item],
        real: usize,
    ) -> Result<LinkBucket, CliError> {
        let mut backoff = Backoff::new();
        loop {
            let (peer, cfg) = (&self.client.peer, &self.client.config);
            let run = LinkRunRef {
                id: &self.id,
                seed: &self.seed,
                protocol: self.protocol,
            };
            let items = items.to_vec();
            let result = psi_server::run_link_bucket(peer, cfg, run, step, bucket, items, real);
            match result.await {
                Ok(out) => return Ok(out),
                Err(e) => {
                    let what = format!("bucket {} of step {}", bucket.0, step + 1);
                    backoff.failed(&what, e).await?;
                    self.reopen().await?;
                }
            }
        }
    }

    /// Ends the linkage run with `finish`: the peer's totals.
    pub async fn finish(
        &mut self,
        finish: &LinkageFinish,
    ) -> Result<(LinkageTotals, Traffic), CliError> {
        let mut backoff = Backoff::new();
        loop {
            let (peer, cfg) = (&self.client.peer, &self.client.config);
            match psi_server::finish_linkage_run(peer, cfg, &self.id, finish).await {
                Ok(out) => return Ok(out),
                Err(e) => {
                    backoff.failed("the linkage's finish", e).await?;
                    self.reopen().await?;
                }
            }
        }
    }

    /// Closes the run at the peer.
    pub async fn close(&self) -> Result<(), psi_server::Error> {
        psi_server::close_run(&self.client.peer, &self.client.config, &self.id).await
    }
}

/// Opens a run (a linkage run if `linkage`) once.
async fn open_once(
    client: &ClientPlan,
    protocol: Protocol,
    nonce: [u8; 32],
    linkage: bool,
) -> Result<OpenedRun, psi_server::Error> {
    let (peer, cfg) = (&client.peer, &client.config);
    if linkage {
        psi_server::open_linkage_run(peer, cfg, protocol, nonce).await
    } else {
        psi_server::open_run(peer, cfg, protocol, nonce).await
    }
}
