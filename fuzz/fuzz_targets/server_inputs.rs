#![no_main]
//! What a server reads from files and headers a client controls: the token
//! file, `Authorization`, the key-declaration and resume-position headers
//! and request paths.
//! Errors, never panics.
use libfuzzer_sys::fuzz_target;
use psi_server::api::{decode_key_declaration, parse_from_header, Route};
use psi_server::auth::{bearer, BearerToken, Tokens};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(tokens) = Tokens::parse(text) {
            let _ = tokens.identify(text);
        }
        let _ = BearerToken::parse(text);
        let _ = Route::parse(text);
    }
    let _ = bearer(data);
    let _ = decode_key_declaration(data);
    let _ = parse_from_header(data);
});
