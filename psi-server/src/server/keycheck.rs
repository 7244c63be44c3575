//! The key check before any private data moves: a hello (or a run's opening)
//! whose key declaration differs from ours is refused with both texts.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use psi_core::codec::KeyDeclaration;

use super::respond::{self, Answer};
use super::shared::Shared;
use crate::api::{code, decode_key_declaration, KEY_SPEC_HEADER};

/// The refusal of a hello whose key declaration differs from ours, if it does.
pub(super) fn key_spec_refusal(shared: &Shared, req: &Request<Incoming>) -> Option<Answer> {
    let ours = shared.config.key_spec.as_ref()?;
    let theirs = match req.headers().get(KEY_SPEC_HEADER) {
        None => KeyDeclaration {
            canonical: String::new(),
            fingerprint: [0; 32],
        },
        Some(v) => match decode_key_declaration(v.as_bytes()) {
            Some(d) => d,
            None => {
                return Some(respond::error(
                    StatusCode::BAD_REQUEST,
                    code::MALFORMED_MESSAGE,
                    format!("the {KEY_SPEC_HEADER} header is not a hex-encoded key declaration"),
                ))
            }
        },
    };
    if ours.agrees_with(&theirs) {
        return None;
    }
    let (ours, theirs) = (&ours.canonical, &theirs.canonical);
    let body = serde_json::json!({
        "error": {
            "code": code::KEY_SPEC_MISMATCH,
            "message": format!(
                "the two sides normalise and combine key columns differently: this server uses `{ours}`, the client sent `{theirs}`"
            ),
            "server_key_spec": ours,
            "client_key_spec": theirs,
        }
    });
    Some(respond::json(StatusCode::BAD_REQUEST, &body))
}
