//! Bucketed linkage runs over real sockets, with KKRT buckets: an honest
//! bucket links exactly the shared values on both sides; a bucket of the
//! other protocol, ids the server does not know, and more ids than the
//! server offered are refused with a clear error, and nothing is recorded.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use psi_core::bucket::{fine_range, padded_size, Partition, PartitionSeed};
use psi_core::codec::{encode_frame, Codec, FrameDecoder, Protocol, WIRE_VERSION};
use psi_core::ecdh::LinkId;
use psi_core::kkrt::{OprfChunk, Receiver, SenderHello};
use psi_core::linkage::bucketed::{link_id, BucketOffer};
use psi_core::linkage::{Duplicates, LinkIds, LinkageFinish, StepRecorded, StepSummary};
use psi_core::rng::ZeroizingRng;
use psi_core::{Item, Limits};
use psi_server::{
    open_linkage_run, run_link_bucket, wait_run_ready, BucketSource, ClientConfig, LinkRunRef,
    LinkageSource, PreparedLinkage, PreparedSet, PsiServer, ServerConfig,
};

mod common;

use common::item;

/// A one-key table in memory: row `r` carries `item(values[r])`.
struct Table(Vec<u32>);

/// Its linkage under one seed: which rows are linked, under which id.
struct Linked {
    items: Vec<Item>,
    partition: Partition,
    links: Mutex<Vec<Option<LinkId>>>,
    recorded: Mutex<Vec<u16>>,
}

impl LinkageSource for Table {
    fn prepare(
        &self,
        seed: &PartitionSeed,
        _partner: &str,
        _progress: &AtomicU64,
    ) -> Result<Arc<dyn PreparedLinkage>, String> {
        Ok(Arc::new(Linked {
            items: self.0.iter().map(|&v| item(v)).collect(),
            partition: Partition::new(seed),
            links: Mutex::new(vec![None; self.0.len()]),
            recorded: Mutex::new(Vec::new()),
        }))
    }
}

impl PreparedLinkage for Linked {
    fn rows(&self) -> u64 {
        self.items.len() as u64
    }
    fn steps(&self) -> usize {
        1
    }
    fn offer(&self, _step: u16, bucket: u16, count: u16) -> Result<(BucketOffer, u64), String> {
        let fine = fine_range(bucket, count);
        let rows: Vec<[u32; 1]> = (0..self.items.len() as u32).map(|r| [r]).collect();
        let links = self.links.lock().unwrap();
        let offer = BucketOffer::new(
            Duplicates::Unique,
            self.items
                .iter()
                .zip(&rows)
                .filter(|(x, _)| fine.contains(&self.partition.fine(x)))
                .map(|(x, r)| (*x, &r[..])),
            |r| links[r as usize].is_some(),
        );
        Ok((offer, self.items.len() as u64))
    }
    fn unfinished_before(&self, _step: u16) -> Option<u16> {
        None
    }
    fn record(
        &self,
        _step: u16,
        bucket: u16,
        _count: u16,
        offer: &BucketOffer,
        matched: &[(u32, LinkId)],
    ) -> Result<u64, String> {
        let links = offer.links(matched).map_err(|e| e.to_string())?;
        let mut all = self.links.lock().unwrap();
        for &(r, id) in &links {
            all[r as usize] = Some(id);
        }
        self.recorded.lock().unwrap().push(bucket);
        Ok(links.len() as u64)
    }
    fn complete(&self) -> Result<bool, String> {
        Ok(true)
    }
    fn linked_rows(&self) -> u64 {
        self.links.lock().unwrap().iter().flatten().count() as u64
    }
    fn summaries(&self) -> Vec<StepSummary> {
        Vec::new()
    }
    fn finished(&self, _: &str, _: &LinkageFinish) -> Result<Option<(u64, String)>, String> {
        Ok(None)
    }
}

