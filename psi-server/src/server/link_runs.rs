//! Bucketed linkages ([`psi_core::linkage::bucketed`]): a run opened with
//! `x-psi-linkage: new` partitions every key of the served table
//! ([`super::link_source`]); each bucket of each step is then a session of
//! the run's protocol (ECDH or KKRT, named by its run hello) whose hello
//! names the run, the bucket and the step, with its result shared as in a
//! linkage step (ECDH: positions in our shuffled stream and ids; KKRT: the
//! ids of the shared items, which we recompute for each item we offered);
//! `POST /v1/linkages/{run id}/finish` ends it.
//!
//! One bucket waits for its result at a time. Its session's linkage id is
//! `<run>S<serial>` (the run id is lowercase hex, so the `S` is unambiguous
//! and the id stays a token the client accepts), so a result is recorded only against the bucket it answers
//! (a hello that replaces a bucket whose session died gets a new serial).
// A refusal here is a response on its way out to the client; boxing it would
// only add an allocation to the error path.
#![allow(clippy::result_large_err)]

use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use psi_core::codec::{Codec, Protocol, CLIENT_HELLO_TYPE, KKRT_HELLO_TYPE};
use psi_core::linkage::bucketed::{padded_offer, BucketOffer};
use psi_core::linkage::{LinkIds, LinkResult, LinkageFinish, LinkageTotals, StepRecorded};
use psi_core::rng::ZeroizingRng;
use psi_core::Item;

use super::link_run_state::{Pending, Resolve};
use super::link_source::PreparedLinkage;
use super::registry::{BucketedOutcome, LinkageEvent};
use super::respond::{self, Answer};
use super::run_registry::{lock, Phase, Run};
use super::shared::Shared;
use crate::api::{
    code, parse_bucket_header, BUCKET_HEADER, LINKAGE_HEADER, LINKAGE_NEW, MAX_HELLO_BYTES,
    RUN_HEADER, STEP_HEADER,
};
use crate::auth::Identity;
use crate::metrics::Traffic;

/// A hello of a linkage run's bucket, before its session exists.
pub(crate) struct BucketStep {
    run: Arc<Run>,
    run_id: String,
    serial: u64,
    step: u16,
    bucket: u16,
    count: u16,
    offer: BucketOffer,
    /// The padded items the session serves.
    pub(crate) items: Arc<[Item]>,
}

/// The type byte of the bucket hellos of a linkage run of `protocol`.
fn hello_type(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Kkrt => KKRT_HELLO_TYPE,
        _ => CLIENT_HELLO_TYPE,
    }
}

/// The protocol of a bucket hello's type byte, if a linkage runs it.
fn protocol_of(hello_type: u8) -> Option<Protocol> {
    match hello_type {
        KKRT_HELLO_TYPE => Some(Protocol::Kkrt),
        CLIENT_HELLO_TYPE => Some(Protocol::EcdhIntersection),
        _ => None,
    }
}

fn bad(message: impl Into<String>) -> Answer {
    respond::error(StatusCode::BAD_REQUEST, code::BAD_BUCKET, message)
}

fn prepared_of(run: &Run) -> Result<Arc<dyn PreparedLinkage>, Answer> {
    match &*lock(&run.phase) {
        Phase::Ready(p) => p
            .linkage()
            .ok_or_else(|| respond::internal("a linkage run without a linkage")),
        Phase::Partitioning => Err(respond::error(
            StatusCode::CONFLICT,
            code::NOT_READY,
            "the server is still partitioning its table for this run (GET its ready path)",
        )),
        Phase::Failed(why) => Err(respond::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::RUN_FAILED,
            format!("the server could not partition its table: {why}"),
        )),
    }
}

