//! Bucketed runs ([`psi_core::bucket`]): `POST /v1/runs` takes the client's
//! nonce and answers ours, then partitions the served set under the run's
//! seed in a blocking task; `GET /v1/runs/{id}` reports progress and
//! `GET /v1/runs/{id}/ready` says when the buckets can be asked for. Each
//! bucket is then an ordinary session whose hello names the run and the
//! bucket ([`bucket_items`]): its items are the bucket's, padded.
//!
//! A run belongs to the identity that opened it ([`super::run_registry`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use psi_core::bucket::wire::{RunAnswer, RunHello, RunReady};
use psi_core::bucket::{self, FINE_BUCKETS};
use psi_core::codec::{Codec, Protocol, CLIENT_HELLO_TYPE, KKRT_HELLO_TYPE};
use psi_core::rng::ZeroizingRng;
use psi_core::Item;

use super::ids::random_token;
use super::respond::{self, Answer};
use super::run_registry::{lock, Phase, Run, MAX_RUNS, RUN_IDLE};
use super::shared::{Caller, Shared};
use crate::api::{
    code, parse_bucket_header, BUCKET_HEADER, LINKAGE_HEADER, MAX_HELLO_BYTES, RUN_HEADER,
};
use crate::auth::Identity;

fn unknown_run() -> Answer {
    respond::error(
        StatusCode::NOT_FOUND,
        code::UNKNOWN_RUN,
        "no such run (it ended, expired after an hour untouched, or was opened by another partner)",
    )
}

/// `POST /v1/runs`.
pub(crate) async fn open(shared: Arc<Shared>, caller: Caller, req: Request<Incoming>) -> Answer {
    if let Some(refusal) = super::keycheck::key_spec_refusal(&shared, &req) {
        return refusal;
    }
    let linkage = req.headers().contains_key(LINKAGE_HEADER);
    let idle = shared.config.idle_timeout;
    let bytes = match respond::small_body(req, MAX_HELLO_BYTES, idle, "run hello").await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let hello = match RunHello::from_bytes(&bytes) {
        Ok(h) => h,
        Err(e) => return respond::core_error(&e.into()),
    };
    if !shared.config.mode.protocols().contains(&hello.protocol) {
        return respond::error(
            StatusCode::BAD_REQUEST,
            code::MODE_MISMATCH,
            format!(
                "this server does not run {} (check --mode on both sides)",
                hello.protocol
            ),
        );
    }
    let linkage_source = match (linkage, &shared.table.linkage_source) {
        (false, _) => None,
        (true, Some(source))
            if matches!(hello.protocol, Protocol::EcdhIntersection | Protocol::Kkrt) =>
        {
            Some(source.clone())
        }
        (true, Some(_)) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "no_linkage",
                format!(
                    "a bucketed linkage runs ECDH or KKRT, not {}",
                    hello.protocol
                ),
            )
        }
        (true, None) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "no_linkage",
                "this server runs no bucketed linkage (psi serve --state-dir serves them)",
            )
        }
    };
    let runs = &shared.runs;
    let server_nonce = bucket::server_nonce(&runs.key, &hello.client_nonce);
    let seed = bucket::seed(&hello.client_nonce, &server_nonce);
    let id = random_token();
    let (run, start) = {
        let mut all = lock(&runs.runs);
        all.retain(|_, r| lock(&r.touched).elapsed() < RUN_IDLE);
        if all.len() >= MAX_RUNS {
            return respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                code::BUSY,
                format!("the server is at its limit of {MAX_RUNS} runs; try again later"),
            );
        }
        // The same client nonce from the same partner resumes: its partition is reused.
        let same = all
            .values()
            .find(|r| {
                r.owner == caller.identity && r.seed == seed && r.linkage.is_some() == linkage
            })
            .filter(|r| !matches!(*lock(&r.phase), Phase::Failed(_)))
            .cloned();
        let run = Arc::new(Run {
            owner: caller.identity.clone(),
            protocol: hello.protocol,
            seed: seed.clone(),
            rows_read: same
                .as_ref()
                .map_or_else(Default::default, |r| r.rows_read.clone()),
            phase: same.as_ref().map_or_else(
                || Arc::new(Mutex::new(Phase::Partitioning)),
                |r| r.phase.clone(),
            ),
            buckets_served: AtomicU64::new(0),
            touched: Mutex::new(Instant::now()),
            linkage: linkage.then(super::link_run_state::LinkRun::new),
        });
        all.insert(id.clone(), run.clone());
        (run, same.is_none())
    };
    if start {
        let (source, run) = (shared.table.source.clone(), run.clone());
        let partner = caller.identity.to_string();
        tokio::task::spawn_blocking(move || {
            let prepared = match linkage_source {
                Some(l) => l.prepare(&run.seed, &partner, &run.rows_read).map(|p| {
                    Arc::new(super::buckets::LinkagePrepared(p))
                        as Arc<dyn super::buckets::PreparedSet>
                }),
                None => source.prepare(&run.seed, &run.rows_read),
            };
            let phase = match prepared {
                Ok(prepared) => Phase::Ready(prepared),
                Err(why) => {
                    tracing::warn!("run partition failed: {why}");
                    Phase::Failed(why)
                }
            };
            *lock(&run.phase) = phase;
        });
    }
    tracing::info!(partner = %caller.identity, protocol = %hello.protocol, resumed = !start, "run opened");
    let answer = RunAnswer {
        server_nonce,
        fine_buckets: FINE_BUCKETS,
    };
    let mut r = respond::message(answer.to_bytes());
    *r.status_mut() = StatusCode::CREATED;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
        r.headers_mut().insert(RUN_HEADER, v);
    }
    r
}

