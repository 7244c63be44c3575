//! The handlers of a session's streams, the same for every protocol: find
//! the stream's lane, hand the bytes to the core off the async threads, and
//! stream the answer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use psi_core::codec::Codec;
use psi_core::pjc::{MaskedSum, ResponderFinale, SumResult};
use psi_core::schedule::Stream;

use super::linkage;
use super::respond::{self, Answer};
use super::session::{Download, Downstream, Exchange, Session};
use super::shared::Shared;
use crate::api::MAX_HELLO_BYTES;
use crate::body::{framed, ChannelBody, FrameReader, ReadError};
use crate::pjc_state::Finale;

/// Ends the session with `why` and answers `answer`.
fn fail(shared: &Shared, session: &Session, answer: Answer, why: String) -> Answer {
    shared.registry.end(session, Err(why));
    answer
}

/// A `PUT` stream: feeds each frame to the upload's core state as it arrives;
/// answers (ECDH) go to their own stream.
pub(crate) async fn upload(
    shared: Arc<Shared>,
    session: Arc<Session>,
    stream: &'static Stream,
    req: Request<Incoming>,
    from: Option<u64>,
) -> Answer {
    let (mut state, tx) = match session.with_streams(|s| s.start_upload(stream, from)) {
        Ok(started) => started,
        Err(refusal) => return respond::refused(stream.name, refusal),
    };
    let mut reader = FrameReader::new(req.into_body(), shared.config.max_frame);
    let failed = |answer: Answer, why: String| {
        if let Some(tx) = &tx {
            let _ = tx.try_send(Err(std::io::Error::other(why.clone())));
        }
        fail(&shared, &session, answer, why)
    };
    let idle = shared.config.idle_timeout;
    loop {
        let before = reader.bytes;
        let next = tokio::select! {
            next = tokio::time::timeout(idle, reader.next()) => next,
            // Reaped, aborted or failed elsewhere: stop reading at once.
            () = session.ended() => return respond::unknown_session(),
        };
        let Ok(next) = next else {
            let why = format!("no data from the client for {} s", idle.as_secs());
            let answer = respond::error(StatusCode::REQUEST_TIMEOUT, "idle_timeout", why.clone());
            if from.is_some() && keep_for_resume(&session, state) {
                return answer;
            }
            return failed(answer, why);
        };
        session.received(reader.bytes - before);
        session.touch();
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(ReadError::Decode(e)) => {
                let e = psi_core::Error::Decode(e);
                return failed(respond::core_error(&e), e.to_string());
            }
            Err(ReadError::Body(e)) => {
                let why = format!("the {} upload broke off: {e}", stream.name);
                let answer = respond::error(StatusCode::BAD_REQUEST, "broken_body", why.clone());
                if from.is_some() && keep_for_resume(&session, state) {
                    tracing::info!("{why}; the session waits for the client to resume");
                    return answer;
                }
                return failed(answer, why);
            }
        };
        let processed = tokio::task::spawn_blocking(move || {
            let r = state.process(&message);
            (state, r)
        })
        .await;
        let answer = match processed {
            Ok((s, Ok(answer))) => {
                state = s;
                answer
            }
            Ok((_, Err(e))) => return failed(respond::core_error(&e), e.to_string()),
            Err(e) => {
                let why = format!("internal error: {e}");
                return failed(respond::internal(why.clone()), why);
            }
        };
        if let (Some(answer), Some(tx)) = (answer, &tx) {
            let frame = framed(&answer);
            session.sent(frame.len() as u64);
            // Backpressure: waits while the client is not reading the
            // answers, but not past the session's end.
            let sent = tokio::select! {
                sent = tx.send(Ok(frame)) => sent.is_ok(),
                () = session.ended() => return respond::unknown_session(),
            };
            if !sent {
                let why = "the client stopped reading the double-masked stream".to_string();
                let answer = respond::error(StatusCode::BAD_REQUEST, "stream_closed", why.clone());
                return fail(&shared, &session, answer, why);
            }
        }
        session.touch();
    }
    let uploaded = match tokio::task::spawn_blocking(move || state.finish()).await {
        Ok(Ok(uploaded)) => uploaded,
        Ok(Err(e)) => return failed(respond::core_error(&e), e.to_string()),
        Err(e) => {
            let why = format!("internal error: {e}");
            return failed(respond::internal(why.clone()), why);
        }
    };
    drop(tx); // ends a forwarded answer stream
    if let Ok(mut s) = session.streams.lock() {
        s.uploaded(uploaded);
    }
    shared.registry.end_if_done(&session);
    hyper::Response::new(crate::body::full(Bytes::new()))
}

/// A resumable upload broke off: its state goes back to the session, which
/// waits for the client (`false`: it does not resume, the session fails).
fn keep_for_resume(session: &Session, state: super::session::Upload) -> bool {
    session
        .streams
        .lock()
        .map(|mut s| s.upload_broken(state))
        .unwrap_or(false)
}

