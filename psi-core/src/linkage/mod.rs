//! Sharing an ECDH-PSI result with the server, and linking rows over several
//! keys in priority order (a "waterfall"), as sans-IO state.
//!
//! # Shared results
//! In [`crate::ecdh`] only the client learns which items are shared. To give
//! the server its side too, the client (after [`crate::ecdh::intersect_pairs`])
//! sends a [`LinkResult`]: for each shared item, the position of the matching
//! element in the server's shuffled stream and a pseudonymous id
//! ([`crate::ecdh::link_id`], a hash of the doubly-masked element). The
//! server maps positions back through its shuffle ([`resolve`]). Both now
//! know the same pairs under the same ids, and nothing about the other's
//! unshared items. This is the "both parties receive the result" mode of
//! semi-honest DH-PSI (e.g. SecretFlow's `broadcast_result`); the server must
//! trust the client to report honestly, which semi-honest security assumes.
//!
//! # The waterfall
//! Meta's multi-key Private-ID ("Private-ID: Private Record Linkage with
//! Multiple Keys", Buddhavarapu et al., 2021, §3) links rows over keys in
//! priority order and resolves them one-to-one greedily. [`Waterfall`] is our
//! form of that rule, run identically on both sides:
//! at step `k`, each party offers the key-`k` values of its rows not yet
//! linked, but only values carried by exactly one such row ([`Duplicates::Unique`];
//! a value on several free rows is *ambiguous* and withheld at this step).
//! A shared value links its two rows, which are not offered again. So the
//! result is one-to-one, and equal to the plaintext rule of
//! `psi_table::waterfall_match_plain`.
//!
//! Per step each party learns, of the other: how many values it offered, and
//! which of its own offered rows were linked (so, across steps, at which key
//! each of its linked rows matched).
//!
//! With a single key, [`Duplicates::First`] and [`Duplicates::All`] offer
//! every distinct value and link the first, or every, free row carrying a
//! shared one.
//!
//! # Writing the join
//! At the end each side tells the other how many of its rows stayed unlinked
//! ([`LinkageFinish`], [`LinkageTotals`]), and both compute the rows they
//! write with [`plan_rows`]. In an aligned join a side writes a placeholder
//! row for each of the other's unlinked rows it keeps, so that count is a
//! claim that costs the receiver disk and time: it is refused above
//! [`max_unlinked_rows`] (the set-size limit), and the placeholders are
//! yielded one at a time, never stored.

use std::collections::HashSet;

pub mod bucketed;
mod join;
pub mod shard;
mod wire;

pub use join::{plan_rows, JoinType, PlannedRow, PlannedRows, Side};
pub use shard::{Shard, ShardLinks};
pub use wire::{max_unlinked_rows, LinkIds, LinkageFinish, LinkageTotals, StepRecorded};

use crate::codec::{kind, read_header, write_header, Codec, DecodeError, Reader};
use crate::ecdh::LinkId;
use crate::{Error, Item};

/// Marks a row without a usable key in [`KeyColumn::row_items`].
pub const NO_KEY: u32 = u32::MAX;

/// The client's report of which server positions matched, with their ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkResult {
    /// (position in the server's stream, id), one per shared item.
    pub pairs: Vec<(u32, LinkId)>,
}

const PAIR_LEN: usize = 4 + 16;

