//! Linkages ([`psi_core::linkage`]): each step is an ECDH session whose hello
//! carries [`LINKAGE_HEADER`]; its result comes back on the step's `result`
//! exchange; `POST /v1/linkages/{id}/finish` ends the linkage.
// A refusal here is a response on its way out to the client; boxing it would
// only add an allocation to the error path.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use psi_core::codec::Codec;
use psi_core::linkage::{LinkResult, LinkageFinish, LinkageTotals, Offer, StepRecorded, Waterfall};

use super::ids::random_token;
use super::linkage_state::LinkageState;
use super::quota::Place;
use super::respond::{self, Answer};
use super::shared::Shared;
use crate::api::{code, LINKAGE_HEADER, LINKAGE_NEW, MAX_HELLO_BYTES};
use crate::auth::Identity;

/// A hello that is a step of a linkage, before its session exists.
pub(crate) struct Step {
    pub(crate) id: String,
    state: Arc<Mutex<LinkageState>>,
    pub(crate) offer: Offer,
    /// A new linkage: registered only once its first hello is accepted.
    new: bool,
}

/// Whether a hello continues a linkage already running (whose place under
/// the session limit covers its steps).
pub(crate) fn continues_linkage(headers: &HeaderMap) -> bool {
    headers
        .get(LINKAGE_HEADER)
        .is_some_and(|v| v.as_bytes() != LINKAGE_NEW.as_bytes())
}

fn bad(code: &str, message: impl Into<String>) -> Answer {
    respond::error(StatusCode::BAD_REQUEST, code, message)
}

/// A hello with [`LINKAGE_HEADER`]: starts a linkage or finds it, checks that
/// the previous step's result arrived, and computes this step's offer.
pub(crate) fn begin_step(
    shared: &Shared,
    owner: &Identity,
    headers: &HeaderMap,
    hello: &[u8],
) -> Result<Option<Step>, Answer> {
    let Some(value) = headers.get(LINKAGE_HEADER) else {
        return Ok(None);
    };
    if hello.get(1) != Some(&psi_core::codec::CLIENT_HELLO_TYPE) {
        return Err(bad(
            "linkage_protocol",
            "a linkage step runs ECDH-PSI (ristretto255); other protocols have no shared result",
        ));
    }
    let Some((keys, duplicates)) = &shared.table.linkage_keys else {
        return Err(bad(
            "no_linkage",
            "this server was not started with linkage keys",
        ));
    };
    let value = value.to_str().unwrap_or_default();
    let (id, state) = if value == LINKAGE_NEW {
        let waterfall = Waterfall::new(keys.clone(), *duplicates)
            .map_err(|e| bad("no_linkage", e.to_string()))?;
        let state = Arc::new(Mutex::new(LinkageState::new(owner.clone(), waterfall)));
        (random_token(), state)
    } else {
        match shared.registry.linkage_of(value, owner) {
            Some(state) => (value.to_string(), state),
            None => return Err(respond::unknown_linkage()),
        }
    };
    let offer = {
        let Ok(st) = state.lock() else {
            return Err(respond::internal("linkage state poisoned"));
        };
        if st.pending.is_some() {
            return Err(respond::error(
                StatusCode::CONFLICT,
                code::NOT_READY,
                "the previous step's result has not arrived",
            ));
        }
        st.waterfall.offer().map_err(|_| {
            respond::error(
                StatusCode::CONFLICT,
                "linkage_done",
                format!(
                    "every one of the {} steps of this linkage has run",
                    st.waterfall.steps()
                ),
            )
        })?
    };
    let new = value == LINKAGE_NEW;
    Ok(Some(Step {
        id,
        state,
        offer,
        new,
    }))
}

/// The step's session opened: keeps its offer and stream order until the
/// result arrives; a new linkage is registered now, with `permit` (its place
/// under the session limit). Returns the linkage id.
pub(crate) fn bind_step(
    shared: &Shared,
    step: Step,
    order: Option<Arc<[u32]>>,
    client_offered: u64,
    place: Option<Place>,
) -> Result<String, Answer> {
    let Some(order) = order else {
        return Err(respond::internal("an ECDH session without a stream order"));
    };
    {
        let Ok(mut st) = step.state.lock() else {
            return Err(respond::internal("linkage state poisoned"));
        };
        st.pending = Some((step.offer, order));
        st.client_offered.push(client_offered);
        st.last_activity = Instant::now();
        if step.new {
            st.place = place;
        }
    }
    if step.new {
        shared.registry.insert_linkage(step.id.clone(), step.state);
    }
    Ok(step.id)
}

