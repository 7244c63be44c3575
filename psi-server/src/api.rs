//! The HTTP API both ends share: paths, headers, error codes and the header
//! encoding of small codec messages. The server and the client take every
//! path from here; neither imports the other.
//!
//! A session's streams are named by its protocol's [`Schedule`]
//! (`psi_core::schedule`): a stream the client sends in chunks is `PUT`, one the
//! server sends is `GET`, an exchange of one message each way is `POST`.

use hyper::Method;
use psi_core::codec::{Codec, KeyDeclaration};
use psi_core::schedule::{Carries, Direction, Stream};

/// The header that carries the wire version on every request.
pub const VERSION_HEADER: &str = "x-psi-wire-version";
/// The header that carries the session token in the hello's response.
pub const SESSION_HEADER: &str = "x-psi-session";
/// The header of a hello that carries the client's key declaration
/// ([`KeyDeclaration`], codec-encoded, then hex), so that both sides can check
/// they hash the same thing before any private data moves.
pub const KEY_SPEC_HEADER: &str = "x-psi-key-spec";
/// The header of a hello that makes its session one step of a linkage:
/// [`LINKAGE_NEW`] for the first step, then the linkage id that the server
/// returned in the same header.
pub const LINKAGE_HEADER: &str = "x-psi-linkage";
/// The [`LINKAGE_HEADER`] value that starts a linkage.
pub const LINKAGE_NEW: &str = "new";
/// The header of a hello that makes its session one bucket of a run: the run
/// id that `POST` [`RUNS_PATH`] returned in this header.
pub const RUN_HEADER: &str = "x-psi-run";
/// With [`RUN_HEADER`]: which bucket, as `index/count` (`count` a power of two).
pub const BUCKET_HEADER: &str = "x-psi-bucket";
/// With [`RUN_HEADER`] and [`BUCKET_HEADER`] on a hello of a bucketed
/// linkage run: which step (key, from 0) the bucket belongs to.
pub const STEP_HEADER: &str = "x-psi-step";
/// On a stream request of a resumable session: the item the client
/// continues from (a decimal count). An upload continues where the server
/// is (it says so in the session's progress); a download starts again at
/// that item, and at its end it is the client's acknowledgment that it
/// holds the whole stream.
pub const FROM_HEADER: &str = "x-psi-from";
/// On the answer to a hello: `1` when the session's streams resume
/// ([`FROM_HEADER`]); the session then waits for its client through a
/// dropped connection: in memory until it has been idle for the server's
/// idle timeout, and, kept on disk by a server that keeps its sessions,
/// across restarts of the server for its session retention.
pub const RESUMABLE_HEADER: &str = "x-psi-resumable";
/// Largest hello body (and small exchanged message) accepted.
pub const MAX_HELLO_BYTES: usize = 1024;

