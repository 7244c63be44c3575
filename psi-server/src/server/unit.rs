//! The linkage unit of fuzzy linkage (`psi serve --role linkage-unit`): the
//! named owners each upload their encodings file once (`PUT
//! /v1/unit/encodings`), the unit links them as `psi match` does when the last
//! one arrives, and each owner fetches only its own rows' links (`GET
//! /v1/unit/result`): `row,link_id`, where `link_id` is a random 128-bit
//! pseudonym the unit gives each linked pair or group, the same for every
//! owner in it, so that owners can align their rows (vertical federated
//! learning) without learning anything else of the others' rows.
//!
//! The unit never holds the owners' secret; what it learns is written in the
//! README (*Fuzzy linkage*). Every request needs an authenticated identity
//! (a partner token or a client certificate) that is one of the owners.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use psi_fuzzy::{auto_blocking, resolve, search_all, Encodings, Kernel, Links, Threshold};

use super::ids::random_token;
use super::respond::{self, Answer};
use crate::api::code;
use crate::auth::Identity;

/// What a linkage unit is told at start.
#[derive(Debug, Clone)]
pub struct UnitConfig {
    /// The owners' identities (token names or certificate subjects), in
    /// owner order; each uploads one encodings file.
    pub owners: Vec<String>,
    /// Dice similarity at or above which rows are linked.
    pub threshold: f64,
    /// Largest encodings file accepted, in bytes.
    pub max_bytes: usize,
}

/// A linkage unit's state.
pub(crate) struct Unit {
    pub(crate) config: UnitConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Owner position → its encodings (until the linkage runs).
    submitted: BTreeMap<usize, Encodings>,
    /// Owners that have uploaded.
    uploaded: BTreeSet<usize>,
    /// Per owner, its links as CSV, once the linkage has run.
    result: Option<Arc<Vec<String>>>,
}

impl Unit {
    pub(crate) fn new(config: UnitConfig) -> Unit {
        Unit {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn owner(&self, identity: &Identity) -> Option<usize> {
        self.config.owners.iter().position(|o| *o == identity.name)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn not_an_owner(identity: &Identity) -> Answer {
    respond::error(
        StatusCode::FORBIDDEN,
        code::NOT_AN_OWNER,
        format!("{identity} is not one of this linkage unit's owners"),
    )
}

fn not_a_unit() -> Answer {
    respond::error(
        StatusCode::NOT_FOUND,
        "not_found",
        "this server is not a linkage unit (psi serve --role linkage-unit)",
    )
}

/// `PUT /v1/unit/encodings`: an owner's encodings file (given `idle`, the
/// time it may take to arrive).
pub(crate) async fn submit(
    unit: Option<Arc<Unit>>,
    idle: std::time::Duration,
    identity: &Identity,
    req: Request<Incoming>,
) -> Answer {
    let Some(unit) = unit else {
        return not_a_unit();
    };
    let Some(owner) = unit.owner(identity) else {
        return not_an_owner(identity);
    };
    if unit.state().uploaded_by(owner) {
        return already(identity);
    }
    let body = match respond::small_body(req, unit.config.max_bytes, idle, "encodings file").await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let name = format!("{}'s encodings", identity.name);
    let encodings = match Encodings::parse(&body, Path::new(&name)) {
        Ok(e) => e,
        Err(e) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                code::MALFORMED_MESSAGE,
                e.to_string(),
            )
        }
    };
    let rows = encodings.len();
    let (uploaded, complete) = {
        let mut st = unit.state();
        if st.uploaded_by(owner) {
            return already(identity);
        }
        if let Some((other, e)) = st.submitted.iter().next() {
            if let Some(why) = e.incompatibility(&encodings) {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    code::SPEC_MISMATCH,
                    format!(
                        "these encodings cannot be compared with {}'s, made under another spec: {why}",
                        unit.config.owners[*other]
                    ),
                );
            }
        }
        st.submitted.insert(owner, encodings);
        st.uploaded.insert(owner);
        (
            st.uploaded.len(),
            st.uploaded.len() == unit.config.owners.len(),
        )
    };
    tracing::info!(owner = %identity, rows, uploaded, "encodings received");
    if complete {
        let unit = unit.clone();
        tokio::task::spawn_blocking(move || link(&unit));
    }
    respond::json(
        StatusCode::OK,
        &serde_json::json!({
            "owner": identity.name,
            "rows": rows,
            "uploaded": uploaded,
            "owners": unit.config.owners.len(),
        }),
    )
}

fn already(identity: &Identity) -> Answer {
    respond::error(
        StatusCode::CONFLICT,
        code::ALREADY_SUBMITTED,
        format!("{identity} has already uploaded its encodings"),
    )
}

impl State {
    fn uploaded_by(&self, owner: usize) -> bool {
        self.uploaded.contains(&owner)
    }
}

/// Links every owner's encodings and keeps each owner's part.
fn link(unit: &Unit) {
    let inputs: Vec<Encodings> = std::mem::take(&mut unit.state().submitted)
        .into_values()
        .collect();
    let threshold = Threshold::new(unit.config.threshold);
    let found = search_all(
        &inputs,
        threshold,
        |a, b| auto_blocking(a, b, threshold),
        Kernel::detect(),
    );
    let mut per_owner: Vec<Vec<(u32, String)>> = vec![Vec::new(); inputs.len()];
    match resolve(found.edges, inputs.len(), threshold).0 {
        Links::Pairs(pairs) => {
            for p in pairs {
                let id = random_token();
                per_owner[0].push((p.a, id.clone()));
                per_owner[1].push((p.b, id));
            }
        }
        Links::Groups(groups) => {
            for group in groups {
                let id = random_token();
                for (owner, row) in group {
                    per_owner[owner as usize].push((row, id.clone()));
                }
            }
        }
    }
    let csv: Vec<String> = per_owner
        .into_iter()
        .map(|mut rows| {
            rows.sort_unstable();
            let mut text = String::from("row,link_id\n");
            for (row, id) in rows {
                let _ = writeln!(text, "{row},{id}");
            }
            text
        })
        .collect();
    tracing::info!(owners = inputs.len(), "linkage done");
    unit.state().result = Some(Arc::new(csv));
}

/// `GET /v1/unit/result`: the caller's links, or `202` while waiting.
pub(crate) fn result(unit: Option<&Unit>, identity: &Identity) -> Answer {
    let Some(unit) = unit else {
        return not_a_unit();
    };
    let Some(owner) = unit.owner(identity) else {
        return not_an_owner(identity);
    };
    let st = unit.state();
    match &st.result {
        Some(all) => {
            let mut r = hyper::Response::new(crate::body::full(all[owner].clone().into_bytes()));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/csv"),
            );
            r
        }
        None => respond::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({
                "status": "waiting",
                "uploaded": st.uploaded.len(),
                "owners": unit.config.owners.len(),
            }),
        ),
    }
}
