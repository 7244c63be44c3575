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
///
/// # Memory
/// The plan is an iterator: it holds the linked rows (sorted by id when
/// aligned) and yields this side's other rows and the placeholders as it
/// goes, so the peer's count costs no memory however large it is. The peer's
/// count is still a claim that the caller must bound before writing that many
/// rows ([`super::LinkageFinish::check_unlinked_rows`],
/// [`super::LinkageTotals::check_unlinked_rows`]).
pub fn plan_rows(
    side: Side,
    join: JoinType,
    align: bool,
    links: &[Option<Link>],
    client_unlinked: u64,
    server_unlinked: u64,
) -> PlannedRows<'_> {
    let mut plan = PlannedRows {
        sorted: Vec::new().into_iter(),
        before: 0,
        own: OwnRows {
            links: links.iter().enumerate(),
            keep: Keep::Unlinked,
        },
        after: 0,
    };
    if join == JoinType::Difference {
        return plan;
    }
    let keeps_own_unlinked = match side {
        Side::Client => join.keeps_client_unlinked(),
        Side::Server => join.keeps_server_unlinked(),
    };
    if !align {
        plan.own.keep = if keeps_own_unlinked {
            Keep::All
        } else {
            Keep::Linked
        };
        return plan;
    }
    let mut sorted: Vec<PlannedRow> = OwnRows {
        links: links.iter().enumerate(),
        keep: Keep::Linked,
    }
    .collect();
    sorted.sort_by_key(|r| r.id);
    plan.sorted = sorted.into_iter();
    plan.own.keep = if keeps_own_unlinked {
        Keep::Unlinked
    } else {
        Keep::Nothing
    };
    // The client's unlinked rows come before the server's: the server writes
    // its placeholders for the client's first, the client its own for the
    // server's last.
    match side {
        Side::Client if join.keeps_server_unlinked() => plan.after = server_unlinked,
        Side::Server if join.keeps_client_unlinked() => plan.before = client_unlinked,
        _ => {}
    }
    plan
}

/// The rows of a plan ([`plan_rows`]), in the order they are written:
/// the linked rows in id order (aligned plans only), the placeholders that
/// come before this side's other rows, this side's rows the plan keeps in
/// input order, then the placeholders that come after them. Placeholders
/// are counted, not stored.
#[derive(Debug, Clone)]
pub struct PlannedRows<'a> {
    sorted: std::vec::IntoIter<PlannedRow>,
    before: u64,
    own: OwnRows<'a>,
    after: u64,
}

/// This side's rows that a plan keeps, in input order.
#[derive(Debug, Clone)]
struct OwnRows<'a> {
    links: std::iter::Enumerate<std::slice::Iter<'a, Option<Link>>>,
    keep: Keep,
}

/// Which of this side's rows [`OwnRows`] yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Nothing,
    Linked,
    Unlinked,
    All,
}

impl Iterator for OwnRows<'_> {
    type Item = PlannedRow;

    fn next(&mut self) -> Option<PlannedRow> {
        if self.keep == Keep::Nothing {
            return None;
        }
        let keep = self.keep;
        self.links.find_map(|(row, link)| {
            let kept = match keep {
                Keep::Nothing => false,
                Keep::Linked => link.is_some(),
                Keep::Unlinked => link.is_none(),
                Keep::All => true,
            };
            kept.then(|| PlannedRow {
                row: Some(row),
                id: link.map(|l| l.id),
            })
        })
    }
}

const PLACEHOLDER: PlannedRow = PlannedRow {
    row: None,
    id: None,
};

impl PlannedRows<'_> {
    /// How many rows the plan yields in all (counts this side's rows; the
    /// placeholders are a sum, so this is quick however many they are).
    pub fn total(&self) -> u64 {
        let own = self.own.clone().count() as u64;
        (self.sorted.len() as u64)
            .saturating_add(self.before)
            .saturating_add(own)
            .saturating_add(self.after)
    }
}