impl Codec for LinkResult {
    fn encode(&self, out: &mut Vec<u8>) {
        write_header(out, kind::LINK_RESULT);
        // At most u32::MAX positions exist, so the count fits.
        out.extend_from_slice(&(self.pairs.len() as u32).to_be_bytes());
        for (pos, id) in &self.pairs {
            out.extend_from_slice(&pos.to_be_bytes());
            out.extend_from_slice(id);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_header(r, kind::LINK_RESULT, "link result")?;
        let n = r.u32()? as usize;
        if n.saturating_mul(PAIR_LEN) > r.remaining() {
            return Err(DecodeError::Truncated {
                needed: n.saturating_mul(PAIR_LEN) - r.remaining(),
            });
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let pos = r.u32()?;
            let id = r.array::<16>()?;
            pairs.push((pos, id));
        }
        Ok(LinkResult { pairs })
    }
}

/// The server's side of a [`LinkResult`]: maps each position through the
/// stream order (`order[position]` = index of the item) and checks that
/// positions are in range and distinct. Returns (item index, id) pairs.
pub fn resolve(result: &LinkResult, order: &[u32]) -> Result<Vec<(u32, LinkId)>, Error> {
    let mut seen = HashSet::with_capacity(result.pairs.len());
    result
        .pairs
        .iter()
        .map(|&(pos, id)| {
            let item = *order.get(pos as usize).ok_or(DecodeError::InvalidField {
                field: "matched position",
                value: pos.into(),
            })?;
            if !seen.insert(pos) {
                return Err(Error::Decode(DecodeError::InvalidField {
                    field: "repeated matched position",
                    value: pos.into(),
                }));
            }
            Ok((item, id))
        })
        .collect()
}

/// How a step treats a value that several free rows of one side carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Withhold it at this step (the waterfall's rule).
    Unique,
    /// Offer it; a match links the first free row that carries it.
    First,
    /// Offer it; a match links every free row that carries it.
    All,
}

/// One key of a table: distinct items, and for each row which one it carries.
#[derive(Debug, Clone, Default)]
pub struct KeyColumn {
    /// Distinct items.
    pub items: Vec<Item>,
    /// Per row: index into `items`, or [`NO_KEY`].
    pub row_items: Vec<u32>,
}

/// What one party offers at one step.
#[derive(Debug, Clone)]
pub struct Offer {
    step: usize,
    /// The items offered, to give to the PSI protocol.
    pub items: Vec<Item>,
    /// For each offered item, its index in the step's [`KeyColumn::items`].
    item_index: Vec<u32>,
    /// Distinct values withheld because several free rows carry them.
    pub ambiguous: u64,
}

impl Offer {
    /// The step this offer belongs to.
    pub fn step(&self) -> usize {
        self.step
    }
}

/// What one step did, on one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepSummary {
    /// Values offered.
    pub offered: u64,
    /// Values withheld as ambiguous.
    pub ambiguous: u64,
    /// Values shared with the peer.
    pub matched: u64,
    /// Rows linked at this step.
    pub linked_rows: u64,
}

/// One linked row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The step (key index) that linked it.
    pub step: u16,
    /// The pair's id, equal on both sides.
    pub id: LinkId,
}

/// One party's state across the steps of a linkage (see the module doc).
#[derive(Debug, Clone)]
pub struct Waterfall {
    keys: Vec<KeyColumn>,
    duplicates: Duplicates,
    links: Vec<Option<Link>>,
    step: usize,
    summaries: Vec<StepSummary>,
}

impl Waterfall {
    /// Starts a linkage over `keys` (in priority order, each with one entry
    /// per row). Several keys always use [`Duplicates::Unique`].
    pub fn new(keys: Vec<KeyColumn>, duplicates: Duplicates) -> Result<Self, Error> {
        let rows = keys.first().map_or(0, |k| k.row_items.len());
        if keys.is_empty() || keys.len() > u16::MAX as usize {
            return Err(Error::Misuse("a linkage needs between 1 and 65535 keys"));
        }
        if keys.iter().any(|k| k.row_items.len() != rows) {
            return Err(Error::Misuse("every key needs one entry per row"));
        }
        if keys.iter().any(|k| {
            k.row_items
                .iter()
                .any(|&i| i != NO_KEY && i as usize >= k.items.len())
        }) {
            return Err(Error::Misuse("a row refers to an item that does not exist"));
        }
        let duplicates = if keys.len() > 1 {
            Duplicates::Unique
        } else {
            duplicates
        };
        Ok(Waterfall {
            keys,
            duplicates,
            links: vec![None; rows],
            step: 0,
            summaries: Vec::new(),
        })
    }

    /// Number of keys (steps).
    pub fn steps(&self) -> usize {
        self.keys.len()
    }

    /// The next step to run (equal to [`Waterfall::steps`] when done).
    pub fn step(&self) -> usize {
        self.step
    }

    /// Rows of the table.
    pub fn rows(&self) -> usize {
        self.links.len()
    }

    /// Per row: its link, if any.
    pub fn links(&self) -> &[Option<Link>] {
        &self.links
    }

