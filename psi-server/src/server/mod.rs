//! The HTTP server: one table, many sessions.
//!
//! - [`listener`]: accept loop, connections, reaper, graceful shutdown;
//! - [`routes`]: paths from [`crate::api`], streams from each protocol's
//!   [`psi_core::schedule`];
//! - [`hello`], [`streams`], [`linkage`]: the handlers;
//! - [`session`]: one session type per protocol, the core's typed states held
//!   by value, one lane per stream;
//! - [`registry`]: sessions and linkages in progress, their end and events.

mod buckets;
mod config;
mod hello;
mod ids;
mod keycheck;
mod link_run_state;
mod link_runs;
mod link_source;
mod linkage;
mod linkage_state;
mod listener;
mod pjc_restore;
mod pjc_source;
mod quota;
mod registry;
mod respond;
mod routes;
mod run_registry;
mod runs;
mod session;
mod shared;
mod streams;
mod telemetry;
mod unit;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use psi_core::linkage::{Duplicates, KeyColumn, Waterfall};
use psi_core::Item;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

pub use self::buckets::{BucketSource, PreparedSet};
pub use self::config::{ServeMode, ServerConfig};
pub use self::link_source::{LinkageSource, PreparedLinkage};
pub use self::pjc_source::{EachBatch, PjcSource};
pub use self::quota::Quotas;
use self::registry::Registry;
pub use self::registry::{BucketedOutcome, LinkageEvent, SessionEvent};
use self::shared::{Shared, Table};
pub use self::unit::UnitConfig;
use crate::Error;

/// A streaming PSI server for one table and many sessions.
pub struct PsiServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl PsiServer {
    /// Binds (port 0 picks a free port) and prepares to serve `items` (distinct).
    pub async fn bind(
        addr: SocketAddr,
        items: Vec<Item>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        Self::bind_with_values(addr, items, None, config).await
    }

    /// [`PsiServer::bind`] with one value per item, for the PSI-sum modes.
    pub async fn bind_with_values(
        addr: SocketAddr,
        items: Vec<Item>,
        values: Option<Vec<u64>>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        Self::bind_table(addr, items, values, None, config).await
    }

    /// Binds and prepares to serve a table with several keys (in priority
    /// order, one [`KeyColumn`] each): linkage sessions run the waterfall over
    /// them ([`psi_core::linkage`]); single sessions of any protocol use the
    /// first key. `duplicates` applies to single-key linkages.
    pub async fn bind_linkage(
        addr: SocketAddr,
        keys: Vec<KeyColumn>,
        duplicates: Duplicates,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        // Checks the columns once, here, rather than at every linkage.
        Waterfall::new(keys.clone(), duplicates).map_err(|_| {
            Error::Config("linkage keys need one entry per row, and 1 to 65535 keys")
        })?;
        let items = keys.first().map(|k| k.items.clone()).unwrap_or_default();
        Self::bind_table(addr, items, None, Some((keys, duplicates)), config).await
    }

    /// Binds a server whose table stays on disk: it serves bucketed runs
    /// only ([`psi_core::bucket`]), each partitioned by `source`; a session
    /// outside a run is refused (`run_required`). Intersection modes only.
    pub async fn bind_buckets(
        addr: SocketAddr,
        source: Arc<dyn BucketSource>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        if config.mode != ServeMode::Intersection {
            return Err(Error::Config(
                "a server whose table stays on disk serves the intersection modes only",
            ));
        }
        let mut server = Self::bind_table(addr, Vec::new(), None, None, config).await?;
        if let Some(shared) = Arc::get_mut(&mut server.shared) {
            shared.table.source = source;
            shared.table.in_memory = false;
        }
        Ok(server)
    }

    /// [`PsiServer::bind_buckets`] that also serves bucketed linkages
    /// ([`psi_core::linkage::bucketed`]) of the keys `linkage` partitions.
    pub async fn bind_buckets_linkage(
        addr: SocketAddr,
        source: Arc<dyn BucketSource>,
        linkage: Arc<dyn LinkageSource>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        let mut server = Self::bind_buckets(addr, source, config).await?;
        if let Some(shared) = Arc::get_mut(&mut server.shared) {
            shared.table.linkage_source = Some(linkage);
        }
        Ok(server)
    }