/// Serves nothing but linkage runs of `values`.
async fn serve(values: Vec<u32>) -> SocketAddr {
    struct NoSet;
    impl BucketSource for NoSet {
        fn prepare(
            &self,
            _: &PartitionSeed,
            _: &AtomicU64,
        ) -> Result<Arc<dyn PreparedSet>, String> {
            Err("linkage runs only".into())
        }
    }
    let server = PsiServer::bind_buckets_linkage(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(NoSet),
        Arc::new(Table(values)),
        ServerConfig::default(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

/// One request on a new connection: (status, the session header, body).
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Option<String>, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "x")
        .header("x-psi-wire-version", WIRE_VERSION.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let answer = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let session = answer
        .headers()
        .get("x-psi-session")
        .map(|v| v.to_str().unwrap().to_string());
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    (status, session, body.to_vec())
}

/// A KKRT bucket session driven by hand (the client's core states over raw
/// requests), up to its result: returns the session token and our matched
/// indices, so that the test can send any result it likes.
async fn raw_kkrt_bucket(
    addr: SocketAddr,
    run: &str,
    (bucket, count): (u16, u16),
    items: Vec<Item>,
) -> (String, Vec<usize>) {
    let mut rng = ZeroizingRng::from_os_rng().unwrap();
    let (state, hello) = Receiver::start(&mut rng, items, &Limits::default()).unwrap();
    let headers = [
        ("x-psi-run", run.to_string()),
        ("x-psi-bucket", format!("{bucket}/{count}")),
        ("x-psi-step", "0".to_string()),
        ("x-psi-linkage", "new".to_string()),
    ];
    let (status, token, answer) =
        send(addr, "POST", "/v1/sessions", &headers, hello.to_bytes()).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let token = token.unwrap();
    let mut matrix = state
        .receive(SenderHello::from_bytes(&answer).unwrap())
        .unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = matrix.next_chunk() {
        encode_frame(&chunk.to_bytes(), &mut body);
    }
    let path = |s: &str| format!("/v1/sessions/{token}/{s}");
    let (status, _, answer) = send(addr, "PUT", &path("matrix"), &[], body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let mut expect = matrix.finish().unwrap();
    let (status, _, values) = send(addr, "GET", &path("oprf-values"), &[], Vec::new()).await;
    assert_eq!(status, 200);
    let mut frames = FrameDecoder::new(usize::MAX);
    frames.push(&values);
    while let Some(m) = frames.next_frame().unwrap() {
        expect.receive(OprfChunk::from_bytes(&m).unwrap()).unwrap();
    }
    (token, expect.finish().unwrap().matched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkrt_buckets_link_by_id_and_refuse_strangers() {
    let addr = serve((0..300).collect()).await;
    let url = format!("http://{addr}");
    let config = ClientConfig::default();
    let run = open_linkage_run(&url, &config, Protocol::Kkrt, [7; 32])
        .await
        .unwrap();
    assert_eq!(
        wait_run_ready(&url, &config, &run.id, |_| {})
            .await
            .unwrap(),
        300
    );
    let count = 2u16;
    let partition = Partition::new(&run.seed);
    // Our values 200..500 in bucket 0, padded as the server pads its own.
    let ours: Vec<Item> = (200..500u32)
        .map(item)
        .filter(|x| fine_range(0, count).contains(&partition.fine(x)))
        .collect();
    let shared = ours
        .iter()
        .filter(|x| (0..300).map(item).any(|y| y == **x))
        .count();
    assert!(shared > 10, "{shared}");
    let padded = |rng: &mut ZeroizingRng| {
        let mut items = ours.clone();
        psi_core::bucket::pad(&mut items, padded_size(300, count), 0, rng).unwrap();
        items
    };
    let mut rng = ZeroizingRng::from_os_rng().unwrap();
    let bucket = |protocol, seed| LinkRunRef {
        id: &run.id,
        seed,
        protocol,
    };

    // A bucket of a run the server does not hold (it restarted): an unknown
    // run, which the client reopens, never another refusal.
    let e = run_link_bucket(
        &url,
        &config,
        LinkRunRef {
            id: "0123abcd",
            seed: &run.seed,
            protocol: Protocol::Kkrt,
        },
        0,
        (0, count),
        padded(&mut rng),
        ours.len(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown_run"), "{e}");

    // A bucket of the other protocol: refused, naming both.
    let e = run_link_bucket(
        &url,
        &config,
        bucket(Protocol::EcdhIntersection, &run.seed),
        0,
        (0, count),
        padded(&mut rng),
        ours.len(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("this linkage run runs kkrt-ot") && e.contains("ecdh-ristretto255"),
        "{e}"
    );

    // Ids made under another seed name none of the server's items.
    let other = PartitionSeed::from_bytes([9; 32]);
    let e = run_link_bucket(
        &url,
        &config,
        bucket(Protocol::Kkrt, &other),
        0,
        (0, count),
        padded(&mut rng),
        ours.len(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("names none of the items we offered"),
        "an unknown id is the peer's error: {e}"
    );

    // By hand: one id more than the server offered is refused before it is read.
    let (token, matched) = raw_kkrt_bucket(addr, &run.id, (0, count), padded(&mut rng)).await;
    assert_eq!(matched.len(), shared);
    let offered = (0..300u32)
        .map(item)
        .filter(|x| fine_range(0, count).contains(&partition.fine(x)))
        .count();
    let too_many = LinkIds {
        ids: vec![[1; 16]; offered + 1],
    };
    let result = format!("/v1/sessions/{token}/result");
    let (status, _, body) = send(addr, "POST", &result, &[], too_many.to_bytes()).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too large"), "{body}");

    // An honest bucket: every shared value is linked, under its id.
    let (token, matched) = raw_kkrt_bucket(addr, &run.id, (0, count), padded(&mut rng)).await;
    let ids = LinkIds {
        ids: matched
            .iter()
            .filter(|&&i| i < ours.len())
            .map(|&i| link_id(&run.seed, 0, &ours[i]))
            .collect(),
    };
    let result = format!("/v1/sessions/{token}/result");
    let (status, _, body) = send(addr, "POST", &result, &[], ids.to_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let recorded = StepRecorded::from_bytes(&body).unwrap();
    assert_eq!(recorded.linked_rows, shared as u64);

    // The public client on bucket 1 agrees with the plaintext answer.
    let ours1: Vec<Item> = (200..500u32)
        .map(item)
        .filter(|x| fine_range(1, count).contains(&partition.fine(x)))
        .collect();
    let want: Vec<(u32, LinkId)> = ours1
        .iter()
        .enumerate()
        .filter(|(_, x)| (0..300).map(item).any(|y| y == **x))
        .map(|(i, x)| (i as u32, link_id(&run.seed, 0, x)))
        .collect();
    let mut items = ours1.clone();
    psi_core::bucket::pad(&mut items, padded_size(300, count), 1, &mut rng).unwrap();
    let out = run_link_bucket(
        &url,
        &config,
        bucket(Protocol::Kkrt, &run.seed),
        0,
        (1, count),
        items,
        ours1.len(),
    )
    .await
    .unwrap();
    assert_eq!(out.matched, want);
    assert_eq!(out.server_linked_rows, want.len() as u64);
    assert_eq!(out.server_offered, padded_size(300, count));
}
