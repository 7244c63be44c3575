//! What each partner may use: sessions at once, sessions per hour and items
//! per day (each run reveals membership for every item it sends, so items are
//! the budget that matters). A refusal names the limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::OwnedSemaphorePermit;

use crate::auth::Identity;

/// Per-partner limits of a [`crate::ServerConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quotas {
    /// Sessions (and linkages) one partner may have open at once.
    pub sessions_at_once: Option<usize>,
    /// Sessions one partner may open in any hour.
    pub sessions_per_hour: Option<u32>,
    /// Items one partner may send per UTC day, over all its sessions.
    pub items_per_day: Option<u64>,
}

#[derive(Default, Debug)]
struct Usage {
    open: usize,
    opened: VecDeque<Instant>,
    day: u64,
    items: u64,
}

/// Every partner's use so far.
#[derive(Clone, Default, Debug)]
pub(crate) struct Ledger {
    usage: Arc<Mutex<HashMap<Identity, Usage>>>,
}

/// A partner's open session, counted until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    ledger: Ledger,
    identity: Identity,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut usage) = self.ledger.usage.lock() {
            if let Some(u) = usage.get_mut(&self.identity) {
                u.open = u.open.saturating_sub(1);
            }
        }
    }
}

/// A session's (or linkage's) place under the server's limit and its
/// partner's quota, given back when dropped.
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
    _slot: Slot,
}

impl Place {
    pub(crate) fn new(permit: OwnedSemaphorePermit, slot: Slot) -> Self {
        Place {
            _permit: permit,
            _slot: slot,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

impl Ledger {
    /// Counts a new session of `identity`, or says which limit refuses it.
    pub(crate) fn open(&self, identity: &Identity, quotas: &Quotas) -> Result<Slot, String> {
        let mut usage = self
            .usage
            .lock()
            .map_err(|_| "the quota ledger is unavailable".to_string())?;
        let u = usage.entry(identity.clone()).or_default();
        if let Some(max) = quotas.sessions_at_once {
            if u.open >= max {
                return Err(format!(
                    "{identity} already has {max} sessions open, its limit at once"
                ));
            }
        }
        if let Some(max) = quotas.sessions_per_hour {
            while u.opened.front().is_some_and(|t| t.elapsed() > HOUR) {
                u.opened.pop_front();
            }
            if u.opened.len() >= max as usize {
                return Err(format!(
                    "{identity} opened {max} sessions in the last hour, its limit per hour"
                ));
            }
            u.opened.push_back(Instant::now());
        }
        u.open += 1;
        Ok(Slot {
            ledger: self.clone(),
            identity: identity.clone(),
        })
    }

    /// Charges `items` sent by `identity` today, or says which limit refuses them.
    pub(crate) fn charge(
        &self,
        identity: &Identity,
        items: u64,
        quotas: &Quotas,
    ) -> Result<(), String> {
        let Some(max) = quotas.items_per_day else {
            return Ok(());
        };
        let mut usage = self
            .usage
            .lock()
            .map_err(|_| "the quota ledger is unavailable".to_string())?;
        let u = usage.entry(identity.clone()).or_default();
        let day = today();
        if u.day != day {
            u.day = day;
            u.items = 0;
        }
        let total = u.items.saturating_add(items);
        if total > max {
            return Err(format!(
                "{identity} may send {max} items per day (UTC) and has sent {} today; this run announces {items}",
                u.items
            ));
        }
        u.items = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Via;

    fn partner(name: &str) -> Identity {
        Identity {
            name: name.into(),
            via: Via::Token,
        }
    }

    #[test]
    fn limits_apply_per_partner() {
        let ledger = Ledger::default();
        let q = Quotas {
            sessions_at_once: Some(1),
            sessions_per_hour: Some(2),
            items_per_day: Some(10),
        };
        let (a, b) = (partner("a"), partner("b"));
        let first = ledger.open(&a, &q).unwrap();
        assert!(ledger.open(&a, &q).unwrap_err().contains("at once"));
        let _other = ledger.open(&b, &q).unwrap();
        drop(first);
        let _second = ledger.open(&a, &q).unwrap();
        drop(_second);
        assert!(ledger.open(&a, &q).unwrap_err().contains("per hour"));
        ledger.charge(&a, 6, &q).unwrap();
        assert!(ledger.charge(&a, 5, &q).unwrap_err().contains("per day"));
        ledger.charge(&a, 4, &q).unwrap();
        ledger.charge(&b, 10, &q).unwrap();
    }
}
