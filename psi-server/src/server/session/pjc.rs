//! A PSI-cardinality or PSI-sum session ([`schedule::CARDINALITY`],
//! [`schedule::SUM`]): the shuffled tags exist once the counter's upload
//! ended; the sum comes after every stream.

use psi_core::pjc::{Outcome, ResponderFinale, SumOutput};
use psi_core::schedule::{self, Stream};

use std::sync::Arc;

use super::handoff::{Download, Downstream, Exchange, Upload, Uploaded};
use super::lane::{Lane, Refusal};
use super::pjc_disk::{PjcAnswerer, PjcSet, PjcTags};
use super::pjc_keep::Kept;
use crate::pjc_state::Finale;

pub(crate) struct PjcStreams {
    client_masked: Lane<PjcAnswerer>,
    shuffled_tags: Lane<PjcTags>,
    server_masked: Lane<PjcSet>,
    /// The sums' last exchange (`None` for cardinality).
    sum: Option<Lane<ResponderFinale>>,
    /// Sum to the server: what it learned.
    pub(crate) learned: Option<Outcome<SumOutput>>,
    /// The session kept on disk for a restart (external memory with a
    /// sessions directory): its progress is recorded there.
    kept: Option<Arc<Kept>>,
    /// A kept sum's client confirmed that it holds the answer: until then
    /// the session waits for it (to answer again from the record).
    confirmed: bool,
    /// Taken up again after its end was reported by the process that
    /// answered it: it ends without a second report.
    reported: bool,
    /// The client resumes (it names positions, `x-psi-from`): only such a
    /// client can ask for the sum's answer again, or confirm it.
    resuming: bool,
}

fn sum_lane(finale: ResponderFinale) -> Option<Lane<ResponderFinale>> {
    match finale {
        ResponderFinale::Nothing => None,
        f => Some(Lane::holding("every other stream", f)),
    }
}

impl PjcStreams {
    pub(crate) fn new(
        answerer: PjcAnswerer,
        masker: PjcSet,
        finale: ResponderFinale,
        kept: Option<Arc<Kept>>,
    ) -> Self {
        PjcStreams {
            client_masked: Lane::Ready(answerer),
            shuffled_tags: Lane::waiting("the whole client-masked upload"),
            server_masked: Lane::Ready(masker),
            sum: sum_lane(finale),
            learned: None,
            kept,
            confirmed: false,
            reported: false,
            resuming: false,
        }
    }

    /// A kept session a restarted server took up again after the whole
    /// upload was stored: each download ready unless acknowledged.
    pub(crate) fn replayed(
        tags: PjcTags,
        set: PjcSet,
        finale: ResponderFinale,
        kept: Arc<Kept>,
        acked: (bool, bool),
    ) -> Self {
        fn lane<T>(state: T, acked: bool) -> Lane<T> {
            if acked {
                Lane::Done
            } else {
                Lane::Ready(state)
            }
        }
        let mut s = PjcStreams {
            client_masked: Lane::Done,
            shuffled_tags: lane(tags, acked.0),
            server_masked: lane(set, acked.1),
            sum: sum_lane(finale),
            learned: None,
            kept: Some(kept),
            confirmed: false,
            reported: false,
            resuming: true,
        };
        if s.streams_done() {
            if let Some(lane) = &mut s.sum {
                lane.release();
            }
        }
        s
    }

    /// A kept sum whose finale was answered: every stream done, the answer
    /// recorded for a client that asks again.
    pub(crate) fn answered(kept: Arc<Kept>) -> Self {
        let finale = kept.read(|r| r.finale.clone()).flatten();
        PjcStreams {
            client_masked: Lane::Done,
            shuffled_tags: Lane::Done,
            server_masked: Lane::Done,
            sum: Some(Lane::Done),
            learned: finale.as_ref().and_then(|f| f.learned),
            reported: finale.is_some_and(|f| f.reported),
            kept: Some(kept),
            confirmed: false,
            resuming: true,
        }
    }

