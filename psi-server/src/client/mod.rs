//! The client side: runs the client role of each protocol against a server.
//!
//! [`transport`] opens sessions and carries streams (paths from
//! [`crate::api`], one stream per connection, produced and consumed off the
//! async threads); one small module per protocol follows its
//! [`psi_core::schedule`].

mod bucket;
mod config;
mod ecdh;
mod endpoint;
mod kkrt;
mod link_buckets;
mod linkage;
mod pjc;
mod pjc_disk;
mod pjc_resume;
mod pjc_sinks;
mod transport;
mod unit;

pub use self::bucket::{close_run, open_run, run_bucket, wait_run_ready, OpenedRun};
pub use self::config::ClientConfig;
pub use self::ecdh::{run_ecdh_client, ClientRun};
pub use self::kkrt::run_kkrt_client;
pub use self::link_buckets::{
    finish_linkage_run, open_linkage_run, run_link_bucket, LinkBucket, LinkRunRef,
};
pub use self::linkage::{run_linkage_client, LinkageRun};
pub use self::pjc::{run_pjc_client, PjcOutput, PjcRun};
pub use self::pjc_disk::{
    run_pjc_client_on_disk, CounterItems, DiskOptions, DiskPjcRun, OnProgress,
};
pub use self::unit::{submit_encodings, UnitRun};
