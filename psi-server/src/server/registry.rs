//! Sessions and linkages in progress, their end, and the events they leave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psi_core::codec::Protocol;
use psi_core::linkage::{Link, LinkageFinish, StepSummary};
use psi_core::pjc::{Outcome, SumOutput};
use tokio::sync::{broadcast, Notify, Semaphore};

use super::linkage_state::LinkageState;
use super::quota::{Ledger, Place, Quotas};
use super::session::Session;
use super::telemetry::Telemetry;
use crate::auth::Identity;
use crate::metrics::Traffic;

/// One session that ended, successfully or not.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    /// Session token.
    pub session: String,
    /// Who ran it: the partner's identity (`anonymous` without authentication).
    pub partner: String,
    /// The address its hello came from.
    pub peer: std::net::SocketAddr,
    /// The protocol the client chose.
    pub protocol: Protocol,
    /// What the server learned: the size of the client's set.
    pub client_set_size: u64,
    /// The size of our set.
    pub server_set_size: u64,
    /// Body bytes each way, from the server's side.
    pub traffic: Traffic,
    /// Seconds from hello to end.
    pub seconds: f64,
    /// `Ok` or why it failed.
    pub outcome: Result<(), String>,
    /// PSI-sum to the server: what the server learned (count and sum, or only
    /// that the threshold was not met).
    pub sum: Option<Outcome<SumOutput>>,
}

/// A linkage that ended (see [`psi_core::linkage`]): the server's side.
#[derive(Debug, Clone)]
pub struct LinkageEvent {
    /// The linkage id.
    pub linkage: String,
    /// Who ran it: the partner's identity.
    pub partner: String,
    /// `Ok` or why it failed.
    pub outcome: Result<(), String>,
    /// Per row of our table: its link, if any (shared: one per row of the
    /// table, so every receiver of the event sees the same copy).
    pub links: Arc<[Option<Link>]>,
    /// Per step, what it did on our side.
    pub summaries: Vec<StepSummary>,
    /// Per step, how many values the client offered (what we learned).
    pub client_offered: Vec<u64>,
    /// What the client asked for at the end.
    pub finish: Option<LinkageFinish>,
    /// Body bytes each way over all steps, from the server's side.
    pub traffic: Traffic,
    /// Seconds from the first hello to the end.
    pub seconds: f64,
    /// A bucketed linkage ([`psi_core::linkage::bucketed`]): its links stayed
    /// on disk (`links` is empty), so its counts and output are here.
    pub bucketed: Option<BucketedOutcome>,
}

/// What a bucketed linkage did on our side.
#[derive(Debug, Clone)]
pub struct BucketedOutcome {
    /// Our data rows.
    pub rows: u64,
    /// Our rows linked.
    pub linked_rows: u64,
    /// Our side of the result: the rows written and where (`None`: not
    /// written, the client did not share it or we keep no output), or why
    /// writing failed.
    pub output: Result<Option<(u64, String)>, String>,
}

/// Why a hello gets no place.
pub(crate) enum Refused {
    /// The server is at its limit of sessions.
    Busy,
    /// The partner is at one of its quotas (which one, in words).
    Quota(String),
}

/// Every session and linkage in progress.
pub(crate) struct Registry {
    ledger: Ledger,
    /// What an operator watches (`GET /metrics`).
    pub(crate) telemetry: Telemetry,
    /// Set when the server stops accepting.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    max_sessions: usize,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    linkages: Mutex<HashMap<String, Arc<Mutex<LinkageState>>>>,
    events: broadcast::Sender<SessionEvent>,
    linkage_events: broadcast::Sender<LinkageEvent>,
    server_set_size: u64,
    /// One permit per session or linkage in progress, taken before any work.
    permits: Arc<Semaphore>,
    completed: AtomicU64,
    max_completed: Option<u64>,
    /// Notified when `max_completed` sessions and linkages ended.
    pub(crate) finished: Notify,
    /// Held while a kept session is taken up again (one at a time).
    pub(crate) restoring: tokio::sync::Mutex<()>,
}

impl Registry {
    pub(crate) fn new(
        server_set_size: u64,
        max_sessions: usize,
        max_completed: Option<u64>,
    ) -> Self {
        Registry {
            ledger: Ledger::default(),
            telemetry: Telemetry::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            max_sessions,
            permits: Arc::new(Semaphore::new(max_sessions)),
            sessions: Mutex::new(HashMap::new()),
            linkages: Mutex::new(HashMap::new()),
            events: broadcast::channel(256).0,
            linkage_events: broadcast::channel(64).0,
            server_set_size,
            completed: AtomicU64::new(0),
            max_completed,
            finished: Notify::new(),
            restoring: tokio::sync::Mutex::new(()),
        }
    }

    /// The served set's size, for a server whose set is not in memory.
    pub(crate) fn set_server_set_size(&mut self, size: u64) {
        self.server_set_size = size;
    }

