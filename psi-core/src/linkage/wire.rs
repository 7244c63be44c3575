//! The small messages that end each step of a linkage and the linkage itself.

use super::JoinType;
use crate::codec::{kind, read_header, write_header, Codec, DecodeError, Reader};

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
    /// The client's rows that were not linked.
    pub client_unlinked_rows: u64,
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
    /// The server's rows that were not linked.
    pub server_unlinked_rows: u64,
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
}