/// A hello naming a linkage run (off the async threads: it reads a bucket):
/// `Ok(None)` for any other hello.
pub(crate) fn begin(
    shared: &Shared,
    owner: &Identity,
    headers: &HeaderMap,
    hello: &[u8],
) -> Result<Option<BucketStep>, Box<Answer>> {
    let Some(run_id) = headers.get(RUN_HEADER).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let step = headers.get(STEP_HEADER);
    let Some(run) = shared.runs.get(run_id, owner) else {
        if step.is_some() {
            // A linkage bucket of a run this server does not hold (it
            // restarted, or the run expired): the client reopens the run.
            return Err(Box::new(respond::error(
                StatusCode::NOT_FOUND,
                code::UNKNOWN_RUN,
                "no such run (it ended, expired after an hour untouched, the server restarted, or it was opened by another partner)",
            )));
        }
        return Ok(None); // `runs::bucket_items` answers an unknown run
    };
    if run.linkage.is_none() {
        return match step {
            Some(_) => Err(Box::new(bad(format!(
                "{STEP_HEADER} names a step, but this run is not a linkage"
            )))),
            None => Ok(None),
        };
    }
    let step = step
        .and_then(|v| v.to_str().ok()?.parse::<u16>().ok())
        .ok_or_else(|| {
            Box::new(bad(format!(
                "a bucket of a linkage run needs {STEP_HEADER}"
            )))
        })?;
    let (bucket, count) = headers
        .get(BUCKET_HEADER)
        .and_then(|v| parse_bucket_header(v.as_bytes()))
        .ok_or_else(|| {
            Box::new(bad(format!(
                "a session of a run needs a {BUCKET_HEADER} header `index/count`"
            )))
        })?;
    if headers.get(LINKAGE_HEADER).map(|v| v.as_bytes()) != Some(LINKAGE_NEW.as_bytes()) {
        return Err(Box::new(bad(format!(
            "a bucket of a linkage run shares its result: send {LINKAGE_HEADER}: {LINKAGE_NEW}"
        ))));
    }
    let (expected, asked) = (
        hello_type(run.protocol),
        hello.get(1).copied().and_then(protocol_of),
    );
    if hello.get(1) != Some(&expected) {
        let asked = asked.map_or("another protocol".to_string(), |p| p.to_string());
        return Err(Box::new(bad(format!(
            "this linkage run runs {} (its run hello said so), but the bucket's hello is {asked}: both must be the same --protocol",
            run.protocol
        ))));
    }
    let prepared = prepared_of(&run).map_err(Box::new)?;
    if usize::from(step) >= prepared.steps() {
        return Err(Box::new(bad(format!(
            "step {step}: this table's waterfall has {} keys",
            prepared.steps()
        ))));
    }
    if let Some(earlier) = prepared.unfinished_before(step) {
        return Err(Box::new(respond::error(
            StatusCode::CONFLICT,
            code::LINKAGE_BEHIND,
            format!("step {step} cannot start: this server has not recorded every bucket of step {earlier} (it lost that progress; start the buckets over)"),
        )));
    }
    let (offer, total) = prepared
        .offer(step, bucket, count)
        .map_err(|why| Box::new(bad(why)))?;
    let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
        Box::new(respond::internal(
            "the operating system's random generator failed",
        ))
    })?;
    let items = offer
        .padded(padded_offer(total, count), bucket, &mut rng)
        .map_err(|e| Box::new(respond::core_error(&e)))?;
    let serial = run
        .linkage
        .as_ref()
        .map_or(0, |l| l.serial.fetch_add(1, Ordering::Relaxed));
    Ok(Some(BucketStep {
        run,
        run_id: run_id.to_string(),
        serial,
        step,
        bucket,
        count,
        offer,
        items: items.into(),
    }))
}

/// The bucket's session opened: keeps its offer and stream order until its
/// result arrives. Returns the session's linkage id, `<run>S<serial>`.
pub(crate) fn bind(
    step: BucketStep,
    order: Option<Arc<[u32]>>,
    client_offered: u64,
) -> Result<String, Answer> {
    // ECDH's result names positions in our shuffled stream; KKRT's names ids.
    let resolve = match (step.run.protocol, order) {
        (Protocol::Kkrt, _) => Resolve::Ids,
        (_, Some(order)) => Resolve::Positions(order),
        (_, None) => return Err(respond::internal("an ECDH session without a stream order")),
    };
    let Some(state) = &step.run.linkage else {
        return Err(respond::internal("a linkage bucket of another run"));
    };
    let (serial, id) = (step.serial, step.id());
    {
        let mut offered = lock(&state.client_offered);
        let s = usize::from(step.step);
        if offered.len() <= s {
            offered.resize(s + 1, 0);
        }
        offered[s] = client_offered;
    }
    *lock(&state.pending) = Some(Pending {
        serial,
        step: step.step,
        bucket: step.bucket,
        count: step.count,
        offer: step.offer,
        resolve,
        items: step.items.len(),
    });
    Ok(id)
}

impl BucketStep {
    /// The linkage id of this bucket's session: `<run>S<serial>`.
    pub(crate) fn id(&self) -> String {
        format!("{}S{}", self.run_id, self.serial)
    }
}

/// The run and serial of a bucket session's linkage id.
fn parse_id<'a>(shared: &Shared, id: &'a str) -> Option<(Arc<Run>, &'a str, u64)> {
    let (run_id, serial) = id.split_once('S')?;
    let run = lock(&shared.runs.runs).get(run_id).cloned()?;
    run.linkage.as_ref()?;
    Some((run, run_id, serial.parse().ok()?))
}

/// The largest result bucket session `id` may carry, if `id` is one.
pub(crate) fn result_limit(shared: &Shared, id: &str) -> Option<usize> {
    let (run, _, serial) = parse_id(shared, id)?;
    let state = run.linkage.as_ref()?;
    let pending = lock(&state.pending);
    let p = pending.as_ref().filter(|p| p.serial == serial)?;
    Some(match p.resolve {
        // A position and an id per match, at most one per padded item.
        Resolve::Positions(_) => 16 + 20 * p.items,
        // An id per match, at most one per real item we offered.
        Resolve::Ids => 16 + 16 * p.offer.len(),
    })
}

