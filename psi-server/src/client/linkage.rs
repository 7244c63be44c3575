//! The client of a linkage ([`psi_core::linkage`], [`schedule::LINKAGE_STEP`]):
//! one ECDH session per key with its result shared, then the finish message.

use std::time::Instant;

use psi_core::codec::Codec;
use psi_core::ecdh::LinkId;
use psi_core::linkage::{LinkResult, LinkageFinish, LinkageTotals, StepRecorded, Waterfall};
use psi_core::schedule;

use super::config::ClientConfig;
use super::ecdh;
use super::transport::Peer;
use crate::api::LINKAGE_NEW;
use crate::metrics::{Phases, Traffic};
use crate::Error;

/// The result of [`run_linkage_client`].
#[derive(Debug, Clone)]
pub struct LinkageRun {
    /// Our state after every step, with each row's link.
    pub waterfall: Waterfall,
    /// The linkage id the server gave.
    pub linkage: String,
    /// Per step: the size of the server's offered set.
    pub server_offered: Vec<u64>,
    /// The server's totals.
    pub totals: LinkageTotals,
    /// Body bytes each way (all steps).
    pub traffic: Traffic,
    /// Seconds per step.
    pub phases: Phases,
}

/// Runs a linkage against `peer`: for each step of `waterfall`, an ECDH-PSI
/// session over the step's offer whose result is shared with the server (so
/// both withdraw linked rows), then the [`LinkageFinish`] message (its row
/// counts are filled in here). See [`psi_core::linkage`] for what each side
/// learns.
pub async fn run_linkage_client(
    peer: &str,
    mut waterfall: Waterfall,
    mut finish: LinkageFinish,
    config: &ClientConfig,
) -> Result<LinkageRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    let mut linkage: Option<String> = None;
    let mut phases = Phases::new();
    let mut server_offered = Vec::new();
    while waterfall.step() < waterfall.steps() {
        let t = Instant::now();
        let step = waterfall.step();
        let offer = waterfall.offer()?;
        let header = linkage.clone().unwrap_or_else(|| LINKAGE_NEW.to_string());
        let (run, shared) = ecdh::session(&mut peer, offer.items.clone(), Some(&header)).await?;
        let shared = shared.ok_or(Error::Config("a linkage step must share its result"))?;
        match (&linkage, shared.linkage) {
            (None, Some(id)) => linkage = Some(id),
            (Some(ours), Some(theirs)) if *ours == theirs => {}
            _ => {
                return Err(Error::NotPsi(
                    "it did not answer a linkage step with the linkage id",
                ))
            }
        }
        server_offered.push(run.output.server_set_size);
        let result = LinkResult {
            pairs: shared
                .pairs
                .iter()
                .map(|p| (p.server_position, p.id))
                .collect(),
        };
        let answer = peer
            .exchange(&run.session, &schedule::RESULT, result.to_bytes())
            .await?;
        StepRecorded::from_bytes(&answer)?;
        let mine: Vec<(u32, LinkId)> = shared
            .pairs
            .iter()
            .map(|p| (p.client as u32, p.id))
            .collect();
        waterfall.record(&offer, &mine)?;
        phases.push(format!("step {}", step + 1), t.elapsed());
    }
    let linkage = linkage.ok_or(Error::Config("a linkage needs at least one key"))?;
    finish.client_rows = waterfall.rows() as u64;
    finish.client_unlinked_rows = finish.client_rows - waterfall.linked_rows();
    let answer = peer.finish_linkage(&linkage, finish.to_bytes()).await?;
    let totals = server_totals(&answer, &config.limits)?;
    Ok(LinkageRun {
        waterfall,
        linkage,
        server_offered,
        totals,
        traffic: peer.traffic(),
        phases,
    })
}

/// The server's [`LinkageTotals`], its count of unlinked rows bounded by
/// our set-size limit ([`psi_core::linkage::max_unlinked_rows`]): with a
/// right or full aligned join we write a placeholder row for each of them.
fn server_totals(answer: &[u8], limits: &psi_core::Limits) -> Result<LinkageTotals, Error> {
    let totals = LinkageTotals::from_bytes(answer)?;
    totals.check_unlinked_rows(limits)?;
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_unlinked_rows_are_bounded_by_our_set_size_limit() {
        // A right or full aligned join writes a placeholder for each of the
        // server's unlinked rows: a count above our limit is refused.
        let limits = psi_core::Limits { max_set_size: 1000 };
        let totals = |unlinked| {
            LinkageTotals {
                server_rows: 1 << 40,
                server_unlinked_rows: unlinked,
            }
            .to_bytes()
        };
        assert!(matches!(
            server_totals(&totals(1000), &limits),
            Ok(t) if t.server_unlinked_rows == 1000
        ));
        let err = server_totals(&totals(1 << 40), &limits).map(|_| ());
        let Err(err) = err else {
            panic!("10^12 unlinked rows were accepted");
        };
        let text = err.to_string();
        assert!(
            text.contains("unlinked rows is 1099511627776, above the limit of 1000"),
            "{text}"
        );
    }
}
