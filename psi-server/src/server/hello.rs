//! `POST /v1/sessions`: checks the key declaration, reads the hello (its type
//! byte picks the protocol), runs the server's side of it off the async
//! threads and registers the new session.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use psi_core::codec::{ClientHello, Codec, Protocol};
use psi_core::ecdh;
use psi_core::kkrt::{self, ReceiverHello};
use psi_core::pjc::{self, PjcHello};
use psi_core::rng::ZeroizingRng;
use psi_core::Item;

use super::config::{ServeMode, ServerConfig};
use super::ids::random_token;
use super::keycheck::key_spec_refusal;
use super::link_runs;
use super::linkage;
use super::pjc_source::PjcSource;
use super::registry::Refused;
use super::respond::{self, Answer};
use super::runs;
use super::session::pjc_keep::Kept;
use super::session::{
    disk_streams, Admitted, EcdhStreams, KkrtStreams, PjcAnswerer, PjcSet, PjcStreams, Session,
    Streams,
};
use super::shared::{Caller, Shared};
use crate::api::SESSION_HEADER;
use crate::api::{code, LINKAGE_HEADER, MAX_HELLO_BYTES};
use crate::auth::Identity;
use crate::metrics::Traffic;
use crate::pjc_state::SessionRecord;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The parts of a new session that depend on its protocol.
struct Opened {
    protocol: Protocol,
    client_set_size: u64,
    answer: Vec<u8>,
    streams: Streams,
    /// ECDH: the shuffled order of our items in the server-masked stream.
    order: Option<Arc<[u32]>>,
}

/// A hello that is a step: of a linkage in memory, or a bucket of a linkage run.
enum Stepping {
    Memory(linkage::Step),
    Bucket(link_runs::BucketStep),
}

/// Why a hello was not taken: a linkage refusal, or the protocol's.
enum Failure {
    Refused(Box<Answer>),
    Open(OpenError),
}

/// Why a hello was not accepted.
enum OpenError {
    /// The protocol failed (malformed hello, sizes, parameters).
    Core(psi_core::Error),
    /// The client asked for a protocol this server does not offer.
    Refused { asked: Protocol, mode: ServeMode },
}

impl From<psi_core::Error> for OpenError {
    fn from(e: psi_core::Error) -> Self {
        OpenError::Core(e)
    }
}

impl From<psi_core::codec::DecodeError> for OpenError {
    fn from(e: psi_core::codec::DecodeError) -> Self {
        OpenError::Core(e.into())
    }
}

/// Runs the server side of a hello (off the async threads: ECDH shuffles the
/// whole set, KKRT does the base OTs). The message type byte picks the protocol.
fn open(
    bytes: &[u8],
    items: Arc<[Item]>,
    values: Option<Arc<[u64]>>,
    linkage: Option<String>,
    pjc_source: Option<(Arc<dyn PjcSource>, &str, &Identity)>,
    config: &ServerConfig,
) -> Result<Opened, OpenError> {
    // Session secrets derive from it: its state is overwritten on drop.
    let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
        OpenError::Core(psi_core::Error::Misuse(
            "the operating system's random generator failed",
        ))
    })?;
    let check = |protocol: Protocol| {
        if config.mode.protocols().contains(&protocol) {
            Ok(())
        } else {
            Err(OpenError::Refused {
                asked: protocol,
                mode: config.mode,
            })
        }
    };
    match bytes.get(1).copied() {
        Some(psi_core::codec::PJC_HELLO_TYPE) => {
            let hello = PjcHello::from_bytes(bytes)?;
            check(hello.protocol)?;
            let params = pjc::Params {
                protocol: hello.protocol,
                min_intersection: config.min_intersection,
                sum_bits: config.sum_bits,
            };
            let client_set_size = hello.set_size;
            let (answer, streams) = match pjc_source {
                Some((source, token, owner)) => {
                    let keep = Keep { token, owner };
                    open_pjc_on_disk(&mut rng, source, &params, hello, config, keep)?
                }
                None => {
                    let values = values.filter(|_| config.mode.needs_values());
                    let (answer, mut s) = pjc::Responder::accept(
                        &mut rng,
                        items,
                        values,
                        &params,
                        hello,
                        &config.limits,
                    )?;
                    s.masker.set_chunk_items(config.chunk_items);
                    let (answerer, masker) =
                        (PjcAnswerer::Memory(s.answerer), PjcSet::Memory(s.masker));
                    (answer, PjcStreams::new(answerer, masker, s.finale, None))
                }
            };
            Ok(Opened {
                protocol: params.protocol,
                client_set_size,
                answer: answer.to_bytes(),
                streams: Streams::Pjc(streams),
                order: None,
            })
        }
        Some(psi_core::codec::KKRT_HELLO_TYPE) => {
            let hello = ReceiverHello::from_bytes(bytes)?;
            check(hello.protocol)?;
            let (answer, matrix) = kkrt::Sender::accept(&mut rng, items, &hello, &config.limits)?;
            Ok(Opened {
                protocol: Protocol::Kkrt,
                client_set_size: hello.set_size,
                answer: answer.to_bytes(),
                streams: Streams::Kkrt(KkrtStreams::new(matrix, linkage)),
                order: None,
            })
        }
        _ => {
            let hello = ClientHello::from_bytes(bytes)?;
            check(hello.protocol)?;
            let (answer, mut s) = ecdh::Server::accept(&mut rng, items, &hello, &config.limits)?;
            s.masker.set_chunk_items(config.chunk_items);
            let order = Some(s.masker.stream_order());
            Ok(Opened {
                protocol: hello.protocol,
                client_set_size: hello.set_size,
                answer: answer.to_bytes(),
                streams: Streams::Ecdh(EcdhStreams::new(s.answerer, s.masker, linkage)),
                order,
            })
        }
    }
}

