//! A restarted server takes up a PSI-cardinality or PSI-sum session it kept
//! on disk ([`super::session::pjc_keep`]) when the session's client comes
//! back: on the first request that names the session's token, from the
//! partner that opened it (anyone else gets the 404 of an unknown session,
//! and the kept session is left alone).
//!
//! From the record's seed and the client's hello the server draws again
//! the same hello, exponent, ElGamal key and session seed; the answer files
//! of a stored upload are reopened with the shuffle's generator run to
//! where it was; the set is shuffled again from the same table (its spill
//! order is fixed by the table and the server's run key, so the same order
//! comes back). A record that cannot be used (damaged, foreign, made over
//! another table or with other options, or past the retention) is logged
//! with its file and removed: the session is lost, and its client starts
//! over.

use std::path::PathBuf;
use std::sync::Arc;

use hyper::StatusCode;
use psi_core::codec::Codec;
use psi_core::pjc::{self, PjcHello};
use psi_core::rng::ZeroizingRng;
use sha2::{Digest, Sha256};

use super::hello::kept_chunk;
use super::pjc_source::PjcSource;
use super::registry::Refused;
use super::respond::{self, Answer};
use super::session::pjc_keep::{self, Kept};
use super::session::{disk_streams, replayed_streams, Admitted, PjcStreams, Session, Streams};
use super::shared::{Caller, Shared};
use crate::metrics::Traffic;
use crate::pjc_state::{SessionRecord, MAX_TOKEN};

/// The kept session `token` of `caller`, taken up again; `Ok(None)` when
/// there is none to take up (then the 404 of an unknown session).
pub(crate) async fn restore(
    shared: &Arc<Shared>,
    token: &str,
    caller: &Caller,
) -> Result<Option<Arc<Session>>, Answer> {
    let Some(source) = shared.table.pjc_source.clone() else {
        return Ok(None);
    };
    let Some((sessions, _)) = source.sessions() else {
        return Ok(None);
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN
        || !token.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Ok(None);
    }
    let _one = shared.registry.restoring.lock().await;
    if let Some(s) = shared.registry.session(token, &caller.identity) {
        return Ok(Some(s));
    }
    let dir = pjc_keep::dir_of(sessions, token);
    let (s, t, who) = (shared.clone(), token.to_string(), caller.identity.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let record = usable(&s, &dir, &t)?;
        (record.owner == who).then_some((dir, record))
    });
    let Some((dir, record)) = checked.await.ok().flatten() else {
        return Ok(None);
    };
    let place = match shared
        .registry
        .admit(&caller.identity, &shared.config.quotas)
    {
        Ok(place) => place,
        Err(Refused::Busy) => {
            return Err(respond::error(
                StatusCode::SERVICE_UNAVAILABLE,
                crate::api::code::BUSY,
                "the server is at its limit of concurrent sessions; try again later",
            ))
        }
        Err(Refused::Quota(why)) => {
            return Err(respond::error(
                StatusCode::TOO_MANY_REQUESTS,
                crate::api::code::QUOTA_EXCEEDED,
                why,
            ))
        }
    };
    let s = shared.clone();
    let Ok(Some((streams, protocol, client_set_size))) =
        tokio::task::spawn_blocking(move || rebuild(&s, source, dir, record)).await
    else {
        return Ok(None);
    };
    let admitted = Admitted {
        owner: caller.identity.clone(),
        peer: caller.peer,
        place: Some(place),
    };
    let session = Arc::new(Session::new(
        token.to_string(),
        admitted,
        protocol,
        client_set_size,
        None,
        Streams::Pjc(streams),
        Traffic::default(),
    ));
    shared.registry.insert(session.clone());
    tracing::info!(partner = %session.owner, protocol = %protocol, "kept session taken up again");
    Ok(Some(session))
}

/// The record kept in `dir` if it can be taken up: else `None`, and a
/// record that never can is logged (with its file) and removed.
fn usable(shared: &Shared, dir: &std::path::Path, token: &str) -> Option<SessionRecord> {
    let lost = |why: String| {
        tracing::warn!("{why}: the session is lost (its client starts over)");
        pjc_keep::remove(dir);
        None
    };
    let record = match pjc_keep::load(dir) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => return lost(e.to_string()),
    };
    let file = dir.join(pjc_keep::FILE);
    let file = file.display();
    let config = &shared.config;
    if pjc_keep::age(dir).is_none_or(|a| a > config.session_retention) {
        return lost(format!("{file} is past the retention"));
    }
    if record.token != token {
        return lost(format!("{file} holds another session"));
    }
    let table = shared
        .table
        .pjc_source
        .as_ref()
        .and_then(|s| s.sessions().map(|(_, t)| t));
    if table != Some(record.table) {
        return lost(format!("{file} was kept over another input"));
    }
    if (record.min_intersection, record.sum_bits, record.chunk_items)
        != (config.min_intersection, config.sum_bits, kept_chunk(config))
    {
        return lost(format!(
            "{file} was kept with other options (threshold {}, sum bits {}, chunk items {})",
            record.min_intersection, record.sum_bits, record.chunk_items
        ));
    }
    Some(record)
}