impl Iterator for PlannedRows<'_> {
    type Item = PlannedRow;

    fn next(&mut self) -> Option<PlannedRow> {
        if let Some(row) = self.sorted.next() {
            return Some(row);
        }
        if self.before > 0 {
            self.before -= 1;
            return Some(PLACEHOLDER);
        }
        if let Some(row) = self.own.next() {
            return Some(row);
        }
        if self.after > 0 {
            self.after -= 1;
            return Some(PLACEHOLDER);
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let fixed = (self.sorted.len() as u64)
            .saturating_add(self.before)
            .saturating_add(self.after);
        let low = usize::try_from(fixed).unwrap_or(usize::MAX);
        let high = usize::try_from(fixed.saturating_add(self.own.links.len() as u64)).ok();
        (low, high)
    }
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
        let (c, s) = (
            plan_rows(Side::Client, JoinType::Full, true, &client, 1, 2),
            plan_rows(Side::Server, JoinType::Full, true, &server, 1, 2),
        );
        assert_eq!((c.total(), s.total()), (5, 5));
        let (c, s): (Vec<_>, Vec<_>) = (c.collect(), s.collect());
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
        let rows = |j| {
            let plan = plan_rows(Side::Client, j, false, &client, 0, 0);
            shape(&plan.collect::<Vec<_>>())
        };
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
        let server_left: Vec<_> =
            plan_rows(Side::Server, JoinType::Left, false, &client, 0, 0).collect();
        assert_eq!(shape(&server_left), rows(JoinType::Inner));
    }

    /// The plan as a vector, spelled out case by case (the form `plan_rows`
    /// had before it became an iterator).
    fn reference(
        side: Side,
        join: JoinType,
        align: bool,
        links: &[Option<Link>],
        client_unlinked: u64,
        server_unlinked: u64,
    ) -> Vec<PlannedRow> {
        let own = |keep: &dyn Fn(&Option<Link>) -> bool| -> Vec<PlannedRow> {
            (0..links.len())
                .filter(|&r| keep(&links[r]))
                .map(|r| PlannedRow {
                    row: Some(r),
                    id: links[r].map(|l| l.id),
                })
                .collect()
        };
        let placeholders = |n: u64| vec![PLACEHOLDER; n as usize];
        let keeps_own = match side {
            Side::Client => join.keeps_client_unlinked(),
            Side::Server => join.keeps_server_unlinked(),
        };
        if join == JoinType::Difference {
            return own(&|l| l.is_none());
        }
        if !align {
            return own(&|l| l.is_some() || keeps_own);
        }
        let mut out = own(&|l| l.is_some());
        out.sort_by_key(|r| r.id);
        if join.keeps_client_unlinked() {
            out.extend(match side {
                Side::Client => own(&|l| l.is_none()),
                Side::Server => placeholders(client_unlinked),
            });
        }
        if join.keeps_server_unlinked() {
            out.extend(match side {
                Side::Client => placeholders(server_unlinked),
                Side::Server => own(&|l| l.is_none()),
            });
        }
        out
    }

    #[test]
    fn every_plan_equals_the_reference() {
        // Every pattern of up to 5 rows, each unlinked or linked with one of
        // 3 ids (repeated ids too), on both sides, for every join.
        for len in 0..=5u32 {
            for code in 0..4u32.pow(len) {
                let pattern: Vec<Option<u8>> = (0..len)
                    .map(|i| match (code / 4u32.pow(i)) % 4 {
                        0 => None,
                        id => Some(id as u8 * 7 % 5),
                    })
                    .collect();
                let links = links(&pattern);
                for (side, join, align) in [Side::Client, Side::Server]
                    .into_iter()
                    .flat_map(|s| JoinType::ALL.into_iter().map(move |j| (s, j)))
                    .flat_map(|(s, j)| [(s, j, false), (s, j, true)])
                {
                    let plan = plan_rows(side, join, align, &links, 2, 3);
                    let expect = reference(side, join, align, &links, 2, 3);
                    assert_eq!(plan.total(), expect.len() as u64);
                    let (low, high) = plan.size_hint();
                    assert!(low <= expect.len() && high.is_some_and(|h| h >= expect.len()));
                    assert_eq!(plan.collect::<Vec<_>>(), expect, "{side:?} {join} {align}");
                }
            }
        }
    }

    #[test]
    fn placeholders_are_not_materialised() {
        // A peer's count of unlinked rows is bounded by the caller, but even
        // the bound (2^28) must not become a vector: a plan this long is
        // answered at once and yields its rows lazily.
        let server = links(&[None, Some(3)]);
        let huge = u64::MAX / 2;
        let plan = plan_rows(Side::Server, JoinType::Full, true, &server, huge, 1);
        assert_eq!(plan.total(), huge + 2);
        let first: Vec<PlannedRow> = plan.into_iter().take(3).collect();
        assert_eq!(
            shape(&first),
            vec![(Some(1), true), (None, false), (None, false)]
        );
        let client = links(&[Some(3), None]);
        let plan = plan_rows(Side::Client, JoinType::Right, true, &client, 1, huge);
        let first: Vec<PlannedRow> = plan.into_iter().take(2).collect();
        assert_eq!(shape(&first), vec![(Some(0), true), (None, false)]);
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