/// `GET`: whether the server is up, its wire version and protocols.
pub const HEALTH_PATH: &str = "/v1/health";
/// `POST` a hello: opens a session.
pub const SESSIONS_PATH: &str = "/v1/sessions";
/// `POST` a [`psi_core::bucket::wire::RunHello`]: opens a bucketed run; the
/// answer is a `RunAnswer`, the run id in [`RUN_HEADER`].
pub const RUNS_PATH: &str = "/v1/runs";
/// `GET`: whether the server takes new sessions now (`503` when full or
/// draining).
pub const READY_PATH: &str = "/v1/ready";
/// `GET`: the server's metrics in the Prometheus text format.
pub const METRICS_PATH: &str = "/metrics";
/// `GET`: [`OPENAPI`], this API's description.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";
/// Linkage unit: an owner uploads its encodings file (PUT).
pub const UNIT_ENCODINGS_PATH: &str = "/v1/unit/encodings";
/// Linkage unit: an owner fetches its links (GET).
pub const UNIT_RESULT_PATH: &str = "/v1/unit/result";
/// The OpenAPI 3 description of every route (`psi-server/tests/operations.rs`
/// checks it against the router both ways).
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET`: a session's progress (its owner only); `DELETE`: aborts it.
pub fn session_path(token: &str) -> String {
    format!("{SESSIONS_PATH}/{token}")
}

/// The path of one stream of a session.
pub fn stream_path(token: &str, stream: &Stream) -> String {
    format!("{SESSIONS_PATH}/{token}/{}", stream.name)
}

/// `GET`: a run's progress as JSON (partitioning, buckets served).
pub fn run_path(run: &str) -> String {
    format!("{RUNS_PATH}/{run}")
}

/// `GET`: `202` while the server partitions its set, then `200` with a
/// [`psi_core::bucket::wire::RunReady`].
pub fn run_ready_path(run: &str) -> String {
    format!("{RUNS_PATH}/{run}/ready")
}

/// `POST` (empty body): the client has every bucket it wanted; the run ends
/// (a `--once` server stops after its first closed run).
pub fn run_close_path(run: &str) -> String {
    format!("{RUNS_PATH}/{run}/close")
}

/// The [`BUCKET_HEADER`] value of bucket `index` of `count`.
pub fn bucket_header(index: u16, count: u16) -> String {
    format!("{index}/{count}")
}

/// Reads a [`BUCKET_HEADER`] value: `(index, count)` with `count` a valid
/// bucket count and `index` below it.
pub fn parse_bucket_header(value: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(value).ok()?;
    let (index, count) = text.split_once('/')?;
    let (index, count): (u16, u16) = (index.parse().ok()?, count.parse().ok()?);
    (psi_core::bucket::valid_count(count) && index < count).then_some((index, count))
}

/// `POST` a [`psi_core::linkage::LinkageFinish`]: ends a linkage.
pub fn linkage_finish_path(linkage: &str) -> String {
    format!("/v1/linkages/{linkage}/finish")
}

/// Reads a [`FROM_HEADER`] value: a decimal count, nothing else.
pub fn parse_from_header(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The method that carries a stream.
pub fn stream_method(stream: &Stream) -> Method {
    match (stream.carries, stream.direction) {
        (Carries::Exchange, _) => Method::POST,
        (Carries::Chunks, Direction::ClientToServer) => Method::PUT,
        (Carries::Chunks, Direction::ServerToClient) => Method::GET,
    }
}

/// What a request asks for, read from its path (the method is checked by the
/// handler, which knows the session's schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// [`HEALTH_PATH`].
    Health,
    /// [`READY_PATH`].
    Ready,
    /// [`METRICS_PATH`].
    Metrics,
    /// [`OPENAPI_PATH`].
    OpenApi,
    /// [`SESSIONS_PATH`].
    Sessions,
    /// [`session_path`].
    Session(&'a str),
    /// [`stream_path`].
    Stream {
        /// The session token.
        token: &'a str,
        /// The stream's name.
        stream: &'a str,
    },
    /// [`linkage_finish_path`].
    LinkageFinish(&'a str),
    /// [`UNIT_ENCODINGS_PATH`].
    UnitEncodings,
    /// [`UNIT_RESULT_PATH`].
    UnitResult,
    /// [`RUNS_PATH`].
    Runs,
    /// [`run_path`].
    Run(&'a str),
    /// [`run_ready_path`].
    RunReady(&'a str),
    /// [`run_close_path`].
    RunClose(&'a str),
    /// No such endpoint.
    NotFound,
}

impl<'a> Route<'a> {
    /// Reads a request path.
    pub fn parse(path: &'a str) -> Route<'a> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["v1", "health"] => Route::Health,
            ["v1", "ready"] => Route::Ready,
            ["metrics"] => Route::Metrics,
            ["v1", "openapi.json"] => Route::OpenApi,
            ["v1", "sessions"] => Route::Sessions,
            ["v1", "sessions", token] => Route::Session(token),
            ["v1", "sessions", token, stream] => Route::Stream { token, stream },
            ["v1", "linkages", id, "finish"] => Route::LinkageFinish(id),
            ["v1", "unit", "encodings"] => Route::UnitEncodings,
            ["v1", "unit", "result"] => Route::UnitResult,
            ["v1", "runs"] => Route::Runs,
            ["v1", "runs", id] => Route::Run(id),
            ["v1", "runs", id, "ready"] => Route::RunReady(id),
            ["v1", "runs", id, "close"] => Route::RunClose(id),
            _ => Route::NotFound,
        }
    }

    /// The one method allowed on this route, where it does not depend on the
    /// session (streams: see [`stream_method`]).
    pub fn method(&self) -> Option<Method> {
        match self {
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
            | Route::UnitResult
            | Route::Run(_)
            | Route::RunReady(_) => Some(Method::GET),
            Route::UnitEncodings => Some(Method::PUT),
            Route::Sessions | Route::LinkageFinish(_) | Route::Runs | Route::RunClose(_) => {
                Some(Method::POST)
            }
            // GET: its progress; DELETE: abort it.
            Route::Session(_) | Route::Stream { .. } | Route::NotFound => None,
        }
    }
}

/// Machine-readable error codes in `{"error":{"code","message"}}` bodies.
pub mod code {
    /// Linkage unit: the caller is not one of its owners.
    pub const NOT_AN_OWNER: &str = "not_an_owner";
    /// Linkage unit: the owner has already uploaded its encodings.
    pub const ALREADY_SUBMITTED: &str = "already_submitted";
    /// Linkage unit: encodings of another spec than the other owners'.
    pub const SPEC_MISMATCH: &str = "spec_mismatch";
    /// The peer speaks another wire version.
    pub const UNSUPPORTED_VERSION: &str = "unsupported_version";
    /// A body or message is above its limit.
    pub const TOO_LARGE: &str = "too_large";
    /// A message could not be decoded.
    pub const MALFORMED_MESSAGE: &str = "malformed_message";
    /// The two sides' key declarations differ.
    pub const KEY_SPEC_MISMATCH: &str = "key_spec_mismatch";
    /// The server does not run the protocol the client asked for.
    pub const MODE_MISMATCH: &str = "mode_mismatch";
    /// No such session.
    pub const UNKNOWN_SESSION: &str = "unknown_session";
    /// No such linkage.
    pub const UNKNOWN_LINKAGE: &str = "unknown_linkage";
    /// The session's protocol has no such stream.
    pub const WRONG_STREAM: &str = "wrong_stream";
    /// The stream was already requested.
    pub const STREAM_TAKEN: &str = "stream_taken";
    /// A resumed stream named another position than the server's, or the
    /// stream does not resume.
    pub const RESUME_OFFSET: &str = "resume_offset";
    /// A kept session's last message, asked again, differs from the one
    /// the server answered (and recorded).
    pub const FINALE_MISMATCH: &str = "finale_mismatch";
    /// The stream is not ready yet.
    pub const NOT_READY: &str = "not_ready";
    /// The server is at its session limit.
    pub const BUSY: &str = "busy";
    /// The partner is at one of its quotas (the message names it).
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// No valid partner token.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// No such run (or not the caller's).
    pub const UNKNOWN_RUN: &str = "unknown_run";
    /// The server holds its table on disk and serves bucketed runs only.
    pub const RUN_REQUIRED: &str = "run_required";
    /// The bucket header is missing or malformed, or disagrees with the run.
    pub const BAD_BUCKET: &str = "bad_bucket";
    /// The server could not partition its table for the run.
    pub const RUN_FAILED: &str = "run_failed";
    /// A bucketed linkage: the server has not recorded buckets the request
    /// needs (it lost that progress); the client starts the buckets over.
    pub const LINKAGE_BEHIND: &str = "linkage_behind";
}

/// Hex of the codec encoding of `declaration`, for [`KEY_SPEC_HEADER`].
pub fn encode_key_declaration(declaration: &KeyDeclaration) -> String {
    declaration
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads [`KEY_SPEC_HEADER`]; `None` if it is not hex of a [`KeyDeclaration`].
pub fn decode_key_declaration(hex: &[u8]) -> Option<KeyDeclaration> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = hex
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect();
    KeyDeclaration::from_bytes(&bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use psi_core::schedule;

    #[test]
    fn routes_round_trip() {
        for s in schedule::ALL {
            for stream in s.streams {
                let path = stream_path("ab12", stream);
                assert_eq!(
                    Route::parse(&path),
                    Route::Stream {
                        token: "ab12",
                        stream: stream.name
                    }
                );
            }
        }
        assert_eq!(Route::parse(HEALTH_PATH), Route::Health);
        assert_eq!(Route::parse(READY_PATH), Route::Ready);
        assert_eq!(Route::parse(METRICS_PATH), Route::Metrics);
        assert_eq!(Route::parse(SESSIONS_PATH), Route::Sessions);
        assert_eq!(Route::parse(&session_path("x")), Route::Session("x"));
        assert_eq!(
            Route::parse(&linkage_finish_path("y")),
            Route::LinkageFinish("y")
        );
        assert_eq!(Route::parse("/v2/health"), Route::NotFound);
        assert_eq!(Route::parse(RUNS_PATH), Route::Runs);
        assert_eq!(Route::parse(&run_path("r")), Route::Run("r"));
        assert_eq!(Route::parse(&run_ready_path("r")), Route::RunReady("r"));
        assert_eq!(Route::parse(&run_close_path("r")), Route::RunClose("r"));
    }

    #[test]
    fn bucket_headers() {
        assert_eq!(
            parse_bucket_header(bucket_header(3, 8).as_bytes()),
            Some((3, 8))
        );
        for bad in ["8/8", "1/3", "0/0", "0/512", "x/2", "1", "-1/2", "1/2/4"] {
            assert_eq!(parse_bucket_header(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn resume_positions_in_headers() {
        assert_eq!(parse_from_header(b"0"), Some(0));
        assert_eq!(parse_from_header(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1e3",
            b"18446744073709551616",
            b"0x10",
        ] {
            assert_eq!(parse_from_header(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_declarations_in_headers() {
        let d = KeyDeclaration {
            canonical: "email@1:gmail".into(),
            fingerprint: [9; 32],
        };
        let hex = encode_key_declaration(&d);
        assert_eq!(decode_key_declaration(hex.as_bytes()), Some(d));
        assert_eq!(decode_key_declaration(b"zz"), None);
        assert_eq!(decode_key_declaration(b"ff"), None);
        assert_eq!(decode_key_declaration(b"f"), None);
    }
}
