//! Routing: every path comes from [`crate::api`]; a session's streams and
//! their methods come from its protocol's schedule.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use psi_core::codec::WIRE_VERSION;
use psi_core::schedule::Carries;

use super::hello;
use super::linkage;
use super::pjc_restore;
use super::respond::{self, Answer, ErrorCode};
use super::runs;
use super::shared::{Caller, Shared};
use super::streams;
use super::unit;
use crate::api::{self, code, Route, VERSION_HEADER};
use crate::auth::{bearer, Identity};

/// Who sent `req`: with partner tokens, the partner whose token it carries;
/// otherwise the connection's identity (a client certificate's subject, or
/// anonymous).
#[allow(clippy::result_large_err)] // a refusal is a response on its way out
fn authenticate(
    shared: &Shared,
    connection: &Identity,
    req: &Request<Incoming>,
) -> Result<Identity, Answer> {
    let Some(tokens) = &shared.config.tokens else {
        return Ok(connection.clone());
    };
    let presented = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()));
    match presented.and_then(|t| tokens.identify(t)) {
        Some(identity) => Ok(identity),
        None => {
            let mut r = respond::error(
                StatusCode::UNAUTHORIZED,
                code::UNAUTHORIZED,
                if presented.is_some() {
                    "this partner token is not one this server knows"
                } else {
                    "this server requires a partner token: Authorization: Bearer <token> (psi run --token-file)"
                },
            );
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            Err(r)
        }
    }
}

/// Answers one request from `connection`, counting refusals.
pub(crate) async fn route(
    shared: Arc<Shared>,
    connection: &Caller,
    req: Request<Incoming>,
) -> Answer {
    let answer = answer(shared.clone(), connection, req).await;
    if let Some(ErrorCode(code)) = answer.extensions().get::<ErrorCode>() {
        shared.registry.telemetry.refused(code);
    }
    answer
}

async fn answer(shared: Arc<Shared>, connection: &Caller, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let route = Route::parse(&path);
    // Every request but the open ones says which wire version it speaks.
    let version = req.headers().get(VERSION_HEADER);
    let open = matches!(route, Route::Health | Route::OpenApi);
    if !open && version.map(|v| v.as_bytes()) != Some(WIRE_VERSION.to_string().as_bytes()) {
        let said = match version {
            Some(v) => format!("wire version {}", String::from_utf8_lossy(v.as_bytes())),
            None => format!("no {VERSION_HEADER} header"),
        };
        return respond::error(
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED_VERSION,
            format!("the client sent {said}; this server speaks wire version {WIRE_VERSION}"),
        );
    }
    if let Some(m) = route.method().filter(|m| m != req.method()) {
        return respond::method_not_allowed(allowed(&m));
    }
    // Open to all: liveness and the API's description.
    match route {
        Route::Health => return health(&shared),
        Route::OpenApi => {
            let mut r = hyper::Response::new(crate::body::full(api::OPENAPI));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            return r;
        }
        _ => {}
    }
    let identity = match authenticate(&shared, &connection.identity, &req) {
        Ok(identity) => identity,
        Err(refusal) => return refusal,
    };
    let caller = Caller {
        identity: identity.clone(),
        peer: connection.peer,
    };
    match route {
        Route::UnitEncodings => {
            let idle = shared.config.idle_timeout;
            return unit::submit(shared.unit.clone(), idle, &identity, req).await;
        }
        Route::UnitResult => return unit::result(shared.unit.as_deref(), &identity),
        Route::Sessions
        | Route::Session(_)
        | Route::Stream { .. }
        | Route::LinkageFinish(_)
        | Route::Runs
        | Route::Run(_)
        | Route::RunReady(_)
        | Route::RunClose(_)
            if shared.unit.is_some() =>
        {
            return respond::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "this server is a linkage unit: it takes encodings (psi submit), not PSI sessions",
            )
        }
        _ => {}
    }
    match route {
        Route::Health | Route::OpenApi => health(&shared),
        Route::Ready => ready(&shared),
        Route::Metrics => {
            let mut r = hyper::Response::new(crate::body::full(shared.registry.telemetry.text()));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        Route::Sessions => hello::hello(shared, caller, req).await,
        Route::Runs => runs::open(shared, caller, req).await,
        Route::Run(id) => runs::status(&shared, &identity, id),
        Route::RunReady(id) => runs::ready(&shared, &identity, id),
        Route::RunClose(id) => runs::close(&shared, &identity, id),
        Route::LinkageFinish(id) => linkage::finish(shared, &identity, id, req).await,
        Route::Session(token) => match (find(&shared, token, &caller).await, req.method()) {
            (Err(refusal), _) => refusal,
            (Ok(None), _) => respond::unknown_session(),
            (Ok(Some(s)), &Method::GET) => respond::json(StatusCode::OK, &s.progress()),
            (Ok(Some(s)), &Method::DELETE) => close(&shared, &s),
            (Ok(Some(_)), _) => respond::method_not_allowed("GET, DELETE"),
        },
        Route::Stream { token, stream } => {
            let session = match find(&shared, token, &caller).await {
                Ok(Some(session)) => session,
                Ok(None) => return respond::unknown_session(),
                Err(refusal) => return refusal,
            };
            let Some(stream) = session.schedule.stream(stream) else {
                return respond::wrong_stream(session.schedule.name, stream);
            };
            let method = api::stream_method(stream);
            if method != req.method() {
                return respond::method_not_allowed(allowed(&method));
            }
            let from = match req.headers().get(api::FROM_HEADER) {
                None => None,
                Some(v) => match api::parse_from_header(v.as_bytes()) {
                    Some(n) => Some(n),
                    None => {
                        return respond::error(
                            StatusCode::BAD_REQUEST,
                            "bad_from",
                            format!("{} must be a decimal count of items", api::FROM_HEADER),
                        )
                    }
                },
            };
            match (stream.carries, req.method().clone()) {
                (Carries::Exchange, _) => streams::exchange(shared, session, stream, req).await,
                (Carries::Chunks, Method::PUT) => {
                    streams::upload(shared, session, stream, req, from).await
                }
                (Carries::Chunks, _) => streams::download(shared, session, stream, from),
            }
        }
        Route::UnitEncodings | Route::UnitResult | Route::NotFound => {
            respond::error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        }
    }
}