    /// The client confirmed that it holds the sum's answer.
    pub(crate) fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// A kept sum answered and not confirmed (its client may ask again).
    pub(crate) fn answered_unconfirmed(&self) -> bool {
        self.waits_for_confirmation() && self.sum.as_ref().is_some_and(Lane::is_done)
    }

    /// A kept sum of a resuming client ends when the client confirms.
    fn waits_for_confirmation(&self) -> bool {
        self.kept.is_some() && self.sum.is_some() && self.resuming && !self.confirmed
    }

    /// Whether its end was reported already (by an earlier process).
    pub(crate) fn reported(&self) -> bool {
        self.reported
    }

    /// The kept session, if any.
    pub(crate) fn kept(&self) -> Option<&Arc<Kept>> {
        self.kept.as_ref()
    }

    /// Records the sums' finale as answered (before the answer goes out):
    /// the session's secret leaves the disk, the answer stays for the
    /// client to fetch again until it confirms.
    pub(crate) fn record_finale(
        &self,
        finale: Finale,
        decrypting: bool,
    ) -> Result<(), crate::Error> {
        match &self.kept {
            Some(kept) if self.resuming => kept.finish(finale, decrypting),
            _ => Ok(()),
        }
    }

    /// Starts the upload; a resumed one (`from`) must continue where the
    /// server's answerer is (on disk).
    pub(crate) fn start_upload(
        &mut self,
        stream: &Stream,
        from: Option<u64>,
    ) -> Result<Upload, Refusal> {
        if *stream != schedule::CLIENT_MASKED {
            return Err(Refusal::Taken);
        }
        self.resuming |= from.is_some();
        let state = self.client_masked.start()?;
        if let Some(asked) = from {
            let holds = state.resumable_at();
            if holds != Some(asked) {
                self.client_masked.put_back(state);
                return Err(Refusal::Offset { asked, holds });
            }
        }
        Ok(Upload::PjcCounterMasked(state))
    }

    /// A resumable upload broke off: its state waits for the client.
    pub(crate) fn upload_broken(&mut self, upload: Upload) -> bool {
        match upload {
            Upload::PjcCounterMasked(s) if s.resumable_at().is_some() => {
                self.client_masked.put_back(s);
                true
            }
            _ => false,
        }
    }

    /// A resumed download's producer stopped (its end, or its client went
    /// away): it waits for the client's next request or acknowledgment.
    pub(crate) fn download_returned(&mut self, download: Download) {
        match download {
            Download::PjcShuffledTags(t) => self.shuffled_tags.put_back(t),
            Download::PjcResponderSet(s) => self.server_masked.put_back(s),
            _ => {}
        }
    }

    /// Starts a download a resumable client names a position in: from
    /// `from`, or, at the end, the client's acknowledgment that it holds
    /// the whole stream (the stream is then done).
    fn start_download_at(&mut self, stream: &Stream, from: u64) -> Result<Downstream, Refusal> {
        self.resuming = true;
        macro_rules! resume {
            ($lane:expr, $variant:path) => {{
                if $lane.is_done() {
                    return Ok(Downstream::Finished);
                }
                let mut state = $lane.start()?;
                match state.resumable_total() {
                    Some(total) if from == total => {
                        $lane.done();
                        self.downloaded(stream);
                        return Ok(Downstream::Finished);
                    }
                    Some(total) if from < total => {
                        state.start_at(from);
                        Ok(Downstream::Produced($variant(state)))
                    }
                    _ => {
                        $lane.put_back(state);
                        Err(Refusal::Offset {
                            asked: from,
                            holds: None,
                        })
                    }
                }
            }};
        }
        if *stream == schedule::SHUFFLED_TAGS {
            resume!(self.shuffled_tags, Download::PjcShuffledTags)
        } else if *stream == schedule::SERVER_MASKED {
            resume!(self.server_masked, Download::PjcResponderSet)
        } else {
            Err(Refusal::Taken)
        }
    }

