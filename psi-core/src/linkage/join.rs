//! Join types and the two sides of a linkage: which rows each side keeps.
//!
//! Both parties must compute the same plan from the same links and totals,
//! so the plan is protocol logic and lives here, not in a front end.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
