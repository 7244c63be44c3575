//! Bucketed runs over real sockets: the union of the buckets' matches is the
//! plaintext intersection, for ECDH and KKRT, at bucket boundaries; a run is
//! its opener's; a server whose table stays on disk takes runs only.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use psi_core::bucket::{self, Partition, PartitionSeed};
use psi_core::codec::Protocol;
use psi_core::rng::ZeroizingRng;
use psi_core::Item;
use psi_server::{
    open_run, run_bucket, run_ecdh_client, wait_run_ready, BucketSource, ClientConfig, Error,
    PreparedSet, PsiServer, ServerConfig,
};

mod common;

use common::{item, serve};

/// Runs every bucket and returns the matched client values.
async fn bucketed(
    url: &str,
    protocol: Protocol,
    client: &[u32],
    target: u64,
) -> Result<HashSet<u32>, Error> {
    let config = ClientConfig::default();
    let mut rng = ZeroizingRng::from_os_rng().unwrap();
    let run = open_run(url, &config, protocol, bucket::client_nonce(&mut rng)).await?;
    let server_size = wait_run_ready(url, &config, &run.id, |_| {}).await?;
    let partition = Partition::new(&run.seed);
    let count = bucket::bucket_count(client.len() as u64, server_size, target);
    let mut found = HashSet::new();
    for index in 0..count {
        let range = bucket::fine_range(index, count);
        let mine: Vec<u32> = client
            .iter()
            .copied()
            .filter(|&v| range.contains(&partition.fine(&item(v))))
            .collect();
        let mut items: Vec<Item> = mine.iter().map(|&v| item(v)).collect();
        let size = bucket::padded_size(client.len() as u64, count);
        bucket::pad(&mut items, size, index, &mut rng).unwrap();
        let out = run_bucket(url, &config, protocol, &run.id, (index, count), items).await?;
        assert_eq!(
            out.output.server_set_size,
            bucket::padded_size(server_size, count),
            "the server pads every bucket to its public size"
        );
        for m in out.output.matched {
            assert!(m < mine.len(), "a dummy matched");
            assert!(found.insert(mine[m]), "matched twice");
        }
    }
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_together_give_the_intersection() {
    let server: Vec<u32> = (0..3000).map(|v| v * 3).collect();
    let addr = serve(server.clone(), ServerConfig::default()).await;
    let url = format!("http://{addr}");
    let s: HashSet<u32> = server.iter().copied().collect();
    for protocol in [Protocol::EcdhIntersection, Protocol::Kkrt] {
        for (client, target) in [
            ((0..2000).collect::<Vec<u32>>(), 1000), // 4 buckets
            ((0..2000).collect(), 4000),             // one bucket
            ((0..2000).collect(), 1),                // every fine bucket its own
            (vec![], 100),                           // an empty set
            (server.clone(), 750),                   // full overlap
        ] {
            if protocol == Protocol::Kkrt && target == 1 {
                continue; // 256 sets of base OTs: slow in a debug build
            }
            let want: HashSet<u32> = client.iter().copied().filter(|v| s.contains(v)).collect();
            let got = bucketed(&url, protocol, &client, target).await.unwrap();
            assert_eq!(got, want, "{protocol} target {target}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_resume_by_nonce_and_check_protocol_and_id() {
    let addr = serve(0..100, ServerConfig::default()).await;
    let url = format!("http://{addr}");
    let config = ClientConfig::default();
    let run = open_run(&url, &config, Protocol::EcdhIntersection, [1; 32])
        .await
        .unwrap();
    wait_run_ready(&url, &config, &run.id, |_| {})
        .await
        .unwrap();
    // The same nonce is the same partition (a resumed run).
    let again = open_run(&url, &config, Protocol::EcdhIntersection, [1; 32])
        .await
        .unwrap();
    assert_eq!(again.seed, run.seed);
    assert_ne!(again.id, run.id);
    // The run's protocol only.
    let e = run_bucket(
        &url,
        &config,
        Protocol::Kkrt,
        &run.id,
        (0, 1),
        vec![item(1)],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("runs ecdh-ristretto255 only"), "{e}");
    let e = run_bucket(
        &url,
        &config,
        Protocol::EcdhIntersection,
        "nope",
        (0, 1),
        vec![],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("no such run"), "{e}");
}

/// A source that says what it was asked.
struct Counting(Vec<Item>);
struct Prepared(Vec<Item>, Vec<u16>);

impl BucketSource for Counting {
    fn prepare(
        &self,
        seed: &PartitionSeed,
        _progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedSet>, String> {
        if self.0.is_empty() {
            return Err("disk full while spilling".into());
        }
        let p = Partition::new(seed);
        let fine = self.0.iter().map(|x| p.fine(x)).collect();
        Ok(Arc::new(Prepared(self.0.clone(), fine)))
    }
}

impl PreparedSet for Prepared {
    fn distinct(&self) -> u64 {
        self.0.len() as u64
    }
    fn load(&self, fine: std::ops::Range<u16>) -> Result<Vec<Item>, String> {
        Ok(self
            .0
            .iter()
            .zip(&self.1)
            .filter(|(_, f)| fine.contains(f))
            .map(|(x, _)| *x)
            .collect())
    }
}

async fn serve_source(source: Counting) -> String {
    let server = PsiServer::bind_buckets(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(source),
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    tokio::spawn(async move { server.run_until(std::future::pending()).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_on_disk_serves_runs_only_and_reports_a_failed_partition() {
    let url = serve_source(Counting((0..500).map(item).collect())).await;
    let e = run_ecdh_client(&url, vec![item(1)], &ClientConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("bucketed runs only"), "{e}");
    let got = bucketed(&url, Protocol::Kkrt, &(250..750).collect::<Vec<_>>(), 100)
        .await
        .unwrap();
    assert_eq!(got, (250..500).collect());

    let url = serve_source(Counting(Vec::new())).await;
    let config = ClientConfig::default();
    let run = open_run(&url, &config, Protocol::Kkrt, [2; 32])
        .await
        .unwrap();
    let e = wait_run_ready(&url, &config, &run.id, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("disk full while spilling"), "{e}");
}
