//! From candidate pairs to a one-to-one linkage.
//!
//! - [`greedy_pairs`] (two inputs): highest similarity first, a pair is kept
//!   if neither row is taken yet. Ties go to the lower row numbers, so the
//!   result does not depend on the search order.
//! - [`greedy_groups`] (three or more inputs): as anonlink's greedy solver,
//!   pairs of all inputs are taken highest similarity first; a pair joins two
//!   rows' groups unless the merged group would hold two rows of one input.

use std::collections::HashMap;

use crate::search::Candidate;

/// The one-to-one pairs, ordered by the first input's row.
pub fn greedy_pairs(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_unstable_by(Candidate::best_first);
    let mut taken_a = std::collections::HashSet::new();
    let mut taken_b = std::collections::HashSet::new();
    let mut kept = Vec::new();
    for c in candidates {
        if !taken_a.contains(&c.a) && !taken_b.contains(&c.b) {
            taken_a.insert(c.a);
            taken_b.insert(c.b);
            kept.push(c);
        }
    }
    kept.sort_unstable_by_key(|c| c.a);
    kept
}

/// A candidate pair between two inputs (`owner` numbers are input positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The first input's position.
    pub owner_a: u16,
    /// The second input's position (greater than `owner_a`).
    pub owner_b: u16,
    /// The pair.
    pub pair: Candidate,
}

/// A group: one row from each of at least two inputs, as `(owner, row)`
/// sorted by owner.
pub type Group = Vec<(u16, u32)>;

/// Greedy grouping over inputs; groups are returned ordered by their first
/// member.
pub fn greedy_groups(mut edges: Vec<Edge>) -> Vec<Group> {
    edges.sort_unstable_by(|x, y| {
        Candidate::best_first(&x.pair, &y.pair)
            .then(x.owner_a.cmp(&y.owner_a))
            .then(x.owner_b.cmp(&y.owner_b))
    });
    let mut group_of: HashMap<(u16, u32), usize> = HashMap::new();
    let mut groups: Vec<Option<Group>> = Vec::new();
    for e in edges {
        let x = (e.owner_a, e.pair.a);
        let y = (e.owner_b, e.pair.b);
        match (group_of.get(&x).copied(), group_of.get(&y).copied()) {
            (None, None) => {
                group_of.insert(x, groups.len());
                group_of.insert(y, groups.len());
                groups.push(Some(vec![x, y]));
            }
            (Some(g), None) | (None, Some(g)) => {
                let (new, _) = if group_of.contains_key(&x) {
                    (y, x)
                } else {
                    (x, y)
                };
                let Some(members) = groups[g].as_mut() else {
                    continue;
                };
                if members.iter().all(|m| m.0 != new.0) {
                    members.push(new);
                    group_of.insert(new, g);
                }
            }
            (Some(g), Some(h)) if g != h => {
                let (Some(gm), Some(hm)) = (groups[g].as_ref(), groups[h].as_ref()) else {
                    continue;
                };
                if gm.iter().all(|m| hm.iter().all(|n| n.0 != m.0)) {
                    let (keep, gone) = if gm.len() >= hm.len() { (g, h) } else { (h, g) };
                    let moved = groups[gone].take().unwrap_or_default();
                    for m in &moved {
                        group_of.insert(*m, keep);
                    }
                    if let Some(k) = groups[keep].as_mut() {
                        k.extend(moved);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .flatten()
        .map(|mut g| {
            g.sort_unstable();
            g
        })
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: u32, b: u32, inter: u32) -> Candidate {
        Candidate {
            a,
            b,
            inter,
            sum: 100,
        }
    }

    #[test]
    fn greedy_takes_the_best_pair_first() {
        // a0-b0 0.9, a0-b1 0.95, a1-b1 0.92: a0 takes b1, then a1 has nothing
        // left but b0 is free only for a0 (taken) → a1 unmatched.
        let got = greedy_pairs(vec![c(0, 0, 45), c(0, 1, 47), c(1, 1, 46)]);
        assert_eq!(
            got.iter().map(|x| (x.a, x.b)).collect::<Vec<_>>(),
            vec![(0, 1)]
        );
        let got = greedy_pairs(vec![c(0, 0, 45), c(0, 1, 47), c(1, 1, 46), c(1, 0, 40)]);
        assert_eq!(
            got.iter().map(|x| (x.a, x.b)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 0)]
        );
        // Ties: lower rows first, whatever the input order.
        let got = greedy_pairs(vec![c(1, 0, 45), c(0, 0, 45)]);
        assert_eq!((got[0].a, got[0].b), (0, 0));
        assert!(greedy_pairs(Vec::new()).is_empty());
    }

    fn e(oa: u16, a: u32, ob: u16, b: u32, inter: u32) -> Edge {
        Edge {
            owner_a: oa,
            owner_b: ob,
            pair: c(a, b, inter),
        }
    }

    #[test]
    fn groups_hold_one_row_per_input() {
        let edges = vec![
            e(0, 0, 1, 0, 48),
            e(1, 0, 2, 5, 47),
            e(0, 0, 2, 5, 46),
            // A second row of input 2 may not join the group.
            e(0, 0, 2, 6, 45),
            // A separate pair.
            e(0, 3, 1, 4, 44),
            // Merging {0:3, 1:4} with {0:0, ...} would put two rows of 0 together.
            e(1, 4, 2, 5, 43),
        ];
        let groups = greedy_groups(edges);
        assert_eq!(
            groups,
            vec![vec![(0, 0), (1, 0), (2, 5)], vec![(0, 3), (1, 4)]]
        );
    }

    #[test]
    fn groups_merge_when_inputs_are_disjoint() {
        let edges = vec![e(0, 1, 1, 1, 49), e(2, 1, 3, 1, 48), e(1, 1, 2, 1, 40)];
        assert_eq!(
            greedy_groups(edges),
            vec![vec![(0, 1), (1, 1), (2, 1), (3, 1)]]
        );
    }
}
