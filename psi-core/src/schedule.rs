//! Each protocol's message schedule, described once: which streams follow the
//! hellos, which way each flows, what it carries and when the server can
//! serve it.
//!
//! The in-memory driver ([`crate::driver`]), the server's routes and the
//! client's calls (`psi-server`) all follow these descriptions, so a protocol
//! added here needs no path strings anywhere else: a transport names a stream
//! by [`Stream::name`] and derives its method from [`Stream::direction`] and
//! [`Stream::carries`].
//!
//! Every schedule starts with a hello from the client and the server's answer
//! (the hello's type byte picks the protocol); the streams below come after.

use crate::codec::Protocol;

/// Which way a stream's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client (the party that opens the session) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// Framed chunks ([`crate::codec::encode_frame`]) until the stream ends.
    Chunks,
    /// One small message in the stream's direction, answered by one small
    /// message (possibly empty) the other way.
    Exchange,
}

/// When the server can serve a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// As soon as the hellos are exchanged.
    AtOnce,
    /// Paced by another stream: each of its messages answers one message of
    /// the named stream, in order (ECDH's double-masked answers).
    Answering(&'static str),
    /// When the named stream has ended.
    After(&'static str),
    /// When every other stream of the session has ended.
    AfterAll,
}

/// One stream of a protocol run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The stream's name (unique within a schedule; transports use it in paths).
    pub name: &'static str,
    /// Which way it flows.
    pub direction: Direction,
    /// What it carries.
    pub carries: Carries,
    /// When the server can serve it.
    pub ready: Ready,
}

/// The streams of one protocol, in the order a sequential driver runs them.
///
/// [`Ready`] says when the *server* can serve a stream; a client may need a
/// stricter order, which the list order gives: the PSI-cardinality counter,
/// for one, can take `server-masked` only after `shuffled-tags` has ended
/// (its state for the responder's set comes out of the tags), so a client
/// must not fetch streams in parallel just because they are ready at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// A short name for logs and errors.
    pub name: &'static str,
    /// The streams after the hellos.
    pub streams: &'static [Stream],
}

impl Schedule {
    /// The stream called `name`, if this schedule has one.
    pub fn stream(&self, name: &str) -> Option<&'static Stream> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// The schedule of `protocol`; `linkage` adds the shared-result exchange
    /// of a linkage step (ECDH, or KKRT in a bucketed linkage).
    pub fn of(protocol: Protocol, linkage: bool) -> &'static Schedule {
        match (protocol, linkage) {
            (Protocol::EcdhIntersection, false) => &ECDH,
            (Protocol::EcdhIntersection, true) => &LINKAGE_STEP,
            (Protocol::Kkrt, false) => &KKRT,
            (Protocol::Kkrt, true) => &KKRT_LINKAGE_STEP,
            (Protocol::Cardinality, _) => &CARDINALITY,
            (Protocol::SumToValueHolder | Protocol::SumToKeyHolder, _) => &SUM,
        }
    }
}

/// ECDH and PJC: the client's masked items, `a·H(x)` in chunks.
pub const CLIENT_MASKED: Stream = Stream {
    name: "client-masked",
    direction: Direction::ClientToServer,
    carries: Carries::Chunks,
    ready: Ready::AtOnce,
};

/// ECDH: the server's answers `b·a·H(x)` (truncated tags), one chunk per
/// chunk of [`CLIENT_MASKED`], in order.
pub const DOUBLE_MASKED: Stream = Stream {
    name: "double-masked",
    direction: Direction::ServerToClient,
    carries: Carries::Chunks,
    ready: Ready::Answering(CLIENT_MASKED.name),
};

/// ECDH and PJC: the server's own set, masked and shuffled.
pub const SERVER_MASKED: Stream = Stream {
    name: "server-masked",
    direction: Direction::ServerToClient,
    carries: Carries::Chunks,
    ready: Ready::AtOnce,
};