    /// Binds a linkage unit of fuzzy linkage ([`UnitConfig`]): no table, no
    /// PSI session; the owners upload encodings and fetch their links.
    pub async fn bind_unit(
        addr: SocketAddr,
        unit: UnitConfig,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        if unit.owners.len() < 2 {
            return Err(Error::Config("a linkage unit needs at least two owners"));
        }
        if !(unit.threshold > 0.0 && unit.threshold <= 1.0) {
            return Err(Error::Config(
                "the threshold is a Dice similarity above 0 and at most 1",
            ));
        }
        if config.tokens.is_none() && config.tls.is_none() {
            return Err(Error::Config(
                "a linkage unit needs identities: partner tokens (--tokens) or client certificates (--client-ca)",
            ));
        }
        let mut server = Self::bind_table(addr, Vec::new(), None, None, config).await?;
        if let Some(shared) = Arc::get_mut(&mut server.shared) {
            shared.unit = Some(Arc::new(unit::Unit::new(unit)));
        }
        Ok(server)
    }

    /// Binds a PSI-cardinality or PSI-sum server whose set stays on disk:
    /// every session runs in external memory ([`psi_core::pjc::external`])
    /// over `source`.
    pub async fn bind_pjc_on_disk(
        addr: SocketAddr,
        source: Arc<dyn PjcSource>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        if config.mode == ServeMode::Intersection {
            return Err(Error::Config(
                "an external-memory PJC server serves cardinality or sum",
            ));
        }
        if config.mode.needs_values() != source.total().is_some() {
            return Err(Error::Config("a PSI-sum server needs a value per item"));
        }
        if let Some((dir, _)) = source.sessions() {
            // Kept sessions past the retention go at start-up.
            let gone = session::pjc_keep::sweep(dir, config.session_retention, &[]);
            if gone > 0 {
                tracing::info!(removed = gone, "expired kept sessions removed");
            }
        }
        let mut server = Self::bind_table(addr, Vec::new(), Some(Vec::new()), None, config).await?;
        if let Some(shared) = Arc::get_mut(&mut server.shared) {
            shared.registry.set_server_set_size(source.distinct());
            shared.table.pjc_source = Some(source);
        }
        Ok(server)
    }

    /// Binds with everything a server may serve.
    async fn bind_table(
        addr: SocketAddr,
        items: Vec<Item>,
        values: Option<Vec<u64>>,
        linkage_keys: Option<(Vec<KeyColumn>, Duplicates)>,
        config: ServerConfig,
    ) -> Result<PsiServer, Error> {
        match &values {
            Some(v) if v.len() != items.len() => {
                return Err(Error::Config("one value per item is required"))
            }
            None if config.mode.needs_values() => {
                return Err(Error::Config("a PSI-sum server needs a value per item"))
            }
            _ => {}
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let registry = Registry::new(
            items.len() as u64,
            config.max_sessions,
            config.max_completed_sessions,
        );
        let items: std::sync::Arc<[Item]> = items.into();
        let table = Table {
            source: Arc::new(buckets::MemorySource(items.clone())),
            in_memory: true,
            linkage_source: None,
            items,
            values: values.map(Into::into),
            linkage_keys,
            pjc_source: None,
        };
        let run_key = match config.run_key {
            Some(key) => key,
            None => {
                let mut rng = psi_core::rng::ZeroizingRng::from_os_rng()
                    .map_err(|_| Error::Config("the operating system's random generator failed"))?;
                psi_core::bucket::client_nonce(&mut rng)
            }
        };
        Ok(PsiServer {
            listener,
            shared: Arc::new(Shared {
                table,
                runs: run_registry::Runs::new(run_key),
                unit: None,
                config,
                registry,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        // A bound listener always has an address; fall back to unspecified.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// A receiver of one event per session that ended.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.shared.registry.events()
    }

    /// A receiver of one event per linkage that ended.
    pub fn linkage_events(&self) -> broadcast::Receiver<LinkageEvent> {
        self.shared.registry.linkage_events()
    }

    /// Serves until `shutdown` resolves or `max_completed_sessions` sessions
    /// ended; then stops accepting and lets open connections finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        listener::serve(self.listener, self.shared, shutdown).await;
        Ok(())
    }
}