    /// Rows linked so far.
    pub fn linked_rows(&self) -> u64 {
        self.links.iter().filter(|l| l.is_some()).count() as u64
    }

    /// What each finished step did.
    pub fn summaries(&self) -> &[StepSummary] {
        &self.summaries
    }

    /// The links and step summaries, without copying them.
    pub fn into_parts(self) -> (Vec<Option<Link>>, Vec<StepSummary>) {
        (self.links, self.summaries)
    }

    /// Per item of `key`: how many free rows carry it (saturating), in item order.
    fn free_counts(&self, key: &KeyColumn) -> Vec<u32> {
        let mut counts = vec![0u32; key.items.len()];
        for (row, &item) in key.row_items.iter().enumerate() {
            if item != NO_KEY && self.links[row].is_none() {
                let c = &mut counts[item as usize];
                *c = c.saturating_add(1);
            }
        }
        counts
    }

    /// The offer for the current step.
    pub fn offer(&self) -> Result<Offer, Error> {
        let Some(key) = self.keys.get(self.step) else {
            return Err(Error::Misuse("every step of the linkage has run"));
        };
        let counts = self.free_counts(key);
        let mut offer = Offer {
            step: self.step,
            items: Vec::new(),
            item_index: Vec::new(),
            ambiguous: 0,
        };
        for (i, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if c > 1 && self.duplicates == Duplicates::Unique {
                offer.ambiguous += 1;
                continue;
            }
            offer.items.push(key.items[i]);
            offer.item_index.push(i as u32);
        }
        Ok(offer)
    }

    /// Records the result of the current step: `matched` lists (index into
    /// `offer.items`, id) of the shared items. Advances to the next step.
    pub fn record(&mut self, offer: &Offer, matched: &[(u32, LinkId)]) -> Result<(), Error> {
        if offer.step != self.step {
            return Err(Error::Misuse("an offer of another step"));
        }
        let Some(key) = self.keys.get(self.step) else {
            return Err(Error::Misuse("every step of the linkage has run"));
        };
        let mut hit: Vec<Option<LinkId>> = vec![None; key.items.len()];
        for &(o, id) in matched {
            let item = *offer.item_index.get(o as usize).ok_or(Error::Decode(
                DecodeError::InvalidField {
                    field: "matched item",
                    value: o.into(),
                },
            ))?;
            hit[item as usize] = Some(id);
        }
        let step = self.step as u16;
        let mut linked_rows = 0;
        for (row, &item) in key.row_items.iter().enumerate() {
            if item == NO_KEY || self.links[row].is_some() {
                continue;
            }
            let Some(id) = hit[item as usize] else {
                continue;
            };
            self.links[row] = Some(Link { step, id });
            linked_rows += 1;
            if self.duplicates != Duplicates::All {
                hit[item as usize] = None;
            }
        }
        self.summaries.push(StepSummary {
            offered: offer.items.len() as u64,
            ambiguous: offer.ambiguous,
            matched: matched.len() as u64,
            linked_rows,
        });
        self.step += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8) -> Item {
        Item::from_key(&[n])
    }

    /// A key column from per-row values (0 = no key).
    fn column(values: &[u8]) -> KeyColumn {
        let mut items = Vec::new();
        let row_items = values
            .iter()
            .map(|&v| {
                if v == 0 {
                    return NO_KEY;
                }
                let it = item(v);
                match items.iter().position(|x| *x == it) {
                    Some(p) => p as u32,
                    None => {
                        items.push(it);
                        (items.len() - 1) as u32
                    }
                }
            })
            .collect();
        KeyColumn { items, row_items }
    }

    /// Runs both sides in plaintext: the shared items of each step by value.
    fn run(a: &mut Waterfall, b: &mut Waterfall) {
        while a.step() < a.steps() {
            let (oa, ob) = (a.offer().unwrap(), b.offer().unwrap());
            let mut ma = Vec::new();
            let mut mb = Vec::new();
            for (i, x) in oa.items.iter().enumerate() {
                if let Some(j) = ob.items.iter().position(|y| y == x) {
                    let id = [i as u8; 16];
                    ma.push((i as u32, id));
                    mb.push((j as u32, id));
                }
            }
            a.record(&oa, &ma).unwrap();
            b.record(&ob, &mb).unwrap();
        }
    }

