//! What an operator watches: sessions by protocol and outcome, bytes,
//! durations and refusals by reason, in the Prometheus text format
//! (`GET /metrics`, through the `prometheus-client` crate).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::metrics::Traffic;

type Labels = Vec<(&'static str, String)>;

/// The server's metrics.
#[derive(Debug)]
pub(crate) struct Telemetry {
    registry: Registry,
    sessions: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram>,
    refusals: Family<Labels, Counter>,
    open: Gauge,
}

fn histogram() -> Histogram {
    // 10 ms to about 3 hours.
    Histogram::new(exponential_buckets(0.01, 4.0, 14))
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("psi");
        let sessions = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        let seconds =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let refusals = Family::<Labels, Counter>::default();
        let open = Gauge::default();
        registry.register(
            "sessions",
            "Sessions and linkages that ended, by protocol and outcome",
            sessions.clone(),
        );
        registry.register(
            "bytes",
            "Body bytes of ended sessions, by direction (from the server's side)",
            bytes.clone(),
        );
        registry.register(
            "session_seconds",
            "Duration of ended sessions, by protocol",
            seconds.clone(),
        );
        registry.register(
            "refusals",
            "Requests refused, by error code",
            refusals.clone(),
        );
        registry.register(
            "open_sessions",
            "Sessions and linkages in progress",
            open.clone(),
        );
        Telemetry {
            registry,
            sessions,
            bytes,
            seconds,
            refusals,
            open,
        }
    }
}

impl Telemetry {
    /// A session or linkage started.
    pub(crate) fn opened(&self) {
        self.open.inc();
    }

    /// A session (or linkage, `protocol` "linkage") ended.
    pub(crate) fn ended(&self, protocol: &str, ok: bool, traffic: Traffic, seconds: f64) {
        self.open.dec();
        let outcome = if ok { "ok" } else { "failed" };
        self.sessions
            .get_or_create(&vec![
                ("protocol", protocol.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        self.bytes
            .get_or_create(&vec![("direction", "sent".to_string())])
            .inc_by(traffic.bytes_sent);
        self.bytes
            .get_or_create(&vec![("direction", "received".to_string())])
            .inc_by(traffic.bytes_received);
        self.seconds
            .get_or_create(&vec![("protocol", protocol.to_string())])
            .observe(seconds);
    }

    /// A request was refused with `code`.
    pub(crate) fn refused(&self, code: &str) {
        self.refusals
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    /// Every metric in the Prometheus text format.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let t = Telemetry::default();
        t.opened();
        t.ended(
            "ecdh-ristretto255",
            true,
            Traffic {
                bytes_sent: 10,
                bytes_received: 20,
            },
            0.5,
        );
        t.refused("busy");
        let text = t.text();
        assert!(
            text.contains(r#"psi_sessions_total{protocol="ecdh-ristretto255",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"psi_bytes_total{direction="received"} 20"#),
            "{text}"
        );
        assert!(
            text.contains(r#"psi_refusals_total{code="busy"} 1"#),
            "{text}"
        );
        assert!(text.contains("psi_open_sessions 0"), "{text}");
    }
}
