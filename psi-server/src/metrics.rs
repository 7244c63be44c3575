//! What every run, session and linkage measures: bytes each way and time per
//! phase. The reports of both parties are built from these two types.

use std::time::Duration;

/// Body bytes each way (HTTP headers not counted), from this party's side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traffic {
    /// Bytes this party sent.
    pub bytes_sent: u64,
    /// Bytes this party received.
    pub bytes_received: u64,
}

impl Traffic {
    /// Adds another exchange's bytes.
    pub fn add(&mut self, other: Traffic) {
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
    }

    /// Both directions together.
    pub fn total(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }
}

/// Seconds per phase, in order; serialised as `[[name, seconds], ...]` with
/// millisecond precision.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Phases(Vec<(String, f64)>);

impl Phases {
    /// No phases yet.
    pub fn new() -> Self {
        Phases(Vec::new())
    }

    /// Records a phase that took `duration`.
    pub fn push(&mut self, name: impl Into<String>, duration: Duration) {
        self.0.push((name.into(), seconds(duration)));
    }

    /// Appends every phase of `other`, in order.
    pub fn extend(&mut self, other: &Phases) {
        self.0.extend(other.0.iter().cloned());
    }

    /// The phases, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, s)| (n.as_str(), *s))
    }

    /// The seconds of the phase called `name`, if there is one.
    pub fn seconds_of(&self, name: &str) -> Option<f64> {
        self.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }
}

/// Seconds as a float with millisecond precision.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_serialise_as_pairs() {
        let mut p = Phases::new();
        p.push("hello", Duration::from_micros(1_234_567));
        p.push("total".to_string(), Duration::from_millis(2));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"[["hello",1.235],["total",0.002]]"#
        );
        assert_eq!(p.seconds_of("total"), Some(0.002));
        let mut t = Traffic::default();
        t.add(Traffic {
            bytes_sent: 3,
            bytes_received: 4,
        });
        assert_eq!(t.total(), 7);
    }
}