    #[test]
    fn waterfall_is_one_to_one_and_withholds_ambiguous_values() {
        // Key 1: rows 0 and 1 of A share value 1 (ambiguous); row 2 matches B row 0.
        // Key 2: A row 0 and B row 1 share 7; A row 1 and B row 2 share 8.
        let mut a = Waterfall::new(
            vec![column(&[1, 1, 2, 0]), column(&[7, 8, 9, 9])],
            Duplicates::All,
        )
        .unwrap();
        let mut b = Waterfall::new(
            vec![column(&[2, 1, 0]), column(&[9, 7, 8])],
            Duplicates::All,
        )
        .unwrap();
        run(&mut a, &mut b);
        let linked_a: Vec<Option<u16>> = a.links().iter().map(|l| l.map(|l| l.step)).collect();
        assert_eq!(linked_a, vec![Some(1), Some(1), Some(0), None]);
        let linked_b: Vec<Option<u16>> = b.links().iter().map(|l| l.map(|l| l.step)).collect();
        assert_eq!(linked_b, vec![Some(0), Some(1), Some(1)]);
        // Ids agree pairwise: A row 2 with B row 0, A row 0 with B row 1.
        assert_eq!(a.links()[2].unwrap().id, b.links()[0].unwrap().id);
        assert_eq!(a.links()[0].unwrap().id, b.links()[1].unwrap().id);
        assert_eq!(a.links()[1].unwrap().id, b.links()[2].unwrap().id);
        assert_eq!(a.summaries()[0].ambiguous, 1);
        // At key 2 A's value 9 is on one free row only (row 2 is linked), so it is
        // offered; B's 9 is on a linked row and is not, so A's row 3 stays unlinked.
        assert_eq!(a.summaries()[1].ambiguous, 0);
        assert_eq!(a.summaries()[1].offered, 3);
        assert_eq!(b.summaries()[1].offered, 2);
    }

    #[test]
    fn single_key_duplicate_policies() {
        let a_rows = [5, 5, 6];
        for (policy, expect) in [
            (Duplicates::All, vec![true, true, false]),
            (Duplicates::First, vec![true, false, false]),
            (Duplicates::Unique, vec![false, false, false]),
        ] {
            let mut a = Waterfall::new(vec![column(&a_rows)], policy).unwrap();
            let mut b = Waterfall::new(vec![column(&[5, 7])], Duplicates::All).unwrap();
            run(&mut a, &mut b);
            let got: Vec<bool> = a.links().iter().map(Option::is_some).collect();
            assert_eq!(got, expect, "{policy:?}");
        }
    }

    #[test]
    fn link_result_round_trips_and_resolves() {
        let r = LinkResult {
            pairs: vec![(2, [1; 16]), (0, [2; 16])],
        };
        let back = LinkResult::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
        let order = [9u32, 8, 7];
        assert_eq!(
            resolve(&r, &order).unwrap(),
            vec![(7, [1; 16]), (9, [2; 16])]
        );
        let out_of_range = LinkResult {
            pairs: vec![(3, [0; 16])],
        };
        assert!(resolve(&out_of_range, &order).is_err());
        let repeated = LinkResult {
            pairs: vec![(1, [0; 16]), (1, [0; 16])],
        };
        assert!(resolve(&repeated, &order).is_err());
        // A count larger than the bytes that follow is refused before allocating.
        let mut bytes = r.to_bytes();
        bytes[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(LinkResult::from_bytes(&bytes).is_err());
    }

    #[test]
    fn misuse_is_an_error() {
        assert!(Waterfall::new(vec![], Duplicates::All).is_err());
        assert!(Waterfall::new(vec![column(&[1]), column(&[1, 2])], Duplicates::All).is_err());
        let mut w = Waterfall::new(vec![column(&[1])], Duplicates::All).unwrap();
        let o = w.offer().unwrap();
        assert!(w.record(&o, &[(5, [0; 16])]).is_err());
        w.record(&o, &[]).unwrap();
        assert!(w.offer().is_err());
    }
}