    /// What a resuming client asks before it goes on: each stream's state,
    /// and how many of its items the server holds of the upload.
    pub(crate) fn progress(&self) -> serde_json::Value {
        serde_json::json!({
            "client-masked": {
                "state": self.client_masked.name(),
                "received": self.client_masked.peek().and_then(PjcAnswerer::resumable_at),
            },
            "shuffled-tags": { "state": self.shuffled_tags.name() },
            "server-masked": { "state": self.server_masked.name() },
        })
    }

    /// Whether the streams resume (the session runs on disk).
    pub(crate) fn resumable(&self) -> bool {
        self.client_masked
            .peek()
            .is_some_and(|a| a.resumable_at().is_some())
    }

    pub(crate) fn uploaded(&mut self, uploaded: Uploaded) {
        self.client_masked.done();
        if let Uploaded::ShuffledTags(tags) = uploaded {
            self.shuffled_tags.ready(tags);
        }
    }

    pub(crate) fn start_download(
        &mut self,
        stream: &Stream,
        from: Option<u64>,
    ) -> Result<Downstream, Refusal> {
        if let Some(from) = from {
            return self.start_download_at(stream, from);
        }
        let download = if *stream == schedule::SHUFFLED_TAGS {
            Download::PjcShuffledTags(self.shuffled_tags.start()?)
        } else if *stream == schedule::SERVER_MASKED {
            Download::PjcResponderSet(self.server_masked.start()?)
        } else {
            return Err(Refusal::Taken);
        };
        Ok(Downstream::Produced(download))
    }

    pub(crate) fn downloaded(&mut self, stream: &Stream) {
        let tags = *stream == schedule::SHUFFLED_TAGS;
        if tags {
            self.shuffled_tags.done();
        } else if *stream == schedule::SERVER_MASKED {
            self.server_masked.done();
        }
        if let Some(kept) = &self.kept {
            let recorded = kept.update(|r| match tags {
                true => r.tags_acked = true,
                false => r.set_acked = true,
            });
            if let Err(e) = recorded {
                tracing::error!("recording a download's end: {e}");
            }
        }
        if self.streams_done() {
            if let Some(lane) = &mut self.sum {
                lane.release();
            }
        }
    }

    pub(crate) fn start_exchange(&mut self, stream: &Stream) -> Result<Exchange, Refusal> {
        let recorded = || {
            let kept = self.kept.as_ref()?;
            kept.read(|r| r.finale.clone()).flatten()
        };
        match &self.sum {
            Some(lane) if lane.is_done() && *stream == schedule::SUM_EXCHANGE => {
                return recorded().map(Exchange::Recorded).ok_or(Refusal::Taken)
            }
            _ => {}
        }
        match &mut self.sum {
            Some(lane) if *stream == schedule::SUM_EXCHANGE => Ok(Exchange::Sum(lane.start()?)),
            _ => Err(Refusal::Taken),
        }
    }

    pub(crate) fn exchanged(&mut self, learned: Option<Outcome<SumOutput>>) {
        if let Some(lane) = &mut self.sum {
            lane.done();
        }
        self.learned = learned;
        if let (Some(kept), Some(learned)) = (&self.kept, learned) {
            if let Err(e) = kept.learned(learned) {
                tracing::error!("recording what the sum gave: {e}");
            }
        }
    }

    /// The sums' last message arrived (it is answered, or being decrypted):
    /// a client that closes the session now holds its result.
    pub(crate) fn finale_received(&self) -> bool {
        self.streams_done()
            && self
                .sum
                .as_ref()
                .is_some_and(|l| l.is_running() || l.is_done())
    }

    fn streams_done(&self) -> bool {
        self.client_masked.is_done() && self.shuffled_tags.is_done() && self.server_masked.is_done()
    }

    pub(crate) fn all_done(&self) -> bool {
        self.streams_done()
            && self.sum.as_ref().is_none_or(Lane::is_done)
            && !self.waits_for_confirmation()
    }
}