type Rebuilt = (PjcStreams, psi_core::codec::Protocol, u64);

/// The session's streams from its record (`None`, logged and removed, if
/// they cannot be made again as they were).
fn rebuild(
    shared: &Shared,
    source: Arc<dyn PjcSource>,
    dir: PathBuf,
    record: SessionRecord,
) -> Option<Rebuilt> {
    let file = dir.join(pjc_keep::FILE);
    let lost = |why: String| {
        tracing::warn!(
            "{}: {why}: the session is lost (its client starts over)",
            file.display()
        );
        pjc_keep::remove(&dir);
        None
    };
    let hello = match PjcHello::from_bytes(&record.client_hello) {
        Ok(h) => h,
        Err(e) => return lost(format!("the client's hello: {e}")),
    };
    let (protocol, client_set_size) = (hello.protocol, hello.set_size);
    if !shared.config.mode.protocols().contains(&protocol) {
        return lost(format!("this server does not run {protocol} now"));
    }
    let Some(seed) = record.seed.clone() else {
        if record.finale.is_none() {
            return lost("neither a secret nor an answer".into());
        }
        let kept = Arc::new(Kept::adopt(dir.clone(), record));
        kept.retain();
        return Some((PjcStreams::answered(kept), protocol, client_set_size));
    };
    let params = pjc::Params {
        protocol,
        min_intersection: record.min_intersection,
        sum_bits: record.sum_bits,
    };
    let mut rng = ZeroizingRng::from_seed(&seed);
    let accepted = pjc::external::StreamingResponder::accept(
        &mut rng,
        source.distinct(),
        source.total(),
        &params,
        hello,
        &shared.config.limits,
    );
    let (answer, s) = match accepted {
        Ok(a) => a,
        Err(e) => return lost(format!("its hello is not answered again: {e}")),
    };
    let digest: [u8; 32] = Sha256::digest(answer.to_bytes()).into();
    if digest != record.answer_digest {
        return lost("the table or the secret no longer give the same hello".into());
    }
    if let Some(finale) = record.finale.clone() {
        // A sum to the server answered, whose decryption the last process
        // did not finish (the seed stays until it has): finished here, once.
        let learned = match s.finale {
            pjc::ResponderFinale::ExpectSum(expect) => pjc::SumResult::from_bytes(&finale.request)
                .map_err(psi_core::Error::from)
                .and_then(|m| expect.receive(m)),
            _ => return lost("a recorded answer with its seed".into()),
        };
        let kept = Arc::new(Kept::adopt(dir.clone(), record));
        let kept_learned = learned
            .map_err(|e| e.to_string())
            .and_then(|l| kept.learned(l).map_err(|e| e.to_string()));
        if let Err(e) = kept_learned {
            kept.discard();
            return lost(format!("the sum's decryption: {e}"));
        }
        kept.retain();
        return Some((PjcStreams::answered(kept), protocol, client_set_size));
    }
    let (chunk, answers) = (shared.config.chunk_items, record.answers.clone());
    let acked = (record.tags_acked, record.set_acked);
    let kept = Arc::new(Kept::adopt(dir.clone(), record));
    let streams = match answers {
        None => disk_streams(s.answerer, s.masker, source, chunk, Some(kept.clone()))
            .map(|(a, m)| PjcStreams::new(a, m, s.finale, Some(kept.clone()))),
        Some(counts) => replayed_streams(s.answerer, s.masker, source, chunk, &kept, &counts)
            .map(|(t, m)| PjcStreams::replayed(t, m, s.finale, kept.clone(), acked)),
    };
    match streams {
        Ok(streams) => Some((streams, protocol, client_set_size)),
        Err(e) => {
            // Keeps nothing when the handle goes.
            kept.discard();
            lost(e.to_string())
        }
    }
}

/// Removes the kept sessions past the retention (not those in memory).
pub(crate) async fn sweep(shared: &Arc<Shared>) {
    let Some(source) = shared.table.pjc_source.clone() else {
        return;
    };
    if source.sessions().is_none() {
        return;
    }
    let live = shared.registry.kept_dirs();
    let retention = shared.config.session_retention;
    let _ = tokio::task::spawn_blocking(move || {
        if let Some((dir, _)) = source.sessions() {
            pjc_keep::sweep(dir, retention, &live);
        }
    })
    .await;
}
