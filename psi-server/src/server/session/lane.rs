//! One stream's place in a session: waiting for an earlier stream, ready with
//! the core's state for it, running, or done.

/// Why a stream cannot start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It becomes ready when the named stream has ended.
    NotReady(&'static str),
    /// It was already requested.
    Taken,
    /// A resumed stream asked for another position than the server's
    /// (`Some(items)` it holds of an upload), or of a stream that does not
    /// resume (`None`).
    Offset {
        /// What the client asked for.
        asked: u64,
        /// What the server holds.
        holds: Option<u64>,
    },
}

/// A stream's state within a session, holding the core's typed state for it
/// until a request takes it.
#[derive(Debug)]
pub(crate) enum Lane<T> {
    /// Ready when `on` has ended; `held` is its state if already known.
    Waiting {
        /// What it waits for.
        on: &'static str,
        /// Its state, kept until then.
        held: Option<T>,
    },
    /// Ready to run.
    Ready(T),
    /// A request is running it.
    Running,
    /// It ended.
    Done,
}

impl<T> Lane<T> {
    /// Takes the state to run the stream; the lane is then running.
    pub(crate) fn start(&mut self) -> Result<T, Refusal> {
        match std::mem::replace(self, Lane::Running) {
            Lane::Ready(state) => Ok(state),
            Lane::Waiting { on, held } => {
                *self = Lane::Waiting { on, held };
                Err(Refusal::NotReady(on))
            }
            other => {
                *self = other;
                Err(Refusal::Taken)
            }
        }
    }

    /// A lane that waits for `on`.
    pub(crate) fn waiting(on: &'static str) -> Self {
        Lane::Waiting { on, held: None }
    }

    /// A lane that waits for `on` with its state already known.
    pub(crate) fn holding(on: &'static str, state: T) -> Self {
        Lane::Waiting {
            on,
            held: Some(state),
        }
    }

    /// What it waited for ended: a held state becomes ready.
    pub(crate) fn release(&mut self) {
        if let Lane::Waiting { held: Some(_), .. } = self {
            if let Lane::Waiting {
                held: Some(state), ..
            } = std::mem::replace(self, Lane::Running)
            {
                *self = Lane::Ready(state);
            }
        }
    }

    /// The earlier stream ended: the state for this one is ready.
    pub(crate) fn ready(&mut self, state: T) {
        *self = Lane::Ready(state);
    }

    /// The stream ended.
    pub(crate) fn done(&mut self) {
        *self = Lane::Done;
    }

    /// Whether the stream ended.
    pub(crate) fn is_running(&self) -> bool {
        matches!(self, Lane::Running)
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Lane::Done)
    }

    /// A running stream's state comes back (its client went away before
    /// the end, and it may resume); a lane that ended meanwhile stays so.
    pub(crate) fn put_back(&mut self, state: T) {
        if matches!(self, Lane::Running) {
            *self = Lane::Ready(state);
        }
    }

    /// The state of a stream ready to run.
    pub(crate) fn peek(&self) -> Option<&T> {
        match self {
            Lane::Ready(state) => Some(state),
            _ => None,
        }
    }

    /// Its state, in a word (for a session's progress).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Lane::Waiting { .. } => "waiting",
            Lane::Ready(_) => "ready",
            Lane::Running => "running",
            Lane::Done => "done",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_runs_once_and_only_when_ready() {
        let mut lane: Lane<u8> = Lane::waiting("matrix");
        assert_eq!(lane.start(), Err(Refusal::NotReady("matrix")));
        lane.ready(7);
        assert_eq!(lane.start(), Ok(7));
        assert_eq!(lane.start(), Err(Refusal::Taken));
        assert!(!lane.is_done());
        lane.done();
        assert!(lane.is_done());
        assert_eq!(lane.start(), Err(Refusal::Taken));
        let mut held = Lane::holding("everything", 3);
        assert_eq!(held.start(), Err(Refusal::NotReady("everything")));
        held.release();
        assert_eq!(held.start(), Ok(3));
        assert_eq!(held.name(), "running");
        held.put_back(3);
        assert_eq!((held.name(), held.peek()), ("ready", Some(&3)));
        held.done();
        held.put_back(4);
        assert!(held.is_done(), "an ended stream is not put back");
    }
}
