//! TLS for both ends (rustls with the ring provider), built from PEM bytes,
//! and the identity a peer's certificate names.
//!
//! Both ends speak TLS 1.3 only (both are this software; 1.3 also keeps a
//! client certificate from passive observers). The server presents its
//! certificate chain; with a client CA it also
//! requires a client certificate signed by that CA (mutual TLS). The client
//! trusts a private CA when given one, the system's roots otherwise.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::Error;

/// A server's TLS configuration, as [`crate::ServerConfig::tls`] holds it.
pub type ServerTls = Arc<rustls::ServerConfig>;
/// A client's TLS configuration, as [`crate::ClientConfig::tls`] holds it.
pub type ClientTls = Arc<rustls::ClientConfig>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad(what: &'static str, reason: impl ToString) -> Error {
    Error::Tls {
        what,
        reason: reason.to_string(),
    }
}

fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(what, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(what, "no CERTIFICATE block in it"));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], what: &'static str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        bad(
            what,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })
}

fn roots(pem: &[u8], what: &'static str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        roots
            .add(cert)
            .map_err(|e| bad(what, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// A server's TLS configuration: its chain and key (PEM), and with
/// `client_ca` (PEM) a required client certificate signed by that CA.
pub fn server_config(
    cert_chain: &[u8],
    key: &[u8],
    client_ca: Option<&[u8]>,
) -> Result<ServerTls, Error> {
    let chain = certificates(cert_chain, "the server certificate")?;
    let key = private_key(key, "the server key")?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad("the TLS versions", e))?;
    let builder = match client_ca {
        Some(ca) => {
            let roots = Arc::new(roots(ca, "the client CA")?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| bad("the client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad("the server certificate and key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client's TLS configuration: trusts `ca` (PEM) if given, the system's
/// roots otherwise; presents `identity` (certificate chain, key; PEM) for
/// mutual TLS.
pub fn client_config(
    ca: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> Result<ClientTls, Error> {
    let roots = match ca {
        Some(ca) => roots(ca, "the CA")?,
        None => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(bad(
                    "the system's CA certificates",
                    "none found; give the server's CA with --tls-ca",
                ));
            }
            roots
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| bad("the TLS versions", e))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                certificates(chain, "the client certificate")?,
                private_key(key, "the client key")?,
            )
            .map_err(|e| bad("the client certificate and key", e))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The name a (verified) certificate gives its holder: the subject's common
/// name, else its first DNS subject alternative name.
pub(crate) fn certificate_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let dns = || {
        let san = cert.subject_alternative_name().ok()??;
        san.value.general_names.iter().find_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
    };
    common_name.filter(|n| !n.is_empty()).or_else(dns)
}