/// Who a new session is, for keeping it.
struct Keep<'a> {
    token: &'a str,
    owner: &'a Identity,
}

/// A PJC session over a set on disk ([`psi_core::pjc::external`]); kept
/// for a restart where the source says so ([`PjcSource::sessions`]): its
/// generator is keyed by a seed the kept record holds, so a restarted
/// server draws the same keys, shuffles and nonces again.
fn open_pjc_on_disk(
    rng: &mut ZeroizingRng,
    source: Arc<dyn PjcSource>,
    params: &pjc::Params,
    hello: PjcHello,
    config: &ServerConfig,
    keep: Keep<'_>,
) -> Result<(PjcHello, PjcStreams), OpenError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand_core::RngCore::fill_bytes(rng, &mut *seed);
    let mut session_rng = ZeroizingRng::from_seed(&seed);
    let client_hello = hello.to_bytes();
    let (answer, s) = pjc::external::StreamingResponder::accept(
        &mut session_rng,
        source.distinct(),
        source.total(),
        params,
        hello,
        &config.limits,
    )?;
    let kept = match source.sessions() {
        None => None,
        Some((dir, table)) => {
            let record = SessionRecord {
                token: keep.token.to_string(),
                owner: keep.owner.clone(),
                table,
                min_intersection: config.min_intersection,
                sum_bits: config.sum_bits,
                chunk_items: kept_chunk(config),
                answer_digest: Sha256::digest(answer.to_bytes()).into(),
                client_hello,
                seed: Some(seed),
                answers: None,
                tags_acked: false,
                set_acked: false,
                finale: None,
            };
            let kept = Kept::create(dir, record).map_err(|e| {
                tracing::error!("keeping a session: {e}");
                psi_core::Error::Misuse("the server could not keep its session (its log says why)")
            })?;
            Some(Arc::new(kept))
        }
    };
    let (answerer, masker) = disk_streams(
        s.answerer,
        s.masker,
        source,
        config.chunk_items,
        kept.clone(),
    )?;
    Ok((answer, PjcStreams::new(answerer, masker, s.finale, kept)))
}

/// The chunk size a kept session records (a restarted server with another
/// one would cut its downloads differently).
pub(crate) fn kept_chunk(config: &ServerConfig) -> u32 {
    u32::try_from(config.chunk_items).unwrap_or(u32::MAX)
}

/// A partner at one of its quotas.
fn quota_refusal(why: String) -> Answer {
    tracing::info!("refused: {why}");
    respond::error(StatusCode::TOO_MANY_REQUESTS, code::QUOTA_EXCEEDED, why)
}

