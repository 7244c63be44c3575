//! An owner's side of a linkage unit (`psi submit`): upload the encodings
//! file, then ask for this owner's links until the unit has them.

use std::time::{Duration, Instant};

use crate::api;
use crate::client::transport::Peer;
use crate::client::ClientConfig;
use crate::metrics::Traffic;
use crate::Error;

/// What an owner got back.
#[derive(Debug, Clone)]
pub struct UnitRun {
    /// The owner's links: `row,link_id` CSV, one line per linked row.
    pub links_csv: String,
    /// Bytes each way.
    pub traffic: Traffic,
}

/// Largest links answer accepted (64 bytes a row for 2^28 rows would be more;
/// 4 GiB is far beyond any table a unit takes).
const MAX_LINKS_BYTES: usize = 4 << 30;

/// Uploads `encodings` (an encodings file's bytes) to the unit at `peer`, then
/// polls every `poll` for this owner's links, for at most `wait`.
pub async fn submit_encodings(
    peer: &str,
    config: &ClientConfig,
    encodings: Vec<u8>,
    wait: Duration,
    poll: Duration,
) -> Result<UnitRun, Error> {
    let mut peer = Peer::new(peer, config)?;
    peer.put(api::UNIT_ENCODINGS_PATH, encodings).await?;
    let start = Instant::now();
    loop {
        let (status, body) = peer.get(api::UNIT_RESULT_PATH, MAX_LINKS_BYTES).await?;
        if status == 200 {
            let links_csv = String::from_utf8(body.to_vec())
                .map_err(|_| Error::Config("the linkage unit's answer is not UTF-8 text"))?;
            return Ok(UnitRun {
                links_csv,
                traffic: peer.traffic(),
            });
        }
        if start.elapsed() >= wait {
            return Err(Error::Timeout {
                what: "the other owners' encodings and the linkage",
                seconds: wait.as_secs(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}