/// A `GET` stream: produced one chunk at a time (one chunk in flight, so
/// computing runs at most one chunk ahead of the socket), or forwarded. A
/// resumable client's (`from`) starts at that item, and its end is marked
/// only by the client's acknowledgment (a request from the end), so that a
/// client that dies before storing the end can ask again.
pub(crate) fn download(
    shared: Arc<Shared>,
    session: Arc<Session>,
    stream: &'static Stream,
    from: Option<u64>,
) -> Answer {
    let body = match session.with_streams(|s| s.start_download(stream, from)) {
        Ok(Downstream::Forwarded(body)) => body,
        Ok(Downstream::Produced(producer)) => produce(session.clone(), producer, from.is_some()),
        Ok(Downstream::Finished) => {
            session.touch();
            shared.registry.end_if_done(&session);
            return hyper::Response::new(crate::body::full(Bytes::new()));
        }
        Err(refusal) => return respond::refused(stream.name, refusal),
    };
    session.touch();
    let tracked = Tracked {
        inner: body,
        shared,
        session,
        stream,
        mark_done: from.is_none(),
    };
    let mut r = hyper::Response::new(tracked.boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    r
}

/// A body fed by a task that produces `producer`'s chunks off the async
/// threads; a resumable one's producer goes back to the session when it
/// stops, however it stops.
fn produce(session: Arc<Session>, producer: Download, resumable: bool) -> ChannelBody {
    let (tx, body) = ChannelBody::channel(1);
    tokio::spawn(async move {
        let (producer, ended) = feed(&session, producer, tx).await;
        if let (true, false, Some(p)) = (resumable, ended, producer) {
            if let Ok(mut s) = session.streams.lock() {
                s.download_returned(p);
            }
        }
    });
    body
}

/// Sends `producer`'s chunks into `tx` until the end, an error, a client
/// gone or the session's end (then `true`); gives the producer back.
async fn feed(
    session: &Session,
    mut producer: Download,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> (Option<Download>, bool) {
    {
        let ended = session.ended();
        tokio::pin!(ended);
        loop {
            let produce = tokio::task::spawn_blocking(move || {
                let message = producer.next_message();
                (producer, message)
            });
            let produced = tokio::select! {
                produced = produce => produced,
                () = &mut ended => return (None, true),
            };
            let Ok((p, message)) = produced else {
                let _ = tx.send(Err(std::io::Error::other("internal error"))).await;
                return (None, false);
            };
            producer = p;
            let message = match message {
                Ok(Some(message)) => message,
                Ok(None) => return (Some(producer), false),
                Err(why) => {
                    tracing::error!("a download failed: {why}");
                    let _ = tx.send(Err(std::io::Error::other(why))).await;
                    return (Some(producer), false);
                }
            };
            let frame = framed(&message);
            session.sent(frame.len() as u64);
            tokio::select! {
                sent = tx.send(Ok(frame)) => if sent.is_err() { return (Some(producer), false) },
                () = &mut ended => return (None, true),
            }
        }
    }
}

/// A body that marks its stream done when it has been fully handed to hyper.
struct Tracked {
    inner: ChannelBody,
    shared: Arc<Shared>,
    session: Arc<Session>,
    stream: &'static Stream,
    /// Mark the stream done at its end (not for a resumable client, which
    /// acknowledges it).
    mark_done: bool,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) if this.mark_done => {
                if let Ok(mut s) = this.session.streams.lock() {
                    s.downloaded(this.stream);
                }
                this.shared.registry.end_if_done(&this.session);
            }
            Poll::Ready(Some(_)) => this.session.touch(),
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }
}

/// A `POST` exchange: one small message in, one answer out (the sums'
/// finale, a linkage step's result).
pub(crate) async fn exchange(
    shared: Arc<Shared>,
    session: Arc<Session>,
    stream: &'static Stream,
    req: Request<Incoming>,
) -> Answer {
    let exchange = match session.with_streams(|s| s.start_exchange(stream)) {
        Ok(e) => e,
        Err(refusal) => return respond::refused(stream.name, refusal),
    };
    let limit = match &exchange {
        Exchange::Sum(_) | Exchange::Recorded(_) => MAX_HELLO_BYTES,
        Exchange::LinkResult(id) => linkage::result_limit(&shared, id).unwrap_or(0),
    };
    let idle = shared.config.idle_timeout;
    let bytes = match respond::small_body(req, limit, idle, stream.name).await {
        Ok(b) => b,
        Err(refusal) => {
            let why = format!("the {} message was too large, slow or cut off", stream.name);
            return fail(&shared, &session, refusal, why);
        }
    };
    session.received(bytes.len() as u64);
    let exchange = match exchange {
        Exchange::Recorded(finale) => return replay_finale(&shared, &session, finale, &bytes),
        Exchange::Sum(ResponderFinale::ExpectSum(expect)) => {
            return answer_then_decrypt(shared, session, expect, bytes)
        }
        other => other,
    };
    let is_sum = matches!(exchange, Exchange::Sum(_));
    let request = bytes.to_vec();
    // The discrete log may take a second or two: off the async threads.
    let s = shared.clone();
    let done = tokio::task::spawn_blocking(move || run_exchange(&s, exchange, &bytes)).await;
    match done {
        Ok(Ok((answer, learned))) => {
            if is_sum {
                let finale = Finale {
                    request,
                    answer: answer.clone(),
                    learned: None,
                    reported: false,
                };
                if let Err(why) = record(&session, finale, false) {
                    return fail(&shared, &session, respond::internal(why.clone()), why);
                }
            }
            session.sent(answer.len() as u64);
            if let Ok(mut s) = session.streams.lock() {
                s.exchanged(learned);
            }
            shared.registry.end_if_done(&session);
            respond::message(answer)
        }
        Ok(Err(e)) => fail(&shared, &session, respond::core_error(&e), e.to_string()),
        Err(e) => {
            let why = format!("internal error: {e}");
            fail(&shared, &session, respond::internal(why.clone()), why)
        }
    }
}