/// A bucket's [`LinkResult`] (off the async threads): `None` if `id` is not a
/// bucket session's; else maps it through our stream order and records it.
pub(crate) fn record_result(
    shared: &Shared,
    id: &str,
    bytes: &[u8],
) -> Option<Result<StepRecorded, psi_core::Error>> {
    let (run, _, serial) = parse_id(shared, id)?;
    let state = run.linkage.as_ref()?;
    let record = || {
        let pending = {
            let mut slot = lock(&state.pending);
            match slot.take() {
                Some(p) if p.serial == serial => p,
                other => {
                    *slot = other;
                    return Err(psi_core::Error::Misuse(
                        "no bucket of this linkage is waiting for this result",
                    ));
                }
            }
        };
        let prepared = match &*lock(&run.phase) {
            Phase::Ready(p) => p.linkage(),
            _ => None,
        }
        .ok_or(psi_core::Error::Misuse("the linkage run is not ready"))?;
        let matched = match &pending.resolve {
            Resolve::Positions(order) => {
                psi_core::linkage::resolve(&LinkResult::from_bytes(bytes)?, order)?
            }
            Resolve::Ids => {
                let ids = LinkIds::from_bytes(bytes)?;
                pending
                    .offer
                    .matched_by_id(&run.seed, pending.step, &ids.ids)?
            }
        };
        let linked_rows = prepared
            .record(
                pending.step,
                pending.bucket,
                pending.count,
                &pending.offer,
                &matched,
            )
            .map_err(|why| {
                tracing::warn!(error = %why, "recording a linkage bucket failed");
                psi_core::Error::Misuse("the server could not record the bucket's links")
            })?;
        Ok(StepRecorded { linked_rows })
    };
    Some(record())
}

/// `POST /v1/linkages/{run id}/finish` for a linkage run: `None` if `id` is
/// not one of `owner`'s linkage runs. Answers our totals, ends the run, then
/// writes our side (off the async threads) and emits the linkage's event.
pub(crate) async fn finish(
    shared: &Arc<Shared>,
    owner: &Identity,
    id: &str,
    req: Request<Incoming>,
) -> Option<Answer> {
    let run = shared.runs.get(id, owner)?;
    let state = run.linkage.as_ref()?;
    let prepared = match prepared_of(&run) {
        Ok(p) => p,
        Err(refusal) => return Some(refusal),
    };
    let idle = shared.config.idle_timeout;
    let bytes = match respond::small_body(req, MAX_HELLO_BYTES, idle, "finish message").await {
        Ok(b) => b,
        Err(refusal) => return Some(refusal),
    };
    let finish = match LinkageFinish::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => return Some(respond::core_error(&e.into())),
    };
    let limits = &shared.config.limits;
    if finish.check_unlinked_rows(limits).is_err() {
        return Some(respond::error(
            StatusCode::BAD_REQUEST,
            "too_many_rows",
            format!(
                "the client reports {} unlinked rows, above this server's limit of {} \
                 (its max_set_size, the largest set a client may announce)",
                finish.client_unlinked_rows,
                psi_core::linkage::max_unlinked_rows(limits)
            ),
        ));
    }
    let p = prepared.clone();
    let complete = tokio::task::spawn_blocking(move || (p.complete(), p.rows(), p.linked_rows()))
        .await
        .ok()?;
    let (done, rows, linked) = complete;
    let done = match done {
        Ok(done) => done,
        Err(why) => {
            tracing::warn!(error = %why, "a sharded linkage's workers did not meet");
            return Some(respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::RUN_FAILED,
                format!("the server's shard workers did not meet after the last step: {why}"),
            ));
        }
    };
    if !done {
        return Some(respond::error(
            StatusCode::CONFLICT,
            code::LINKAGE_BEHIND,
            "this server has not recorded every bucket of every step of this linkage (it lost that progress; start the buckets over)",
        ));
    }
    let totals = LinkageTotals {
        server_rows: rows,
        server_unlinked_rows: rows - linked,
    };
    lock(&shared.runs.runs).remove(id);
    let traffic = Traffic {
        bytes_received: bytes.len() as u64,
        bytes_sent: totals.to_bytes().len() as u64,
    };
    let event = LinkageEvent {
        linkage: id.to_string(),
        partner: owner.to_string(),
        outcome: Ok(()),
        links: Arc::from(Vec::new()),
        summaries: Vec::new(),
        client_offered: lock(&state.client_offered).clone(),
        finish: Some(finish),
        traffic,
        seconds: state.started.elapsed().as_secs_f64(),
        bucketed: Some(BucketedOutcome {
            rows,
            linked_rows: linked,
            output: Ok(None),
        }),
    };
    let (shared, id) = (shared.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut event = event;
        event.summaries = prepared.summaries();
        if let Some(b) = &mut event.bucketed {
            b.output = prepared.finished(&id, &finish);
        }
        shared.registry.linkage_done(event);
    });
    Some(respond::message(totals.to_bytes()))
}