/// `POST /v1/sessions`.
pub(crate) async fn hello(shared: Arc<Shared>, caller: Caller, req: Request<Incoming>) -> Answer {
    let Caller {
        identity: owner,
        peer,
    } = caller;
    if let Some(refusal) = key_spec_refusal(&shared, &req) {
        return refusal;
    }
    let headers = req.headers().clone();
    let headers_in_run = headers.contains_key(crate::api::RUN_HEADER);
    // A place under the session limit comes first, before any work; a step
    // of a running linkage uses the linkage's.
    let place = if linkage::continues_linkage(&headers) {
        None
    } else {
        match shared.registry.admit(&owner, &shared.config.quotas) {
            Ok(place) => Some(place),
            Err(Refused::Busy) => {
                let max = shared.config.max_sessions;
                return respond::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::BUSY,
                    format!(
                        "the server is at its limit of {max} concurrent sessions; try again later"
                    ),
                );
            }
            Err(Refused::Quota(why)) => return quota_refusal(why),
        }
    };
    let idle = shared.config.idle_timeout;
    let bytes = match respond::small_body(req, MAX_HELLO_BYTES, idle, "hello").await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let hello_len = bytes.len() as u64;
    let token = random_token();
    let t = token.clone();
    // Everything proportional to the table (a linkage step's offer, the
    // shuffle, the base OTs) runs off the async threads.
    let (s, who) = (shared.clone(), owner.clone());
    let opening = move || -> Result<_, Failure> {
        // A bucket of a linkage run is neither a plain linkage step nor a plain bucket.
        let link_bucket = link_runs::begin(&s, &who, &headers, &bytes).map_err(Failure::Refused)?;
        if let Some(b) = link_bucket {
            let opened = open(&bytes, b.items.clone(), None, Some(b.id()), None, &s.config)
                .map_err(Failure::Open)?;
            return Ok((Some(Stepping::Bucket(b)), opened));
        }
        let step = linkage::begin_step(&s, &who, &headers, &bytes)
            .map_err(|r| Failure::Refused(Box::new(r)))?;
        let bucket = runs::bucket_items(&s, &who, &headers, &bytes).map_err(Failure::Refused)?;
        let items = match (&step, bucket) {
            (Some(_), Some(_)) => {
                return Err(Failure::Refused(Box::new(respond::error(
                    StatusCode::BAD_REQUEST,
                    crate::api::code::BAD_BUCKET,
                    "a linkage step cannot be a bucket of a run",
                ))))
            }
            (Some(step), None) => step.offer.items.clone().into(),
            (None, Some(bucket)) => bucket,
            (None, None) if !s.table.in_memory => {
                return Err(Failure::Refused(Box::new(respond::error(
                    StatusCode::BAD_REQUEST,
                    crate::api::code::RUN_REQUIRED,
                    "this server keeps its table on disk and serves bucketed runs only: run with --state-dir (psi run)",
                ))))
            }
            (None, None) => s.table.items.clone(),
        };
        let linkage_id = step.as_ref().map(|st| st.id.clone());
        let values = s.table.values.clone();
        let source = s.table.pjc_source.clone().map(|p| (p, t.as_str(), &who));
        let opened =
            open(&bytes, items, values, linkage_id, source, &s.config).map_err(Failure::Open)?;
        Ok((step.map(Stepping::Memory), opened))
    };
    let in_run = headers_in_run;
    let (step, opened) = match tokio::task::spawn_blocking(opening).await {
        Ok(Ok(o)) => o,
        Ok(Err(Failure::Refused(refusal))) => return *refusal,
        Ok(Err(Failure::Open(OpenError::Core(e)))) => return respond::core_error(&e),
        Ok(Err(Failure::Open(OpenError::Refused { asked, mode }))) => {
            let offered: Vec<&str> = mode.protocols().iter().map(|p| p.name()).collect();
            return respond::error(
                StatusCode::BAD_REQUEST,
                code::MODE_MISMATCH,
                format!(
                    "this server does not run {asked}; it offers {} (check --mode on both sides)",
                    offered.join(", ")
                ),
            );
        }
        Err(e) => return respond::internal(e.to_string()),
    };
    let quotas = &shared.config.quotas;
    if let Err(why) = shared
        .registry
        .charge(&owner, opened.client_set_size, quotas)
    {
        return quota_refusal(why);
    }
    let (linkage_id, place) = match step {
        Some(Stepping::Memory(step)) => {
            match linkage::bind_step(&shared, step, opened.order, opened.client_set_size, place) {
                Ok(id) => (Some(id), None),
                Err(refusal) => return refusal,
            }
        }
        Some(Stepping::Bucket(bucket)) => {
            match link_runs::bind(bucket, opened.order, opened.client_set_size) {
                Ok(id) => (Some(id), place),
                Err(refusal) => return refusal,
            }
        }
        None => (None, place),
    };

    let traffic = Traffic {
        bytes_sent: opened.answer.len() as u64,
        bytes_received: hello_len,
    };
    let session = Arc::new(
        Session::new(
            token.clone(),
            Admitted { owner, place, peer },
            opened.protocol,
            opened.client_set_size,
            linkage_id.clone(),
            opened.streams,
            traffic,
        )
        .in_run(in_run),
    );
    let resumable = session.streams.lock().is_ok_and(|s| s.resumable());
    shared.registry.insert(session.clone());
    tracing::info!(
        partner = %session.owner,
        protocol = %session.protocol,
        client_set_size = session.client_set_size,
        "session started"
    );
    tracing::debug!(session = %token, "session token");
    let mut r = respond::message(opened.answer);
    *r.status_mut() = StatusCode::CREATED;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&token) {
        r.headers_mut().insert(SESSION_HEADER, v);
    }
    if let Some(id) = linkage_id {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&id) {
            r.headers_mut().insert(LINKAGE_HEADER, v);
        }
    }
    if resumable {
        r.headers_mut().insert(
            crate::api::RESUMABLE_HEADER,
            hyper::header::HeaderValue::from_static("1"),
        );
    }
    r
}
