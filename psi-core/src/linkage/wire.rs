//! The small messages that end each step of a linkage and the linkage itself.

use super::JoinType;
use crate::codec::{kind, read_header, write_header, Codec, DecodeError, Reader};
use crate::ecdh::LinkId;
use crate::Limits;

/// The client's result of a KKRT bucket of a bucketed linkage
/// ([`super::bucketed`]): the id ([`super::bucketed::link_id`]) of each of
/// its offered items that the session found shared. The server, which
/// cannot be told positions (a KKRT sender learns none), recomputes the id
/// of each item it offered and links the rows of those it is sent
/// ([`super::bucketed::BucketOffer::matched_by_id`]). Answered by
/// [`StepRecorded`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkIds {
    /// One id per shared item.
    pub ids: Vec<LinkId>,
}

impl Codec for LinkIds {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::LINK_IDS);
        // A bucket holds fewer than u32::MAX items, so the count fits.
        out.extend_from_slice(&(self.ids.len() as u32).to_be_bytes());
        for id in &self.ids {
            out.extend_from_slice(id);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::LINK_IDS, "link ids")?;
        let n = r.u32()? as usize;
        // Bounded by the bytes at hand before anything is allocated (the
        // server bounds the message itself by its own offer's size).
        let needed = n.saturating_mul(16);
        if needed > r.remaining() {
            return Err(DecodeError::Truncated {
                needed: needed - r.remaining(),
            });
        }
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(r.array::<16>()?);
        }
        Ok(LinkIds { ids })
    }
}

/// The server's answer to a step's [`super::LinkResult`]: how many of its rows
/// the step linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRecorded {
    /// The server's rows linked at this step.
    pub linked_rows: u64,
}

impl Codec for StepRecorded {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::STEP_RECORDED);
        out.extend_from_slice(&self.linked_rows.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::STEP_RECORDED, "step recorded")?;
        Ok(StepRecorded {
            linked_rows: r.u64()?,
        })
    }
}

/// The most unlinked rows a party accepts from its peer's [`LinkageFinish`]
/// or [`LinkageTotals`]: [`Limits::max_set_size`].
///
/// The count is the peer's claim, and it costs us: in an aligned join that
/// keeps the peer's unlinked rows (left or full on the server, right or full
/// on the client) we write one placeholder row for each of them. The plan
/// makes them lazily ([`super::plan_rows`]), so memory is not at stake, but
/// disk and time are: 10^9 placeholders are gigabytes of output.
///
/// Why this bound: it cannot come from what the peer announced during the
/// steps, since rows without a key value, or whose values several of its
/// rows share, are never offered; and [`Limits::max_set_size`] is the one
/// size the owner of each side already states for how much a peer may make
/// it handle (`psi serve --max-set-size`). An honest peer has more unlinked
/// rows than that only with a table larger than the largest set it could
/// announce; such a run is refused with an error naming the limit, and the
/// limit can be raised.
pub fn max_unlinked_rows(limits: &Limits) -> u64 {
    limits.max_set_size
}

fn check_bound(field: &'static str, value: u64, limits: &Limits) -> Result<(), DecodeError> {
    let limit = max_unlinked_rows(limits);
    if value > limit {
        return Err(DecodeError::TooLarge {
            field,
            value,
            limit,
        });
    }
    Ok(())
}

/// How the client wants the linkage's result written, told to the server at
/// the end of a linkage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkageFinish {
    /// The join type.
    pub join: JoinType,
    /// Whether both sides write their rows in the same (id) order.
    pub align: bool,
    /// Whether the server writes its side of the result.
    pub share_result: bool,
    /// The client's data rows.
    pub client_rows: u64,
    /// The client's rows that were not linked (a claim: the server bounds it
    /// with [`LinkageFinish::check_unlinked_rows`]).
    pub client_unlinked_rows: u64,
}

impl LinkageFinish {
    /// Refuses the client's count of unlinked rows if it is above
    /// [`Limits::max_set_size`] (see [`max_unlinked_rows`]). The server calls
    /// this on every finish it receives, before planning its rows.
    pub fn check_unlinked_rows(&self, limits: &Limits) -> Result<(), DecodeError> {
        check_bound(
            "the client's count of unlinked rows",
            self.client_unlinked_rows,
            limits,
        )
    }
}

const ALIGN: u8 = 1;
const SHARE_RESULT: u8 = 2;

impl Codec for LinkageFinish {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::LINKAGE_FINISH);
        out.push(self.join.id());
        let mut flags = 0;
        if self.align {
            flags |= ALIGN;
        }
        if self.share_result {
            flags |= SHARE_RESULT;
        }
        out.push(flags);
        out.extend_from_slice(&self.client_rows.to_be_bytes());
        out.extend_from_slice(&self.client_unlinked_rows.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::LINKAGE_FINISH, "linkage finish")?;
        let id = r.u8()?;
        let join = JoinType::from_id(id).ok_or(DecodeError::InvalidField {
            field: "join type",
            value: id.into(),
        })?;
        let flags = r.u8()?;
        if flags & !(ALIGN | SHARE_RESULT) != 0 {
            return Err(DecodeError::InvalidField {
                field: "flags",
                value: flags.into(),
            });
        }
        let (client_rows, client_unlinked_rows) = (r.u64()?, r.u64()?);
        if client_unlinked_rows > client_rows {
            return Err(DecodeError::InvalidField {
                field: "unlinked rows",
                value: client_unlinked_rows,
            });
        }
        Ok(LinkageFinish {
            join,
            align: flags & ALIGN != 0,
            share_result: flags & SHARE_RESULT != 0,
            client_rows,
            client_unlinked_rows,
        })
    }
}

