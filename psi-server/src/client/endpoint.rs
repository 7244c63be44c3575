//! Where the peer is: the `--peer` URL read into an address and whether
//! to speak TLS.

use crate::Error;

/// Where the server is: `host:port`, and whether to speak TLS to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// The host alone (the name a TLS certificate must carry).
    pub host: String,
    /// `https://`.
    pub tls: bool,
}

/// Reads `http://host:port[/]`, `https://host:port[/]` or `host:port`.
pub(super) fn endpoint(peer: &str) -> Result<Endpoint, Error> {
    let bad = |reason| Error::BadUrl {
        url: peer.to_string(),
        reason,
    };
    let (tls, rest) = match (peer.strip_prefix("https://"), peer.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, peer),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(bad("expected http://HOST:PORT or https://HOST:PORT"));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(Endpoint {
            authority: rest.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            tls,
        }),
        _ => Err(bad("expected http(s)://HOST:PORT with a port number")),
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn peer_addresses() {
        let at = |p: &str| endpoint(p).ok().map(|e| (e.authority, e.host, e.tls));
        let plain = |a: &str, h: &str| Some((a.to_string(), h.to_string(), false));
        assert_eq!(
            at("http://127.0.0.1:7700"),
            plain("127.0.0.1:7700", "127.0.0.1")
        );
        assert_eq!(at("127.0.0.1:7700/"), plain("127.0.0.1:7700", "127.0.0.1"));
        assert_eq!(at("http://[::1]:80"), plain("[::1]:80", "::1"));
        assert_eq!(
            at("https://psi.example:443/"),
            Some(("psi.example:443".into(), "psi.example".into(), true))
        );
        assert!(endpoint("http://x").is_err());
        assert!(endpoint("https://x").is_err());
        assert!(endpoint("http://x:1/path").is_err());
        assert!(endpoint("").is_err());
    }
}
