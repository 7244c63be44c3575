//! PSI-cardinality and PSI-sum in external memory over real sockets: every
//! combination of an in-memory or on-disk counter with an in-memory or
//! on-disk responder gives the plaintext answer, and the temporary files
//! are gone afterwards.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use psi_core::codec::Protocol;
use psi_core::pjc::{Outcome, Params, SumOutput};
use psi_core::Item;
use psi_server::{
    ClientConfig, CounterItems, EachBatch, PjcOutput, PjcSource, PsiServer, ServeMode, ServerConfig,
};

mod common;
use common::item;

struct Set {
    items: Vec<Item>,
    values: Option<Vec<u64>>,
    scratch: PathBuf,
}

impl PjcSource for Set {
    fn distinct(&self) -> u64 {
        self.items.len() as u64
    }
    fn total(&self) -> Option<u64> {
        self.values.as_ref().map(|v| v.iter().sum())
    }
    fn for_each(&self, each: &mut EachBatch<'_>) -> Result<(), String> {
        // Batches of 1000, crossing the server's chunks.
        for (k, batch) in self.items.chunks(1000).enumerate() {
            let values = match &self.values {
                Some(v) => &v[k * 1000..k * 1000 + batch.len()],
                None => &[][..],
            };
            each(batch, values)?;
        }
        Ok(())
    }
    fn scratch(&self) -> &Path {
        &self.scratch
    }
}

struct Items(std::vec::IntoIter<Item>, u64);

impl CounterItems for Items {
    fn distinct(&self) -> u64 {
        self.1
    }
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Item>>, String> {
        let b: Vec<Item> = self.0.by_ref().take(max.min(333)).collect();
        Ok((!b.is_empty()).then_some(b))
    }
}

async fn serve(
    set: &[u32],
    values: Option<Vec<u64>>,
    mode: ServeMode,
    scratch: Option<&Path>,
) -> (
    SocketAddr,
    tokio::sync::broadcast::Receiver<psi_server::SessionEvent>,
) {
    let items: Vec<Item> = set.iter().map(|&v| item(v)).collect();
    let config = ServerConfig {
        mode,
        min_intersection: 1,
        chunk_items: 700,
        ..Default::default()
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = match scratch {
        Some(dir) => {
            let source = Set {
                items,
                values,
                scratch: dir.to_path_buf(),
            };
            PsiServer::bind_pjc_on_disk(addr, Arc::new(source), config)
                .await
                .unwrap()
        }
        None => PsiServer::bind_with_values(addr, items, values, config)
            .await
            .unwrap(),
    };
    let addr = server.local_addr();
    let events = server.events();
    tokio::spawn(async move { server.run_until(std::future::pending()).await.unwrap() });
    (addr, events)
}

async fn count(
    addr: SocketAddr,
    client: &[u32],
    protocol: Protocol,
    scratch: Option<&Path>,
) -> PjcOutput {
    let params = Params::new(protocol, 1);
    let peer = format!("http://{addr}");
    let items: Vec<Item> = client.iter().map(|&v| item(v)).collect();
    let config = ClientConfig::default();
    match scratch {
        None => {
            psi_server::run_pjc_client(&peer, items, &params, &config)
                .await
                .unwrap()
                .output
        }
        Some(dir) => {
            let n = items.len() as u64;
            let options = psi_server::DiskOptions {
                dir: dir.join("session"),
                checkpoint_every: std::time::Duration::from_secs(1),
                confirm: true,
            };
            let run = psi_server::run_pjc_client_on_disk(
                &peer,
                Box::new(Items(items.into_iter(), n)),
                &options,
                &params,
                &config,
                Arc::new(|_, _, _| {}),
            )
            .await
            .unwrap();
            assert!(!run.resumed);
            // The caller's to remove once the run succeeded (`psi run` does).
            std::fs::remove_dir_all(&options.dir).unwrap();
            run.run.output
        }
    }
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_disk_roles_give_the_plaintext_answers() {
    let server: Vec<u32> = (1000..4000).collect();
    let values: Vec<u64> = server.iter().map(|&v| u64::from(v % 89) * 7).collect();
    let by_key: HashMap<u32, u64> = server.iter().copied().zip(values.iter().copied()).collect();
    let clients: Vec<Vec<u32>> = vec![vec![], vec![5], (0..1500).collect(), server.clone()];
    let tmp = tempfile::tempdir().unwrap();
    let (s_dir, c_dir) = (tmp.path().join("server"), tmp.path().join("client"));
    let expect = |client: &[u32]| {
        let count = client.iter().filter(|v| by_key.contains_key(v)).count() as u64;
        let sum = client.iter().filter_map(|v| by_key.get(v)).sum();
        if count >= 1 {
            Outcome::Released(SumOutput { count, sum })
        } else {
            Outcome::ThresholdNotMet
        }
    };
    for server_disk in [true, false] {
        let s_scratch = server_disk.then_some(s_dir.as_path());
        let (card, _) = serve(&server, None, ServeMode::Cardinality, s_scratch).await;
        let (to_client, _) = serve(
            &server,
            Some(values.clone()),
            ServeMode::SumToClient,
            s_scratch,
        )
        .await;
        let (to_server, mut events) = serve(
            &server,
            Some(values.clone()),
            ServeMode::SumToServer,
            s_scratch,
        )
        .await;
        for client_disk in [true, false] {
            if !server_disk && !client_disk {
                continue; // tests/http.rs
            }
            let c_scratch = client_disk.then_some(c_dir.as_path());
            for client in &clients {
                let want = expect(client);
                let got = count(card, client, Protocol::Cardinality, c_scratch).await;
                assert_eq!(got, PjcOutput::Cardinality(want.map(|o| o.count)));
                let got = count(to_client, client, Protocol::SumToKeyHolder, c_scratch).await;
                assert_eq!(got, PjcOutput::SumToClient(want));
                let got = count(to_server, client, Protocol::SumToValueHolder, c_scratch).await;
                assert_eq!(got, PjcOutput::SumToServer(want.map(|o| o.count)));
                let event = events.recv().await.unwrap();
                assert_eq!(event.sum, Some(want));
                assert!(empty(&c_dir), "the client's temporary files are removed");
            }
        }
    }
    // Sessions end when their last stream is done; their states (and files) go with them.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(empty(&s_dir), "the server's temporary files are removed");
}
