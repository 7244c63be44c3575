#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod auth;
mod body;
mod client;
mod error;
mod metrics;
mod server;
pub mod tls;

pub use client::{
    run_ecdh_client, run_kkrt_client, run_linkage_client, run_pjc_client, submit_encodings,
    ClientConfig, ClientRun, LinkageRun, PjcOutput, PjcRun, UnitRun,
};
pub use error::Error;
pub use metrics::{Phases, Traffic};
pub use server::{
    LinkageEvent, PsiServer, Quotas, ServeMode, ServerConfig, SessionEvent, UnitConfig,
};
