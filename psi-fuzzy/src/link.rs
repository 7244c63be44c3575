//! Linking several owners' encodings, as `psi match` and the linkage unit
//! both do: every pair of inputs is searched (each with its own blocking),
//! then the pairs at or above the threshold are resolved one to one: pairs
//! for two inputs, groups for more.

use crate::dice::{at_least, Kernel, Threshold};
use crate::file::Encodings;
use crate::search::{search, Blocking, Candidate, SearchStats};
use crate::solve::{greedy_groups, greedy_pairs, Edge, Group};

/// Every pair of rows across inputs at or above a floor, with the search's cost.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The pairs, between inputs `owner_a < owner_b`.
    pub edges: Vec<Edge>,
    /// Comparisons and pairs, summed over every pair of inputs.
    pub stats: SearchStats,
    /// The LSH parameters (tables, bits) of the last pair of inputs that used LSH.
    pub lsh: Option<(u32, u32)>,
}

/// Searches every pair of `inputs` for pairs at or above `floor`, with the
/// blocking `blocking` chooses for each pair of inputs.
pub fn search_all(
    inputs: &[Encodings],
    floor: Threshold,
    blocking: impl Fn(&Encodings, &Encodings) -> Blocking,
    kernel: Kernel,
) -> Found {
    let mut out = Found::default();
    for i in 0..inputs.len() {
        for j in i + 1..inputs.len() {
            let method = blocking(&inputs[i], &inputs[j]);
            if let Blocking::Lsh { tables, bits } = method {
                out.lsh = Some((tables, bits));
            }
            let (found, stats) = search(&inputs[i], &inputs[j], floor, method, kernel);
            out.stats.comparisons += stats.comparisons;
            out.stats.pairs += stats.pairs;
            out.edges.extend(found.into_iter().map(|pair| Edge {
                owner_a: i as u16,
                owner_b: j as u16,
                pair,
            }));
        }
    }
    out
}

/// A one-to-one linkage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Links {
    /// Two inputs: the pairs, ordered by the first input's row.
    Pairs(Vec<Candidate>),
    /// More inputs: the groups, ordered by their first member.
    Groups(Vec<Group>),
}

/// Resolves the edges at or above `threshold` among `owners` inputs one to
/// one; also returns how many edges reached the threshold.
pub fn resolve(edges: Vec<Edge>, owners: usize, threshold: Threshold) -> (Links, u64) {
    let kept: Vec<Edge> = edges
        .into_iter()
        .filter(|e| at_least(e.pair.inter, e.pair.sum, threshold))
        .collect();
    let candidates = kept.len() as u64;
    let links = if owners == 2 {
        Links::Pairs(greedy_pairs(kept.into_iter().map(|e| e.pair).collect()))
    } else {
        Links::Groups(greedy_groups(kept))
    };
    (links, candidates)
}