/// `GET /v1/runs/{id}`: the run's progress as JSON.
pub(crate) fn status(shared: &Shared, owner: &Identity, id: &str) -> Answer {
    let Some(run) = shared.runs.get(id, owner) else {
        return unknown_run();
    };
    let rows_read = run.rows_read.load(Ordering::Relaxed);
    let served = run.buckets_served.load(Ordering::Relaxed);
    let body = match &*lock(&run.phase) {
        Phase::Partitioning => serde_json::json!({
            "run": id, "protocol": run.protocol.name(), "phase": "partitioning",
            "rows_read": rows_read, "buckets_served": served,
        }),
        Phase::Ready(p) => serde_json::json!({
            "run": id, "protocol": run.protocol.name(), "phase": "ready",
            "rows_read": rows_read, "server_set_size": p.distinct(), "buckets_served": served,
        }),
        Phase::Failed(why) => serde_json::json!({
            "run": id, "protocol": run.protocol.name(), "phase": "failed", "error": why,
        }),
    };
    respond::json(StatusCode::OK, &body)
}

/// `GET /v1/runs/{id}/ready`: `202` with the progress while partitioning,
/// `200` with [`RunReady`] once done, `500` if the partition failed.
pub(crate) fn ready(shared: &Shared, owner: &Identity, id: &str) -> Answer {
    let Some(run) = shared.runs.get(id, owner) else {
        return unknown_run();
    };
    let phase = lock(&run.phase);
    match &*phase {
        Phase::Partitioning => {
            let rows = run.rows_read.load(Ordering::Relaxed);
            let body = serde_json::json!({"phase": "partitioning", "rows_read": rows});
            respond::json(StatusCode::ACCEPTED, &body)
        }
        Phase::Ready(p) => respond::message(
            RunReady {
                server_set_size: p.distinct(),
            }
            .to_bytes(),
        ),
        Phase::Failed(why) => respond::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            code::RUN_FAILED,
            format!("the server could not partition its table: {why}"),
        ),
    }
}

/// `POST /v1/runs/{id}/close`: the run ends; its partition stays cached.
pub(crate) fn close(shared: &Shared, owner: &Identity, id: &str) -> Answer {
    let Some(run) = shared.runs.get(id, owner) else {
        return unknown_run();
    };
    lock(&shared.runs.runs).remove(id);
    let served = run.buckets_served.load(Ordering::Relaxed);
    tracing::info!(partner = %owner, buckets_served = served, "run closed");
    shared.registry.run_closed();
    respond::json(
        StatusCode::OK,
        &serde_json::json!({"run": id, "closed": true, "buckets_served": served}),
    )
}

/// The items of the session a hello opens: `Ok(None)` for a hello outside a
/// run; for a bucket of a run, the bucket's items padded to the run's public
/// size. Runs in a blocking task (it reads the bucket).
pub(crate) fn bucket_items(
    shared: &Shared,
    owner: &Identity,
    headers: &HeaderMap,
    hello: &[u8],
) -> Result<Option<Arc<[Item]>>, Box<Answer>> {
    let Some(id) = headers.get(RUN_HEADER) else {
        return Ok(None);
    };
    let bad = |why: String| respond::error(StatusCode::BAD_REQUEST, code::BAD_BUCKET, why);
    let Some(run) = id.to_str().ok().and_then(|id| shared.runs.get(id, owner)) else {
        return Err(Box::new(unknown_run()));
    };
    let Some((index, count)) = headers
        .get(BUCKET_HEADER)
        .and_then(|v| parse_bucket_header(v.as_bytes()))
    else {
        return Err(Box::new(bad(format!(
            "a session of a run needs a {BUCKET_HEADER} header `index/count`, count a power of two up to {FINE_BUCKETS}"
        ))));
    };
    let hello_type = match run.protocol {
        Protocol::Kkrt => KKRT_HELLO_TYPE,
        _ => CLIENT_HELLO_TYPE,
    };
    if hello.get(1) != Some(&hello_type) {
        return Err(Box::new(bad(format!(
            "this run runs {} only",
            run.protocol
        ))));
    }
    let prepared = match &*lock(&run.phase) {
        Phase::Ready(p) => p.clone(),
        Phase::Partitioning => {
            return Err(Box::new(respond::error(
                StatusCode::CONFLICT,
                code::NOT_READY,
                "the server is still partitioning its table for this run (GET its ready path)",
            )))
        }
        Phase::Failed(why) => {
            return Err(Box::new(respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::RUN_FAILED,
                format!("the server could not partition its table: {why}"),
            )))
        }
    };
    let mut items = prepared
        .load(bucket::fine_range(index, count))
        .map_err(|why| Box::new(respond::internal(format!("reading bucket {index}: {why}"))))?;
    let size = bucket::padded_size(prepared.distinct(), count);
    let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
        Box::new(respond::internal(
            "the operating system's random generator failed",
        ))
    })?;
    bucket::pad(&mut items, size, index, &mut rng)
        .map_err(|e| Box::new(respond::core_error(&e)))?;
    run.buckets_served.fetch_add(1, Ordering::Relaxed);
    Ok(Some(items.into()))
}