    pub(crate) fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    pub(crate) fn linkage_events(&self) -> broadcast::Receiver<LinkageEvent> {
        self.linkage_events.subscribe()
    }

    /// A place for one more session or linkage of `identity`, if the
    /// server's limit and the partner's quotas allow: taken before any work
    /// on a hello and held until the session (or linkage) ends, so a burst
    /// of hellos cannot pass the limits.
    pub(crate) fn admit(&self, identity: &Identity, quotas: &Quotas) -> Result<Place, Refused> {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        let slot = self.ledger.open(identity, quotas).map_err(Refused::Quota)?;
        Ok(Place::new(permit, slot))
    }

    /// Charges the items a hello of `identity` announces against its quota.
    pub(crate) fn charge(
        &self,
        identity: &Identity,
        items: u64,
        quotas: &Quotas,
    ) -> Result<(), String> {
        self.ledger.charge(identity, items, quotas)
    }

    /// Places left under the session limit, and the limit.
    pub(crate) fn capacity(&self) -> (usize, usize) {
        (self.permits.available_permits(), self.max_sessions)
    }

    pub(crate) fn insert(&self, session: Arc<Session>) {
        if session.linkage.is_none() {
            self.telemetry.opened();
        }
        if let Ok(mut s) = self.sessions.lock() {
            s.insert(session.token.clone(), session);
        }
    }

    /// The session `token` if `identity` opened it (another identity gets
    /// nothing, as if it did not exist).
    pub(crate) fn session(&self, token: &str, identity: &Identity) -> Option<Arc<Session>> {
        let session = self.sessions.lock().ok()?.get(token).cloned()?;
        (session.owner == *identity).then_some(session)
    }

    pub(crate) fn insert_linkage(&self, id: String, state: Arc<Mutex<LinkageState>>) {
        self.telemetry.opened();
        if let Ok(mut l) = self.linkages.lock() {
            l.insert(id, state);
        }
    }

    pub(crate) fn linkage(&self, id: &str) -> Option<Arc<Mutex<LinkageState>>> {
        self.linkages.lock().ok()?.get(id).cloned()
    }

    /// The linkage `id` if `identity` started it.
    pub(crate) fn linkage_of(
        &self,
        id: &str,
        identity: &Identity,
    ) -> Option<Arc<Mutex<LinkageState>>> {
        let state = self.linkage(id)?;
        let owned = state.lock().ok().is_some_and(|st| st.owner == *identity);
        owned.then_some(state)
    }