/// The largest [`LinkResult`] a step can carry for the linkage `id`, if it
/// is waiting for one: six header bytes and 20 per matched position.
pub(crate) fn result_limit(shared: &Shared, id: &str) -> Option<usize> {
    if let Some(limit) = super::link_runs::result_limit(shared, id) {
        return Some(limit);
    }
    let state = shared.registry.linkage(id)?;
    let st = state.lock().ok()?;
    st.pending.as_ref().map(|(_, order)| 16 + 20 * order.len())
}

/// A step's [`LinkResult`] for linkage `id` (off the async threads): maps it
/// through our stream order and records it. Returns the answer.
pub(crate) fn record_result(
    shared: &Shared,
    id: &str,
    bytes: &[u8],
) -> Result<StepRecorded, psi_core::Error> {
    if let Some(recorded) = super::link_runs::record_result(shared, id, bytes) {
        return recorded;
    }
    let state = shared
        .registry
        .linkage(id)
        .ok_or(psi_core::Error::Misuse("the linkage ended"))?;
    let mut st = state
        .lock()
        .map_err(|_| psi_core::Error::Misuse("linkage state poisoned"))?;
    let (offer, order) = st
        .pending
        .take()
        .ok_or(psi_core::Error::Misuse("no step is waiting for its result"))?;
    let result = LinkResult::from_bytes(bytes)?;
    let matched = psi_core::linkage::resolve(&result, &order)?;
    let before = st.waterfall.linked_rows();
    st.waterfall.record(&offer, &matched)?;
    st.last_activity = Instant::now();
    Ok(StepRecorded {
        linked_rows: st.waterfall.linked_rows() - before,
    })
}

/// `POST /v1/linkages/{id}/finish`: the client's [`LinkageFinish`]; answers
/// with our [`LinkageTotals`] and ends the linkage.
pub(crate) async fn finish(
    shared: Arc<Shared>,
    owner: &Identity,
    id: &str,
    req: Request<Incoming>,
) -> Answer {
    if shared.runs.get(id, owner).is_some() {
        if let Some(answer) = super::link_runs::finish(&shared, owner, id, req).await {
            return answer;
        }
        return respond::unknown_linkage();
    }
    let Some(state) = shared.registry.linkage_of(id, owner) else {
        return respond::unknown_linkage();
    };
    let idle = shared.config.idle_timeout;
    let bytes = match respond::small_body(req, MAX_HELLO_BYTES, idle, "finish message").await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let finish = match LinkageFinish::from_bytes(&bytes) {
        Ok(f) => f,
        Err(e) => return respond::core_error(&e.into()),
    };
    // The count is the client's claim, and an aligned left or full join
    // writes a placeholder row for each: refuse it above our set-size limit.
    let limits = &shared.config.limits;
    if finish.check_unlinked_rows(limits).is_err() {
        let message = format!(
            "the client reports {} unlinked rows, above this server's limit of {} \
             (its max_set_size, the largest set a client may announce)",
            finish.client_unlinked_rows,
            psi_core::linkage::max_unlinked_rows(limits)
        );
        shared
            .registry
            .end_linkage(id, Err(message.clone()), Some(finish));
        return bad("too_many_rows", message);
    }
    let totals = match totals(&state, &bytes) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    shared.registry.end_linkage(id, Ok(()), Some(finish));
    respond::message(totals.to_bytes())
}

/// Our totals, once every step ran.
fn totals(state: &Mutex<LinkageState>, finish: &Bytes) -> Result<LinkageTotals, Answer> {
    let Ok(mut st) = state.lock() else {
        return Err(respond::internal("linkage state poisoned"));
    };
    if st.waterfall.step() < st.waterfall.steps() || st.pending.is_some() {
        return Err(respond::error(
            StatusCode::CONFLICT,
            code::NOT_READY,
            format!(
                "the linkage ran {} of its {} steps",
                st.waterfall.step(),
                st.waterfall.steps()
            ),
        ));
    }
    let rows = st.waterfall.rows() as u64;
    let answer = LinkageTotals {
        server_rows: rows,
        server_unlinked_rows: rows - st.waterfall.linked_rows(),
    };
    st.traffic.bytes_received += finish.len() as u64;
    st.traffic.bytes_sent += answer.to_bytes().len() as u64;
    Ok(answer)
}