/// The server's answer to a [`LinkageFinish`]: its row totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkageTotals {
    /// The server's data rows.
    pub server_rows: u64,
    /// The server's rows that were not linked (a claim: the client bounds it
    /// with [`LinkageTotals::check_unlinked_rows`]).
    pub server_unlinked_rows: u64,
}

impl LinkageTotals {
    /// Refuses the server's count of unlinked rows if it is above
    /// [`Limits::max_set_size`] (see [`max_unlinked_rows`]). The client calls
    /// this on the totals it receives, before planning its rows.
    pub fn check_unlinked_rows(&self, limits: &Limits) -> Result<(), DecodeError> {
        check_bound(
            "the server's count of unlinked rows",
            self.server_unlinked_rows,
            limits,
        )
    }
}

impl Codec for LinkageTotals {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::LINKAGE_TOTALS);
        out.extend_from_slice(&self.server_rows.to_be_bytes());
        out.extend_from_slice(&self.server_unlinked_rows.to_be_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::LINKAGE_TOTALS, "linkage totals")?;
        let (server_rows, server_unlinked_rows) = (r.u64()?, r.u64()?);
        if server_unlinked_rows > server_rows {
            return Err(DecodeError::InvalidField {
                field: "unlinked rows",
                value: server_unlinked_rows,
            });
        }
        Ok(LinkageTotals {
            server_rows,
            server_unlinked_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        for join in JoinType::ALL {
            let f = LinkageFinish {
                join,
                align: true,
                share_result: false,
                client_rows: 10,
                client_unlinked_rows: 3,
            };
            assert_eq!(LinkageFinish::from_bytes(&f.to_bytes()), Ok(f));
        }
        let t = LinkageTotals {
            server_rows: 7,
            server_unlinked_rows: 7,
        };
        assert_eq!(LinkageTotals::from_bytes(&t.to_bytes()), Ok(t));
        let s = StepRecorded { linked_rows: 5 };
        assert_eq!(StepRecorded::from_bytes(&s.to_bytes()), Ok(s));
        for n in [0usize, 1, 3] {
            let ids = LinkIds {
                ids: (0..n).map(|i| [i as u8; 16]).collect(),
            };
            let bytes = ids.to_bytes();
            assert_eq!(bytes.len(), 6 + 16 * n);
            assert_eq!(LinkIds::from_bytes(&bytes), Ok(ids));
            assert!(LinkIds::from_bytes(&bytes[..bytes.len() - 1]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(LinkIds::from_bytes(&longer).is_err());
        }
        // A count far beyond the bytes sent is refused before allocating.
        let mut huge = LinkIds::default().to_bytes();
        huge[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            LinkIds::from_bytes(&huge),
            Err(DecodeError::Truncated { .. })
        ));

        let mut bad = t.to_bytes();
        bad[17] = 8; // unlinked above total
        assert!(LinkageTotals::from_bytes(&bad).is_err());
        let mut f = LinkageFinish {
            join: JoinType::Full,
            align: false,
            share_result: true,
            client_rows: 1,
            client_unlinked_rows: 0,
        }
        .to_bytes();
        f[2] = 9; // unknown join type
        assert!(LinkageFinish::from_bytes(&f).is_err());
        f[2] = 0;
        f[3] = 4; // unknown flag
        assert!(LinkageFinish::from_bytes(&f).is_err());
        f[3] = 0;
        f.push(0);
        assert!(LinkageFinish::from_bytes(&f).is_err());
    }

    #[test]
    fn a_peers_unlinked_rows_are_bounded_by_the_set_size_limit() {
        // Each unlinked row of the peer can become a placeholder row that we
        // write: the count is refused above the largest set a peer may announce.
        let limits = Limits { max_set_size: 100 };
        let finish = |unlinked| LinkageFinish {
            join: JoinType::Left,
            align: true,
            share_result: true,
            client_rows: 1_000_000_000,
            client_unlinked_rows: unlinked,
        };
        assert_eq!(finish(100).check_unlinked_rows(&limits), Ok(()));
        let err = finish(1_000_000_000).check_unlinked_rows(&limits);
        assert_eq!(
            err,
            Err(DecodeError::TooLarge {
                field: "the client's count of unlinked rows",
                value: 1_000_000_000,
                limit: 100,
            })
        );
        let totals = |unlinked| LinkageTotals {
            server_rows: u64::MAX,
            server_unlinked_rows: unlinked,
        };
        assert_eq!(totals(100).check_unlinked_rows(&limits), Ok(()));
        let err = totals(101).check_unlinked_rows(&limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server's count of unlinked rows is 101, above the limit of 100"
        );
        // The default limit is 2^28: a claim of 10^9 rows is refused.
        let default = Limits::default();
        assert!(finish(1_000_000_000).check_unlinked_rows(&default).is_err());
        assert!(finish(1 << 28).check_unlinked_rows(&default).is_ok());
    }
}