/// Sum to the server: the counter's last message is answered at once, and
/// decrypted afterwards. The decryption (a variable-time baby-step giant-step
/// discrete log) takes longer for larger sums; answering first keeps that
/// time off the counter's clock, so it cannot read the sum from our latency.
fn answer_then_decrypt(
    shared: Arc<Shared>,
    session: Arc<Session>,
    expect: psi_core::pjc::ExpectSumResult,
    bytes: Bytes,
) -> Answer {
    let message = match SumResult::from_bytes(&bytes) {
        Ok(m) => m,
        Err(e) => {
            let e = psi_core::Error::from(e);
            return fail(&shared, &session, respond::core_error(&e), e.to_string());
        }
    };
    let finale = Finale {
        request: bytes.to_vec(),
        answer: Vec::new(),
        learned: None,
        reported: false,
    };
    if let Err(why) = record(&session, finale, true) {
        return fail(&shared, &session, respond::internal(why.clone()), why);
    }
    tokio::spawn(async move {
        match tokio::task::spawn_blocking(move || expect.receive(message)).await {
            Ok(Ok(learned)) => {
                if let Ok(mut s) = session.streams.lock() {
                    s.exchanged(Some(learned));
                }
                shared.registry.end_if_done(&session);
            }
            Ok(Err(e)) => shared.registry.end(&session, Err(e.to_string())),
            Err(e) => shared
                .registry
                .end(&session, Err(format!("internal error: {e}"))),
        }
    });
    respond::message(Vec::new())
}

/// Records a kept session's finale before its answer goes out (nothing
/// for a session not kept).
fn record(session: &Session, finale: Finale, decrypting: bool) -> Result<(), String> {
    let streams = session
        .streams
        .lock()
        .map_err(|_| "internal error: a poisoned session".to_string())?;
    streams.record_finale(finale, decrypting).map_err(|e| {
        tracing::error!("recording the sum's finale: {e}");
        "the server could not record the sum's answer (its log says why)".to_string()
    })
}

/// The finale of a kept session asked again (its client did not see the
/// answer): the same message gets the recorded answer; nothing is
/// decrypted again, so the server learns the result once.
fn replay_finale(shared: &Shared, session: &Session, finale: Finale, bytes: &[u8]) -> Answer {
    if bytes != finale.request.as_slice() {
        return respond::error(
            StatusCode::CONFLICT,
            crate::api::code::FINALE_MISMATCH,
            "this session's last message was answered already, and this one differs from it",
        );
    }
    tracing::info!("a sum's finale asked again: the recorded answer");
    session.sent(finale.answer.len() as u64);
    shared.registry.end_if_done(session);
    respond::message(finale.answer)
}

type Learned = Option<psi_core::pjc::Outcome<psi_core::pjc::SumOutput>>;

fn run_exchange(
    shared: &Shared,
    exchange: Exchange,
    bytes: &[u8],
) -> Result<(Vec<u8>, Learned), psi_core::Error> {
    match exchange {
        Exchange::Sum(ResponderFinale::Decrypt(expect)) => {
            let answer = expect.receive(MaskedSum::from_bytes(bytes)?)?;
            Ok((answer.to_bytes(), None))
        }
        // Answered before any decryption, in `answer_then_decrypt`.
        Exchange::Sum(ResponderFinale::ExpectSum(_) | ResponderFinale::Nothing) => Err(
            psi_core::Error::Misuse("no sum to decrypt for the counter here"),
        ),
        Exchange::Recorded(_) => Err(psi_core::Error::Misuse("a recorded answer is not computed")),
        Exchange::LinkResult(id) => {
            let recorded = linkage::record_result(shared, &id, bytes)?;
            Ok((recorded.to_bytes(), None))
        }
    }
}
