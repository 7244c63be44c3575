//! PSI-sum sessions kept on disk by the server ([`PjcSource::sessions`])
//! across a restart: a client that did not confirm the answer (killed
//! after its last message) gets the recorded answer from a restarted
//! server, which learns and reports the sum once; another partner cannot take the
//! session up; a kept session past the retention is removed at start-up
//! and its client starts over.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use psi_core::codec::Protocol;
use psi_core::pjc::{Outcome, Params, SumOutput};
use psi_core::Item;
use psi_server::auth::{BearerToken, Tokens};
use psi_server::pjc_state::SessionRecord;
use psi_server::{
    ClientConfig, CounterItems, DiskOptions, EachBatch, PjcOutput, PjcSource, PsiServer, ServeMode,
    ServerConfig, SessionEvent,
};
use tokio::sync::{broadcast, oneshot};

mod common;
use common::item;

struct Set {
    items: Vec<Item>,
    values: Vec<u64>,
    scratch: PathBuf,
    sessions: PathBuf,
}

impl PjcSource for Set {
    fn distinct(&self) -> u64 {
        self.items.len() as u64
    }
    fn total(&self) -> Option<u64> {
        Some(self.values.iter().sum())
    }
    fn for_each(&self, each: &mut EachBatch<'_>) -> Result<(), String> {
        for (k, batch) in self.items.chunks(100).enumerate() {
            each(batch, &self.values[k * 100..k * 100 + batch.len()])?;
        }
        Ok(())
    }
    fn scratch(&self) -> &Path {
        &self.scratch
    }
    fn sessions(&self) -> Option<(&Path, [u8; 32])> {
        Some((&self.sessions, [7; 32]))
    }
}

struct Items(std::vec::IntoIter<Item>, u64);

impl CounterItems for Items {
    fn distinct(&self) -> u64 {
        self.1
    }
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Item>>, String> {
        let b: Vec<Item> = self.0.by_ref().take(max.min(50)).collect();
        Ok((!b.is_empty()).then_some(b))
    }
}

struct Running {
    addr: SocketAddr,
    events: broadcast::Receiver<SessionEvent>,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// A graceful stop (a SIGKILL is `tests/e2e_pjc_server_restart.rs`).
    async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
}

async fn serve(root: &Path, tokens: &Tokens, retention: Duration, idle: Duration) -> Running {
    serve_values(root, tokens, retention, idle, |v| v % 13).await
}

async fn serve_values(
    root: &Path,
    tokens: &Tokens,
    retention: Duration,
    idle: Duration,
    value: fn(u64) -> u64,
) -> Running {
    let config = ServerConfig {
        idle_timeout: idle,
        mode: ServeMode::SumToServer,
        min_intersection: 1,
        chunk_items: 70,
        tokens: Some(tokens.clone()),
        session_retention: retention,
        ..Default::default()
    };
    let source = Set {
        items: (0..600).map(item).collect(),
        values: (0..600u64).map(value).collect(),
        scratch: root.join("scratch"),
        sessions: root.join("sessions"),
    };
    let addr = "127.0.0.1:0".parse().unwrap();
    let server = PsiServer::bind_pjc_on_disk(addr, Arc::new(source), config)
        .await
        .unwrap();
    let (addr, events) = (server.local_addr(), server.events());
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        server.run_until(stopped).await.unwrap();
    });
    Running {
        addr,
        events,
        stop,
        done,
    }
}

/// The client's items (400..1000: 200 shared) and the plaintext answer.
fn expected() -> Outcome<SumOutput> {
    let sum = (400..600u64).map(|v| v % 13).sum();
    Outcome::Released(SumOutput { count: 200, sum })
}

async fn run(addr: SocketAddr, dir: &Path, token: &str, confirm: bool) -> (PjcOutput, bool) {
    let items: Vec<Item> = (400..1000).map(item).collect();
    let n = items.len() as u64;
    let config = ClientConfig {
        chunk_items: 40,
        token: BearerToken::parse(token),
        ..Default::default()
    };
    let options = DiskOptions {
        dir: dir.to_path_buf(),
        checkpoint_every: Duration::ZERO,
        confirm,
    };
    let run = psi_server::run_pjc_client_on_disk(
        &format!("http://{addr}"),
        Box::new(Items(items.into_iter(), n)),
        &options,
        &Params::new(Protocol::SumToValueHolder, 1),
        &config,
        Arc::new(|_, _, _| {}),
    )
    .await
    .unwrap();
    (run.run.output, run.resumed)
}