    /// The kept sessions in memory.
    pub(crate) fn kept(&self) -> Vec<Arc<super::session::pjc_keep::Kept>> {
        let sessions: Vec<Arc<Session>> = match self.sessions.lock() {
            Ok(s) => s.values().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        sessions
            .iter()
            .filter_map(|s| s.streams.lock().ok()?.kept().cloned())
            .collect()
    }

    /// The directories of the kept sessions in memory (not to be swept).
    pub(crate) fn kept_dirs(&self) -> Vec<std::path::PathBuf> {
        self.kept().iter().map(|k| k.dir().to_path_buf()).collect()
    }

    /// Ends the session if every stream of it ended.
    pub(crate) fn end_if_done(&self, session: &Session) {
        if session.all_done() {
            self.end(session, Ok(()));
        }
    }

    /// Ends a session (once): removes it, emits its event, counts it. A
    /// linkage step adds its bytes to the linkage, or fails the linkage.
    pub(crate) fn end(&self, session: &Session, outcome: Result<(), String>) {
        let removed = self
            .sessions
            .lock()
            .map(|mut s| s.remove(&session.token).is_some())
            .unwrap_or(false);
        if !removed {
            return;
        }
        session.release();
        if let Some(id) = &session.linkage {
            match &outcome {
                Ok(()) => {
                    if let Some(state) = self.linkage(id) {
                        if let Ok(mut st) = state.lock() {
                            st.traffic.add(session.traffic());
                        }
                    }
                }
                Err(e) => self.end_linkage(id, Err(format!("step failed: {e}")), None),
            }
            tracing::debug!(session = %session.token, linkage = %id, "linkage step ended");
            return;
        }
        let (reported, kept) = match session.streams.lock() {
            Ok(st) => (st.reported(), st.kept().cloned()),
            Err(_) => (false, None),
        };
        if reported {
            tracing::info!("a kept sum's answer, reported before, was answered again");
            return;
        }
        if let Some(kept) = kept.filter(|k| k.read(|r| r.finale.is_some()) == Some(true)) {
            // Reported now: a later process that answers again does not.
            let marked = kept.update(|r| {
                if let Some(f) = r.finale.as_mut() {
                    f.reported = true;
                }
            });
            if let Err(e) = marked {
                tracing::error!("recording that a sum was reported: {e}");
            }
        }
        let event = SessionEvent {
            session: session.token.clone(),
            partner: session.owner.to_string(),
            peer: session.peer,
            protocol: session.protocol,
            client_set_size: session.client_set_size,
            server_set_size: self.server_set_size,
            traffic: session.traffic(),
            seconds: session.started.elapsed().as_secs_f64(),
            outcome,
            sum: session.streams.lock().ok().and_then(|s| s.learned()),
        };
        match &event.outcome {
            Ok(()) => tracing::info!(
                protocol = %event.protocol,
                client_set_size = event.client_set_size,
                bytes_received = event.traffic.bytes_received,
                bytes_sent = event.traffic.bytes_sent,
                seconds = event.seconds,
                "session completed"
            ),
            Err(e) => tracing::warn!(protocol = %event.protocol, error = %e, "session failed"),
        }
        let ok = event.outcome.is_ok();
        let protocol = event.protocol.name();
        self.telemetry
            .ended(protocol, ok, event.traffic, event.seconds);
        let _ = self.events.send(event);
        if ok && !session.in_run {
            self.count_completed();
        }
    }

    /// Ends a linkage (once): removes it, emits its event, counts it.
    pub(crate) fn end_linkage(
        &self,
        id: &str,
        outcome: Result<(), String>,
        finish: Option<LinkageFinish>,
    ) {
        let Some(state) = self.linkages.lock().ok().and_then(|mut l| l.remove(id)) else {
            return;
        };
        // The state is ours alone once out of the map (a step that still
        // holds it is copied from instead): the links move, one per row.
        let st = match Arc::try_unwrap(state) {
            Ok(mutex) => match mutex.into_inner() {
                Ok(st) => st,
                Err(_) => return,
            },
            Err(shared) => {
                let Ok(st) = shared.lock() else { return };
                LinkageState {
                    owner: st.owner.clone(),
                    waterfall: st.waterfall.clone(),
                    pending: None,
                    client_offered: st.client_offered.clone(),
                    traffic: st.traffic,
                    started: st.started,
                    last_activity: st.last_activity,
                    place: None,
                }
            }
        };
        let linked_rows = st.waterfall.linked_rows();
        let (partner, seconds) = (st.owner.to_string(), st.started.elapsed().as_secs_f64());
        let (links, summaries) = st.waterfall.into_parts();
        let event = LinkageEvent {
            linkage: id.to_string(),
            partner,
            outcome,
            links: links.into(),
            summaries,
            client_offered: st.client_offered,
            finish,
            traffic: st.traffic,
            seconds,
            bucketed: None,
        };
        tracing::debug!(linked_rows, "linkage state released");
        self.linkage_done(event);
    }

    /// Logs, counts and emits the event of a linkage that ended.
    pub(crate) fn linkage_done(&self, event: LinkageEvent) {
        match &event.outcome {
            Ok(()) => {
                tracing::info!(linkage = %event.linkage, "linkage completed")
            }
            Err(e) => tracing::warn!(error = %e, "linkage failed"),
        }
        let ok = event.outcome.is_ok();
        self.telemetry
            .ended("linkage", ok, event.traffic, event.seconds);
        let _ = self.linkage_events.send(event);
        if ok {
            self.count_completed();
        }
    }

    /// Counts a closed bucketed run as one completed unit of work (its
    /// bucket sessions do not count on their own).
    pub(crate) fn run_closed(&self) {
        self.count_completed();
    }

    /// Counts a session or linkage that succeeded (`--once` stops after
    /// the first; a failed or aborted one does not count).
    fn count_completed(&self) {
        let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max_completed.is_some_and(|max| n >= max) {
            self.finished.notify_one();
        }
    }

    /// Ends sessions, and linkages between steps, idle for longer than `limit`.
    pub(crate) fn reap(&self, limit: Duration) {
        let idle: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .map(|s| {
                s.values()
                    .filter(|s| s.idle_for() > limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for s in idle {
            // A kept session waits on disk for its client (the retention);
            // a sum it answered completed, confirmed or not.
            let (kept, answered) = match s.streams.lock() {
                Ok(st) => (st.kept().cloned(), st.answered_unconfirmed()),
                Err(_) => (None, false),
            };
            if let Some(kept) = kept {
                kept.retain();
            }
            let outcome = match answered {
                true => Ok(()),
                false => Err(format!("no progress for {} s", limit.as_secs())),
            };
            self.end(&s, outcome);
        }
        // A linkage between steps has no session; it is reaped on its own.
        let idle_linkages: Vec<String> = self
            .linkages
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(_, st)| st.lock().is_ok_and(|st| st.last_activity.elapsed() > limit))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in idle_linkages {
            let active = self
                .sessions
                .lock()
                .map(|s| {
                    s.values()
                        .any(|s| s.linkage.as_deref() == Some(id.as_str()))
                })
                .unwrap_or(false);
            if !active {
                let why = format!("no step for {} s", limit.as_secs());
                self.end_linkage(&id, Err(why), None);
            }
        }
    }
}
