//! Join types and the two sides of a linkage: which rows each side keeps.
//!
//! Both parties must compute the same plan from the same links and totals,
//! so the plan is protocol logic and lives here, not in a front end.

use std::fmt;

use super::Link;
use crate::ecdh::LinkId;

/// Which rows each side writes after a linkage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinType {
    /// Linked rows only.
    Inner,
    /// Every row of the client (A, the left side); the server's linked rows.
    Left,
    /// The client's linked rows; every row of the server (B, the right side).
    Right,
    /// Every row of both.
    Full,
    /// Each side's rows that were not linked.
    Difference,
}

impl JoinType {
    /// Every join type, in wire-id order.
    pub const ALL: [JoinType; 5] = [
        JoinType::Inner,
        JoinType::Left,
        JoinType::Right,
        JoinType::Full,
        JoinType::Difference,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            JoinType::Inner => "inner",
            JoinType::Left => "left",
            JoinType::Right => "right",
            JoinType::Full => "full",
            JoinType::Difference => "difference",
        }
    }

    /// The join type of a name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.name() == name)
    }

    /// The byte that carries the join type on the wire.
    pub(crate) fn id(self) -> u8 {
        match self {
            JoinType::Inner => 0,
            JoinType::Left => 1,
            JoinType::Right => 2,
            JoinType::Full => 3,
            JoinType::Difference => 4,
        }
    }

    /// The join type of a wire byte.
    pub(crate) fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.id() == id)
    }

    /// Whether the client's rows that were not linked are written (left and
    /// full joins; the server writes placeholders for them when aligned).
    pub fn keeps_client_unlinked(self) -> bool {
        matches!(self, JoinType::Left | JoinType::Full)
    }

    /// Whether the server's rows that were not linked are written (right and
    /// full joins; the client writes placeholders for them when aligned).
    pub fn keeps_server_unlinked(self) -> bool {
        matches!(self, JoinType::Right | JoinType::Full)
    }
}

impl fmt::Display for JoinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side of a linkage a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The party that runs the protocol (`psi run`, A, the left side of a join).
    Client,
    /// The party that serves its table (`psi serve`, B, the right side).
    Server,
}

/// One row a side writes after a linkage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRow {
    /// The row of this side's table (0-based data row), or `None` for a
    /// placeholder standing for a row only the other side holds (aligned
    /// output: the rows of both sides pair up by position).
    pub row: Option<usize>,
    /// The link's id, shared by both sides, for a linked row.
    pub id: Option<LinkId>,
}

/// The rows `side` writes, in order, after a linkage with `join`.
///
/// - `join` [`JoinType::Difference`]: this side's unlinked rows, in input order.
/// - Without `align`: this side's linked rows and, if `join` keeps them, its
///   unlinked rows, in input order.
/// - With `align`: linked rows ordered by id, then the client's unlinked rows
///   (left and full joins), then the server's (right and full); each side
///   writes placeholders for the other's, so row *i* of one output pairs with
///   row *i* of the other.
///
/// `links` holds this side's link per row; `client_unlinked` and
/// `server_unlinked` count each side's rows without a link (one of them is
/// this side's own count, the other the peer's from
/// [`super::LinkageFinish`] or [`super::LinkageTotals`]). Both sides compute
/// the plan from the same facts, so aligned outputs have the same length and
/// the same ids in the same places.
pub fn plan_rows(
    side: Side,
    join: JoinType,
    align: bool,
    links: &[Option<Link>],
    client_unlinked: u64,
    server_unlinked: u64,
) -> Vec<PlannedRow> {
    let own = |(row, l): (usize, &Option<Link>)| PlannedRow {
        row: Some(row),
        id: l.map(|l| l.id),
    };
    let unlinked = || {
        links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_none())
            .map(own)
    };
    let placeholders = |n: u64| {
        (0..n).map(|_| PlannedRow {
            row: None,
            id: None,
        })
    };
    if join == JoinType::Difference {
        return unlinked().collect();
    }
    let keeps_own_unlinked = match side {
        Side::Client => join.keeps_client_unlinked(),
        Side::Server => join.keeps_server_unlinked(),
    };
    if !align {
        return links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_some() || keeps_own_unlinked)
            .map(own)
            .collect();
    }
    let mut out: Vec<PlannedRow> = links
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_some())
        .map(own)
        .collect();
    out.sort_by_key(|r| r.id);
    if join.keeps_client_unlinked() {
        match side {
            Side::Client => out.extend(unlinked()),
            Side::Server => out.extend(placeholders(client_unlinked)),
        }
    }
    if join.keeps_server_unlinked() {
        match side {
            Side::Client => out.extend(placeholders(server_unlinked)),
            Side::Server => out.extend(unlinked()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pattern: &[Option<u8>]) -> Vec<Option<Link>> {
        pattern
            .iter()
            .map(|p| {
                p.map(|b| Link {
                    step: 0,
                    id: [b; 16],
                })
            })
            .collect()
    }

    fn shape(rows: &[PlannedRow]) -> Vec<(Option<usize>, bool)> {
        rows.iter().map(|r| (r.row, r.id.is_some())).collect()
    }

    #[test]
    fn aligned_full_join_has_the_same_shape_on_both_sides() {
        // Client rows: 0 linked (id 9), 1 unlinked, 2 linked (id 3).
        let client = links(&[Some(9), None, Some(3)]);
        // Server rows: 0 unlinked, 1 linked (id 3), 2 linked (id 9), 3 unlinked.
        let server = links(&[None, Some(3), Some(9), None]);
        let c = plan_rows(Side::Client, JoinType::Full, true, &client, 1, 2);
        let s = plan_rows(Side::Server, JoinType::Full, true, &server, 1, 2);
        assert_eq!(c.len(), s.len());
        let ids = |rows: &[PlannedRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&c), ids(&s));
        assert_eq!(
            shape(&c),
            vec![
                (Some(2), true),
                (Some(0), true),
                (Some(1), false),
                (None, false),
                (None, false)
            ]
        );
        assert_eq!(
            shape(&s),
            vec![
                (Some(1), true),
                (Some(2), true),
                (None, false),
                (Some(0), false),
                (Some(3), false)
            ]
        );
    }

    #[test]
    fn unaligned_joins_keep_input_order() {
        let client = links(&[Some(9), None, Some(3)]);
        let rows = |j| shape(&plan_rows(Side::Client, j, false, &client, 0, 0));
        assert_eq!(
            rows(JoinType::Inner),
            vec![(Some(0), true), (Some(2), true)]
        );
        assert_eq!(
            rows(JoinType::Left),
            vec![(Some(0), true), (Some(1), false), (Some(2), true)]
        );
        assert_eq!(rows(JoinType::Right), rows(JoinType::Inner));
        assert_eq!(rows(JoinType::Difference), vec![(Some(1), false)]);
        let server_left = plan_rows(Side::Server, JoinType::Left, false, &client, 0, 0);
        assert_eq!(shape(&server_left), rows(JoinType::Inner));
    }

    #[test]
    fn names_and_ids_round_trip() {
        for j in JoinType::ALL {
            assert_eq!(JoinType::from_name(j.name()), Some(j));
            assert_eq!(JoinType::from_id(j.id()), Some(j));
        }
        assert_eq!(JoinType::from_name("outer"), None);
        assert_eq!(JoinType::from_id(5), None);
    }
}
