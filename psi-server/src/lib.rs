#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod body;
mod client;
mod error;
mod server;

pub use client::{
    run_ecdh_client, run_kkrt_client, run_linkage_client, run_pjc_client, ClientConfig, ClientRun,
    LinkageFinish, LinkageRun, LinkageTotals, PjcOutput, PjcRun,
};
pub use error::Error;
pub use server::{
    decode_key_spec, encode_key_spec, LinkageEvent, PsiServer, ServeMode, ServerConfig,
    SessionEvent, KEY_SPEC_HEADER, LINKAGE_HEADER, LINKAGE_NEW, MAX_HELLO_BYTES, SESSION_HEADER,
    VERSION_HEADER,
};