/// `DELETE` of a session: after the sums' last message, the client
/// confirms it holds the answer (a kept session's record goes; a
/// decryption still running finishes); before, it aborts the session.
fn close(shared: &Shared, session: &super::session::Session) -> Answer {
    let (confirmed, kept) = match session.streams.lock() {
        Ok(mut st) => {
            let confirmed = st.finale_received();
            if confirmed {
                st.confirm();
            }
            (confirmed, st.kept().cloned())
        }
        Err(_) => (false, None),
    };
    if let Some(kept) = kept {
        // Its files go when the session's last handle does.
        kept.discard();
    }
    if !confirmed {
        shared
            .registry
            .end(session, Err("aborted by the client".into()));
        return respond::error(StatusCode::OK, "aborted", "session aborted");
    }
    shared.registry.end_if_done(session);
    respond::error(StatusCode::OK, "closed", "session closed")
}

/// The session `token` of `caller`: in memory, or kept on disk and taken
/// up again ([`pjc_restore`]).
async fn find(
    shared: &Arc<Shared>,
    token: &str,
    caller: &Caller,
) -> Result<Option<Arc<super::session::Session>>, Answer> {
    match shared.registry.session(token, &caller.identity) {
        Some(s) => Ok(Some(s)),
        None => pjc_restore::restore(shared, token, caller).await,
    }
}

/// `GET /v1/ready`: `200` while a new session would be taken, else `503`.
fn ready(shared: &Shared) -> Answer {
    let (left, max) = shared.registry.capacity();
    let draining = shared
        .registry
        .draining
        .load(std::sync::atomic::Ordering::SeqCst);
    let (status, word) = match (draining, left) {
        (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        (false, 0) => (StatusCode::SERVICE_UNAVAILABLE, "full"),
        (false, _) => (StatusCode::OK, "ready"),
    };
    let body = serde_json::json!({
        "status": word,
        "open_sessions": max - left,
        "max_sessions": max,
    });
    respond::json(status, &body)
}

fn health(shared: &Shared) -> Answer {
    let protocols: Vec<&str> = shared
        .config
        .mode
        .protocols()
        .iter()
        .map(|p| p.name())
        .collect();
    let protocols = if shared.unit.is_some() {
        vec!["linkage-unit"]
    } else {
        protocols
    };
    let body = serde_json::json!({
        "status": "ok",
        "wire_version": WIRE_VERSION,
        "protocols": protocols,
        "server_version": env!("CARGO_PKG_VERSION"),
    });
    respond::json(StatusCode::OK, &body)
}

/// The `Allow` header's value for a path that takes `method` alone.
fn allowed(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        // No route takes another method.
        _ => "GET",
    }
}
