//! The client of ECDH-PSI ([`psi_core::ecdh`], [`schedule::ECDH`]): the three
//! streams after the hellos run concurrently.

use std::time::Instant;

use psi_core::codec::{Codec, PointChunk, PointStream, ServerHello, TagChunk};
use psi_core::ecdh::{self, ClientOutput, MatchedPair};
use psi_core::rng::ZeroizingRng;
use psi_core::schedule;
use psi_core::Item;

use super::config::ClientConfig;
use super::transport::Peer;
use crate::metrics::{Phases, Traffic};
use crate::Error;

/// The result of an intersection run (ECDH or KKRT).
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// What we learned.
    pub output: ClientOutput,
    /// The server's session token.
    pub session: String,
    /// Body bytes each way.
    pub traffic: Traffic,
    /// Seconds per phase. ECDH's three streams run concurrently, so
    /// "client-masked", "double-masked" and "server-masked" overlap: each is
    /// measured from the start of streaming to that stream's end.
    pub phases: Phases,
    /// KKRT: how many cuckoo-hash seeds were rejected before one fit (0 for ECDH).
    pub cuckoo_retries: u32,
}

/// Runs ECDH-PSI as the client against `peer` (`http://host:port` or `host:port`).
pub async fn run_ecdh_client(
    peer: &str,
    items: Vec<Item>,
    config: &ClientConfig,
) -> Result<ClientRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    let (run, _) = session(&mut peer, items, None).await?;
    Ok(run)
}

/// What an ECDH session that shares its result adds to [`ClientRun`].
pub(super) struct Shared {
    /// The matches, with server positions and link ids.
    pub pairs: Vec<MatchedPair>,
    /// The linkage id the server answered with.
    pub linkage: Option<String>,
}

/// One ECDH session; with `linkage` (`new` or an id) it is a step of a
/// linkage: the result is kept with positions and ids (and sent by the caller).
/// `ClientRun::traffic` counts this session only.
pub(super) async fn session(
    peer: &mut Peer<'_>,
    items: Vec<Item>,
    linkage: Option<&str>,
) -> Result<(ClientRun, Option<Shared>), Error> {
    let t0 = Instant::now();
    let before = peer.traffic();
    let config = peer.config();
    let limits = config.limits.clone();
    let (state, hello) = tokio::task::spawn_blocking(move || {
        // Session secrets derive from it: its state is overwritten on drop.
        let mut rng = ZeroizingRng::from_os_rng().map_err(|_| {
            psi_core::Error::Misuse("the operating system's random generator failed")
        })?;
        ecdh::Client::start(&mut rng, items, &limits)
    })
    .await??;
    let opened = peer
        .hello(hello.to_bytes(), linkage, |b| {
            Ok(ServerHello::from_bytes(b)?)
        })
        .await?;
    let token = opened.token;
    let mut streams = state.receive(opened.answer)?;
    streams.masker.set_chunk_items(config.chunk_items);
    let session_id = streams.masker.session_id();
    let mut phases = Phases::new();
    phases.push("connect+hello", t0.elapsed());

    let t1 = Instant::now();
    let shared = linkage.is_some();
    let p = &*peer;
    // Our masked items, produced chunk by chunk as the body is sent.
    let upload = async {
        let (_, sent) = p
            .upload(&token, &schedule::CLIENT_MASKED, streams.masker, |m| {
                m.next_chunk().map(|c| c.to_bytes())
            })
            .await?;
        Ok::<_, Error>((sent, t1.elapsed()))
    };
    // The server's answers to our items, in order.
    let answers = async {
        let (state, bytes) = p
            .download(
                &token,
                &schedule::DOUBLE_MASKED,
                streams.double_masked,
                |s, m| Ok(s.receive(TagChunk::from_bytes(&m)?)?),
            )
            .await?;
        Ok::<_, Error>((state.finish()?, bytes, t1.elapsed()))
    };
    // The server's masked, shuffled set; re-masked off the async threads.
    let server_set = async {
        let (state, bytes) = p
            .download(
                &token,
                &schedule::SERVER_MASKED,
                streams.server_set,
                |s, m| Ok(s.receive(PointChunk::decode(PointStream::ServerMasked, &m)?)?),
            )
            .await?;
        let done = if shared {
            state.finish_keeping_positions()?
        } else {
            state.finish()?
        };
        Ok::<_, Error>((done, bytes, t1.elapsed()))
    };
    let ((sent, t_up), (own, answer_bytes, t_answers), (theirs, set_bytes, t_set)) =
        tokio::try_join!(upload, answers, server_set)?;
    peer.count(Traffic {
        bytes_sent: sent,
        bytes_received: answer_bytes + set_bytes,
    });
    phases.push(schedule::CLIENT_MASKED.name, t_up);
    phases.push(schedule::DOUBLE_MASKED.name, t_answers);
    phases.push(schedule::SERVER_MASKED.name, t_set);

    let t2 = Instant::now();
    let (output, shared) = if shared {
        let (output, pairs) =
            tokio::task::spawn_blocking(move || ecdh::intersect_pairs(own, theirs, &session_id))
                .await??;
        let shared = Shared {
            pairs,
            linkage: opened.linkage,
        };
        (output, Some(shared))
    } else {
        let output = tokio::task::spawn_blocking(move || ecdh::intersect(own, theirs)).await?;
        (output, None)
    };
    phases.push("intersect", t2.elapsed());
    let after = peer.traffic();
    let run = ClientRun {
        output,
        session: token,
        traffic: Traffic {
            bytes_sent: after.bytes_sent - before.bytes_sent,
            bytes_received: after.bytes_received - before.bytes_received,
        },
        phases,
        cuckoo_retries: 0,
    };
    Ok((run, shared))
}
