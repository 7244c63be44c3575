#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod auth;
mod body;
mod client;
mod error;
mod metrics;
pub mod pjc_state;
pub mod scratch;
mod server;
pub mod tls;

pub use client::{
    close_run, finish_linkage_run, open_linkage_run, open_run, run_bucket, run_ecdh_client,
    run_kkrt_client, run_link_bucket, run_linkage_client, run_pjc_client, run_pjc_client_on_disk,
    submit_encodings, wait_run_ready, ClientConfig, ClientRun, CounterItems, DiskOptions,
    DiskPjcRun, LinkBucket, LinkRunRef, LinkageRun, OnProgress, OpenedRun, PjcOutput, PjcRun,
    UnitRun,
};
pub use error::Error;
pub use metrics::{Phases, Traffic};
pub use server::{
    BucketSource, BucketedOutcome, EachBatch, LinkageEvent, LinkageSource, PjcSource,
    PreparedLinkage, PreparedSet, PsiServer, Quotas, ServeMode, ServerConfig, SessionEvent,
    UnitConfig,
};