fn kept(root: &Path) -> usize {
    std::fs::read_dir(root.join("sessions"))
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

/// Waits (bounded) until nothing is kept: a session's files go with its
/// last handle, just after its end.
async fn nothing_kept(root: &Path) -> bool {
    for _ in 0..250 {
        if kept(root) == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn session_token(dir: &Path) -> String {
    let text = std::fs::read(dir.join("session.json")).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    json["token"].as_str().unwrap().to_string()
}

/// No session ends within half a second.
async fn quiet(events: &mut broadcast::Receiver<SessionEvent>) -> bool {
    tokio::time::timeout(Duration::from_millis(500), events.recv())
        .await
        .is_err()
}

async fn learned(events: &mut broadcast::Receiver<SessionEvent>) -> Option<Outcome<SumOutput>> {
    let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(e.outcome.is_ok(), "{:?}", e.outcome);
    e.sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_sum_is_answered_once_to_its_owner_and_expires() {
    let root = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let (alice, line_a) = Tokens::make(&mut rng, "alice").unwrap();
    let (bob, line_b) = Tokens::make(&mut rng, "bob").unwrap();
    let tokens = Tokens::parse(&format!("{line_a}\n{line_b}\n")).unwrap();
    let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));

    // Alice's run ends, but she never confirms the answer (as if killed
    // after her last message): the server keeps the answer (no secret) and
    // waits for her; idle past its timeout, the session completed.
    let mut server = serve(root.path(), &tokens, day, Duration::from_secs(1)).await;
    let client = root.path().join("alice");
    let (out, resumed) = run(server.addr, &client, &alice, false).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    assert!(!resumed);
    assert_eq!(learned(&mut server.events).await, Some(expected()));
    assert_eq!(kept(root.path()), 1, "the answer is kept until confirmed");
    let session = session_token(&client);
    server.stop().await;

    // A restarted server: another partner's request for the session is
    // the 404 of an unknown one, and leaves it.
    let mut server = serve(root.path(), &tokens, day, minute).await;
    let path = format!("/v1/sessions/{session}");
    let auth = |t: &str| format!("authorization: Bearer {t}\r\n");
    let a = common::request(server.addr, "GET", &path, &auth(&bob), b"").await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = common::request(server.addr, "DELETE", &path, &auth(&bob), b"").await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(kept(root.path()), 1);

    // Alice asks again: the recorded answer, nothing decrypted again and
    // nothing reported again; her confirmation removes the record.
    let (out, resumed) = run(server.addr, &client, &alice, true).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    assert!(resumed, "the same session, answered from the record");
    assert!(quiet(&mut server.events).await, "learned and reported once");
    assert!(nothing_kept(root.path()).await, "confirmed: nothing kept");

    // A server stopped before it reported the sum: the next one reports
    // it (from the record) when the client comes back, once.
    let client = root.path().join("alice-2");
    run(server.addr, &client, &alice, false).await;
    assert!(
        quiet(&mut server.events).await,
        "waits for the confirmation"
    );
    server.stop().await;
    let mut server = serve(root.path(), &tokens, day, minute).await;
    let (out, resumed) = run(server.addr, &client, &alice, true).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    assert!(resumed);
    assert_eq!(learned(&mut server.events).await, Some(expected()));
    assert!(quiet(&mut server.events).await);
    assert!(nothing_kept(root.path()).await);

    // A kept session past the retention goes at start-up; its client
    // starts over and still gets the answer.
    let client = root.path().join("alice-3");
    run(server.addr, &client, &alice, false).await;
    assert_eq!(kept(root.path()), 1);
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut server = serve(root.path(), &tokens, Duration::from_secs(1), minute).await;
    assert_eq!(kept(root.path()), 0, "expired at start-up");
    let (out, resumed) = run(server.addr, &client, &alice, true).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    assert!(!resumed, "an expired session starts over");
    assert_eq!(learned(&mut server.events).await, Some(expected()));
    assert!(nothing_kept(root.path()).await);
    server.stop().await;
}

/// Large values: the server's decryption of the sum (baby-step giant-step
/// over about 2^35) takes long enough to see the record while it runs.
fn large(v: u64) -> u64 {
    (1 << 26) + v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decryption_cut_short_is_finished_by_the_next_server() {
    let root = tempfile::tempdir().unwrap();
    let (alice, line) = Tokens::make(&mut rand::rng(), "alice").unwrap();
    let tokens = Tokens::parse(&line).unwrap();
    let (day, minute) = (Duration::from_secs(86_400), Duration::from_secs(60));
    let server = serve_values(root.path(), &tokens, day, minute, large).await;
    let client = root.path().join("alice");
    let (out, _) = run(server.addr, &client, &alice, false).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    // The disk as a server killed now leaves it: the answer recorded, the
    // decryption not, the seed kept for it.
    let dir = std::fs::read_dir(root.path().join("sessions"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let file = dir.join("session.bin");
    let cut_short = std::fs::read(&file).unwrap();
    let record = SessionRecord::decode(&cut_short).unwrap();
    assert!(record.seed.is_some(), "the seed stays while it decrypts");
    assert_eq!(record.finale.as_ref().unwrap().learned, None);
    // Once decrypted, the seed goes.
    let mut done = false;
    for _ in 0..1500 {
        let now = SessionRecord::decode(&std::fs::read(&file).unwrap()).unwrap();
        if now.finale.as_ref().unwrap().learned.is_some() {
            assert!(now.seed.is_none());
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done, "decrypted within 30 s");
    server.stop().await;
    std::fs::write(&file, &cut_short).unwrap();

    let mut server = serve_values(root.path(), &tokens, day, minute, large).await;
    let (out, resumed) = run(server.addr, &client, &alice, true).await;
    assert_eq!(out, PjcOutput::SumToServer(Outcome::Released(200)));
    assert!(resumed);
    let sum = (400..600).map(large).sum();
    let want = Outcome::Released(SumOutput { count: 200, sum });
    assert_eq!(learned(&mut server.events).await, Some(want));
    assert!(nothing_kept(root.path()).await);
    server.stop().await;
}