/// A linkage step: the client's [`crate::linkage::LinkResult`] (ECDH) or
/// [`crate::linkage::LinkIds`] (KKRT), answered by
/// [`crate::linkage::StepRecorded`].
pub const RESULT: Stream = Stream {
    name: "result",
    direction: Direction::ClientToServer,
    carries: Carries::Exchange,
    ready: Ready::AfterAll,
};

/// KKRT: the OT-extension matrix `U`, in chunks of rows.
pub const MATRIX: Stream = Stream {
    name: "matrix",
    direction: Direction::ClientToServer,
    carries: Carries::Chunks,
    ready: Ready::AtOnce,
};

/// KKRT: the sender's OPRF values, shuffled, in chunks.
pub const OPRF_VALUES: Stream = Stream {
    name: "oprf-values",
    direction: Direction::ServerToClient,
    carries: Carries::Chunks,
    ready: Ready::After(MATRIX.name),
};

/// PJC: the counter's items re-masked by the responder, in a secret order.
pub const SHUFFLED_TAGS: Stream = Stream {
    name: "shuffled-tags",
    direction: Direction::ServerToClient,
    carries: Carries::Chunks,
    ready: Ready::After(CLIENT_MASKED.name),
};

/// PJC sums: the counter's encrypted (or masked) sum, answered by nothing
/// (sum to the server) or the decrypted masked sum (sum to the client).
pub const SUM_EXCHANGE: Stream = Stream {
    name: "sum",
    direction: Direction::ClientToServer,
    carries: Carries::Exchange,
    ready: Ready::AfterAll,
};

/// ECDH-PSI ([`crate::ecdh`]).
pub const ECDH: Schedule = Schedule {
    name: "ecdh",
    streams: &[CLIENT_MASKED, DOUBLE_MASKED, SERVER_MASKED],
};

/// One step of a linkage ([`crate::linkage`]): ECDH-PSI, then the result.
pub const LINKAGE_STEP: Schedule = Schedule {
    name: "linkage-step",
    streams: &[CLIENT_MASKED, DOUBLE_MASKED, SERVER_MASKED, RESULT],
};

/// KKRT OT-extension PSI ([`crate::kkrt`]).
pub const KKRT: Schedule = Schedule {
    name: "kkrt",
    streams: &[MATRIX, OPRF_VALUES],
};

/// One KKRT bucket of a bucketed linkage ([`crate::linkage::bucketed`]):
/// KKRT, then the result (the ids of the shared items).
pub const KKRT_LINKAGE_STEP: Schedule = Schedule {
    name: "kkrt-linkage-step",
    streams: &[MATRIX, OPRF_VALUES, RESULT],
};

/// PSI-cardinality ([`crate::pjc`]).
pub const CARDINALITY: Schedule = Schedule {
    name: "cardinality",
    streams: &[CLIENT_MASKED, SHUFFLED_TAGS, SERVER_MASKED],
};

/// PSI-sum, either direction ([`crate::pjc`]).
pub const SUM: Schedule = Schedule {
    name: "sum",
    streams: &[CLIENT_MASKED, SHUFFLED_TAGS, SERVER_MASKED, SUM_EXCHANGE],
};

/// Every schedule, for transports that list their routes.
pub const ALL: [&Schedule; 6] = [
    &ECDH,
    &LINKAGE_STEP,
    &KKRT,
    &KKRT_LINKAGE_STEP,
    &CARDINALITY,
    &SUM,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_readiness_names_an_earlier_stream() {
        for schedule in ALL {
            for (i, s) in schedule.streams.iter().enumerate() {
                assert_eq!(schedule.stream(s.name), Some(s), "{}", schedule.name);
                assert!(schedule.streams[..i].iter().all(|t| t.name != s.name));
                match s.ready {
                    Ready::Answering(other) | Ready::After(other) => {
                        let pos = schedule.streams.iter().position(|t| t.name == other);
                        assert!(pos.is_some_and(|p| p < i), "{} waits for {other}", s.name);
                    }
                    Ready::AfterAll => assert_eq!(i, schedule.streams.len() - 1),
                    Ready::AtOnce => {}
                }
            }
        }
    }
}
