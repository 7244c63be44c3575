//! Answers: errors as an HTTP status with `{"error":{"code","message"}}`,
//! and the small bodies every handler returns.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use psi_core::codec::DecodeError;

use super::session::Refusal;
use crate::api::code;
use crate::body::{full, BoxBody};

pub(crate) type Answer = Response<BoxBody>;

/// A JSON body with its content type.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    let mut r = Response::new(full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A codec message as the body.
pub(crate) fn message(bytes: Vec<u8>) -> Answer {
    let mut r = Response::new(full(bytes));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    r
}

/// The machine-readable code of an error answer, for the refusal metrics.
#[derive(Debug, Clone)]
pub(crate) struct ErrorCode(pub(crate) String);

/// An error answer: status plus `{"error":{"code","message"}}`.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    let body = serde_json::json!({"error": {"code": code, "message": message.into()}});
    let mut r = json(status, &body);
    r.extensions_mut().insert(ErrorCode(code.to_string()));
    r
}

/// Maps a core error to a status and code; the message is the error's text,
/// which names what was wrong and carries no internals.
pub(crate) fn core_error(e: &psi_core::Error) -> Answer {
    use psi_core::Error as E;
    let (status, code) = match e {
        E::Decode(DecodeError::UnsupportedVersion { .. }) => {
            (StatusCode::BAD_REQUEST, code::UNSUPPORTED_VERSION)
        }
        E::Decode(DecodeError::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, code::TOO_LARGE),
        E::Decode(_) => (StatusCode::BAD_REQUEST, code::MALFORMED_MESSAGE),
        E::InvalidPoint { .. } => (StatusCode::BAD_REQUEST, "invalid_point"),
        E::UnexpectedCount { .. } => (StatusCode::BAD_REQUEST, "unexpected_count"),
        E::ProtocolMismatch { .. } => (StatusCode::BAD_REQUEST, "protocol_mismatch"),
        E::WrongTagLength { .. } => (StatusCode::BAD_REQUEST, code::MALFORMED_MESSAGE),
        E::SetTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "set_too_large"),
        // Our memory ran short, not the client's fault: it may try again later.
        E::AllocationFailed { .. } => (StatusCode::SERVICE_UNAVAILABLE, code::BUSY),
        _ => (StatusCode::BAD_REQUEST, "protocol_error"),
    };
    error(status, code, e.to_string())
}

/// A failure of ours: the detail goes to the log, not to the client.
pub(crate) fn internal(why: impl Into<String>) -> Answer {
    tracing::error!("internal error: {}", why.into());
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed; its log says why",
    )
}

pub(crate) fn unknown_session() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        code::UNKNOWN_SESSION,
        "no such session (it ended, timed out or never existed)",
    )
}

pub(crate) fn unknown_linkage() -> Answer {
    error(
        StatusCode::NOT_FOUND,
        code::UNKNOWN_LINKAGE,
        "no such linkage (it ended, failed or timed out)",
    )
}

pub(crate) fn wrong_stream(schedule: &str, stream: &str) -> Answer {
    error(
        StatusCode::NOT_FOUND,
        code::WRONG_STREAM,
        format!("a {schedule} session has no {stream} stream"),
    )
}

/// 405, with the `Allow` header RFC 9110 (§15.5.6) requires: `allow` lists
/// the methods the path takes (`GET` or `GET, DELETE`).
pub(crate) fn method_not_allowed(allow: &'static str) -> Answer {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this method is not allowed on this path (it takes {allow})"),
    );
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    r
}

/// Why a stream cannot start now.
pub(crate) fn refused(stream: &str, refusal: Refusal) -> Answer {
    match refusal {
        Refusal::NotReady(on) => error(
            StatusCode::CONFLICT,
            code::NOT_READY,
            format!("the {stream} stream is ready only after {on}"),
        ),
        Refusal::Taken => error(
            StatusCode::CONFLICT,
            code::STREAM_TAKEN,
            format!("the {stream} stream of this session was already requested"),
        ),
        Refusal::Offset { asked, holds } => error(
            StatusCode::CONFLICT,
            code::RESUME_OFFSET,
            match holds {
                Some(n) => format!(
                    "the {stream} stream resumes at item {n} (the server holds {n}), not {asked}"
                ),
                None => {
                    format!("the {stream} stream of this session cannot resume at item {asked}")
                }
            },
        ),
    }
}

/// Reads a small request body: at most `limit` bytes, within `time`. A
/// client that sends its body slowly or not at all gets `408`, one that
/// sends too much `413`; `what` names the message.
pub(crate) async fn small_body(
    req: Request<Incoming>,
    limit: usize,
    time: Duration,
    what: &str,
) -> Result<Bytes, Answer> {
    let limited = http_body_util::Limited::new(req.into_body(), limit);
    match tokio::time::timeout(time, limited.collect()).await {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(_)) => Err(too_large(what)),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "idle_timeout",
            format!("the {what} did not arrive within {} s", time.as_secs_f64()),
        )),
    }
}

/// A body of at most `limit` bytes was larger, or broke off.
pub(crate) fn too_large(what: &str) -> Answer {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::TOO_LARGE,
        format!("the {what} is too large or broke off"),
    )
}
