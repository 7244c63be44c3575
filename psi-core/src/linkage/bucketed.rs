//! The waterfall ([`super::Waterfall`]) bucket by bucket, for linkages larger
//! than memory.
//!
//! # Why a step splits into buckets
//! The rule of step `k` is a rule per key-`k` value `v`: offer `v` if exactly
//! one still-free row carries it ([`Duplicates::Unique`]; with one key,
//! [`Duplicates::First`] and [`Duplicates::All`] offer any `v` some free row
//! carries), and when both sides offered `v`, link the row(s) carrying it. Whether `v` is
//! offered depends only on the rows that carry `v`, and linking changes only
//! those rows. Both parties put every key-`k` value in a bucket by the run's
//! keyed partition ([`crate::bucket::Partition`]), so equal values land in
//! the same bucket on both sides, and the per-bucket intersections are
//! exactly the step's intersection. A row carries one key-`k` value, so it
//! takes part in one bucket of step `k`: the buckets of a step touch disjoint
//! rows, and running them one after the other (in any order) gives the same
//! links as the whole step at once. The only state that crosses buckets is
//! which rows are linked, one bit per row of each party (each keeps its own).
//!
//! # What the sizes reveal
//! In memory, a step's session reveals each party's offer size `m_k`. Here
//! every bucket session of step `k` is padded with random dummy items to
//! [`padded_offer`]`(m_k, count)` ([`crate::bucket::padded_size`]), a public
//! function of `m_k` and the bucket count; dummies never match (2^-256 per
//! pair). Because the offered values are fixed by the data and the earlier
//! steps (the links do not depend on the partition), a bucket's real offer is
//! binomial around `m_k / count`, and the bound fails with probability below
//! 2^-45 ([`crate::Error::BucketOverflow`], never a larger session). So the
//! peer learns `m_k` (rounded into the padded size), as in memory, and the
//! bucket count, a function of both row counts, which the linkage's finish
//! ([`super::LinkageFinish`], [`super::LinkageTotals`]) reveals anyway.
//!
//! # Link ids
//! A link's id is [`link_id`] of the run's partition seed, the step and the
//! shared item: SHA-256 under a domain-separation tag, truncated to 128 bits.
//! The client computes it for each shared item of a bucket and sends it with
//! the bucket's result, as in memory; the server records what it is sent.
//! Unlike the in-memory id ([`crate::ecdh::link_id`], a hash of the session
//! and the doubly-masked element) it does not depend on the bucket session's
//! ephemeral ECDH keys, so a bucket run again (after a crash of either party)
//! gives every link the id it had: the result of a resumed run is the same,
//! byte for byte, as an uninterrupted run of the same seed. Distinct items get
//! distinct ids (a collision has probability 2^-128 per pair), so a value
//! shared at step `k` is one link, as in memory.
//!
//! What this changes: the seed is known to both parties, so either can
//! compute the id of a key value it holds. Ids appear only on linked rows,
//! whose key values both parties hold already, so the id tells neither
//! party anything new; to anyone without the seed (it derives from both
//! parties' nonces, sent inside the authenticated channel) an id is a
//! pseudorandom label, as before. Ids are fresh per run (per seed), and
//! "the same result" as an in-memory linkage means: the same pairs of rows
//! linked, at the same steps, and each side's output the bytes the in-memory
//! writer makes from those links ([`plan_rows`](super::plan_rows)).
//!
//! # KKRT buckets
//! Because an id depends only on the seed, the step and the item, a bucket
//! session needs no element both parties hold in masked form: any PSI in
//! which the client learns which of its offered items are shared serves.
//! With KKRT ([`crate::kkrt`]) the client (the OPRF receiver) learns exactly
//! that, and the server (the sender) learns nothing in the session itself;
//! the client then sends the ids of its shared items ([`super::LinkIds`]),
//! and the server recomputes the id of each item it offered in the bucket
//! and links the rows of those it is sent ([`BucketOffer::matched_by_id`]).
//! What the server learns is what an ECDH bucket with its result shared
//! tells it: which of its offered items are shared (their ids, which it can
//! compute from its own items). An id it does not recognise, or more ids
//! than it offered, is the client's error; its memory is bounded by its own
//! offer. As with ECDH the server trusts the client to report honestly
//! (semi-honest); a client that lies can make the server link rows that did
//! not match (an id of a value it guessed the server holds), and the
//! server's answer (an unknown id refused, or the count of rows linked)
//! tells it whether any value of its choice is in the bucket's offer: up to
//! as many probes per bucket as the server offered, beyond its own offer,
//! which ECDH buckets (positions of masked elements) do not allow.
//! Padding and the bucket count are the same as with ECDH, so sizes reveal
//! the same.
//!
//! # Resume
//! Running a bucket again is the same computation on the same inputs: the
//! offer of bucket `b` at step `k` depends only on the data and the links
//! of steps before `k`, which are kept on disk by both parties, and each
//! party pads it to the same public size. The repeated session uses fresh
//! ECDH keys (or fresh KKRT base OTs and OT extension) and fresh random
//! dummies; what each party receives is then the
//! same function of the same inputs as the first time (the peer's padded
//! size, the shared items of the bucket, the id of each), under independent
//! masks, so a redone bucket tells nobody anything a single run of it does
//! not. A party must never redo a bucket with other inputs: the callers
//! check the input files' digests and the configuration before resuming,
//! and a bucket asked for again is first undone, with every bucket of the
//! later steps (whose offers depended on it).

use sha2::{Digest, Sha256};

use crate::bucket::PartitionSeed;
use crate::ecdh::LinkId;
use crate::{bucket, Error, Item};

use super::Duplicates;

/// The duplicates policy a linkage of `keys` keys runs: several keys always
/// use [`Duplicates::Unique`] (as [`super::Waterfall::new`] does).
pub fn policy(keys: usize, duplicates: Duplicates) -> Duplicates {
    if keys > 1 {
        Duplicates::Unique
    } else {
        duplicates
    }
}

/// The size every bucket session of a step is padded to, when the side
/// offers `offered` values at that step over `count` buckets.
pub fn padded_offer(offered: u64, count: u16) -> u64 {
    bucket::padded_size(offered, count)
}

/// The id of the link a bucketed linkage with partition `seed` makes of the
/// shared `item` at `step` (see the module doc).
pub fn link_id(seed: &PartitionSeed, step: u16, item: &Item) -> LinkId {
    let mut h = Sha256::new();
    h.update(b"psi/bucketed-link-id/v1\0");
    h.update(seed.as_bytes());
    h.update(step.to_be_bytes());
    h.update(item.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    id
}

/// What one party offers in one bucket of one step.
#[derive(Debug, Clone, Default)]
pub struct BucketOffer {
    /// The offered values, in the order they were given (unpadded).
    pub items: Vec<Item>,
    /// `rows[starts[i]..starts[i + 1]]`: the rows a match of `items[i]` links.
    rows: Vec<u32>,
    starts: Vec<u32>,
    /// Distinct values withheld because several free rows carry them.
    pub ambiguous: u64,
}

impl BucketOffer {
    /// The offer of one bucket: `values` gives each distinct key value of the
    /// bucket with the rows that carry it (ascending), `linked(row)` whether a
    /// row is already linked. The rule of [`super::Waterfall::offer`].
    pub fn new<'a>(
        duplicates: Duplicates,
        values: impl IntoIterator<Item = (Item, &'a [u32])>,
        linked: impl Fn(u32) -> bool,
    ) -> Self {
        let mut offer = BucketOffer {
            starts: vec![0],
            ..BucketOffer::default()
        };
        for (item, rows) in values {
            let before = offer.rows.len();
            offer
                .rows
                .extend(rows.iter().copied().filter(|&r| !linked(r)));
            let free = offer.rows.len() - before;
            let keep = match (free, duplicates) {
                (0, _) => false,
                (1, _) => true,
                (_, Duplicates::Unique) => {
                    offer.ambiguous += 1;
                    false
                }
                (_, Duplicates::First) => {
                    offer.rows.truncate(before + 1);
                    true
                }
                (_, Duplicates::All) => true,
            };
            if keep {
                offer.items.push(item);
                offer.starts.push(offer.rows.len() as u32);
            } else {
                offer.rows.truncate(before);
            }
        }
        offer
    }

    /// Values offered.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is offered.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The offered items padded to `size` with random dummies (offered
    /// values first, so an index below [`Self::len`] is a real value).
    pub fn padded<R: rand_core::RngCore + rand_core::CryptoRng>(
        &self,
        size: u64,
        bucket: u16,
        rng: &mut R,
    ) -> Result<Vec<Item>, Error> {
        let mut items = self.items.clone();
        bucket::pad(&mut items, size, bucket, rng)?;
        Ok(items)
    }

    /// The server's side of a KKRT bucket's result ([`super::LinkIds`]): the
    /// (index, id) of each offered item whose id ([`link_id`] of `seed`,
    /// `step` and the item) the client sent, in the order sent, for
    /// [`Self::links`]. More ids than offered items, or an id that names
    /// none of them (a dummy never has one: its item is random and unknown
    /// to the client), is the peer's error. Memory is bounded by our own
    /// offer, never by the peer's count.
    pub fn matched_by_id(
        &self,
        seed: &PartitionSeed,
        step: u16,
        ids: &[LinkId],
    ) -> Result<Vec<(u32, LinkId)>, Error> {
        if ids.len() > self.items.len() {
            return Err(Error::Decode(crate::codec::DecodeError::TooLarge {
                field: "the peer's count of link ids",
                value: ids.len() as u64,
                limit: self.items.len() as u64,
            }));
        }
        let mut ours: Vec<(LinkId, u32)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (link_id(seed, step, item), i as u32))
            .collect();
        ours.sort_unstable();
        ids.iter()
            .enumerate()
            .map(|(n, id)| {
                let at = ours
                    .binary_search_by(|(ours, _)| ours.cmp(id))
                    .map_err(|_| Error::UnknownLinkId { index: n as u64 })?;
                Ok((ours[at].1, *id))
            })
            .collect()
    }

    /// The links a bucket's result makes: `matched` lists (index into the
    /// padded items, id) of the shared items. A dummy's index (at or past
    /// [`Self::len`]) is skipped: dummies match with probability 2^-256, and
    /// a peer's claim that one did is never trusted. A repeated index is an
    /// error. Returns (row, id) pairs, rows ascending.
    pub fn links(&self, matched: &[(u32, LinkId)]) -> Result<Vec<(u32, LinkId)>, Error> {
        let mut seen = vec![false; self.items.len()];
        let mut out = Vec::with_capacity(matched.len());
        for &(i, id) in matched {
            let Some(s) = seen.get_mut(i as usize) else {
                continue;
            };
            if std::mem::replace(s, true) {
                return Err(Error::Decode(crate::codec::DecodeError::InvalidField {
                    field: "repeated matched item",
                    value: i.into(),
                }));
            }
            let (a, b) = (self.starts[i as usize], self.starts[i as usize + 1]);
            out.extend(self.rows[a as usize..b as usize].iter().map(|&r| (r, id)));
        }
        out.sort_unstable_by_key(|&(r, _)| r);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{KeyColumn, Link, Waterfall, NO_KEY};
    use super::*;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn item(k: usize, v: u64) -> Item {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&v.to_le_bytes());
        b[8] = k as u8;
        Item::from_key(&b)
    }

    /// Per key, per row, a value (`None`: no key).
    type Table = Vec<Vec<Option<u64>>>;

    fn columns(t: &Table) -> Vec<KeyColumn> {
        t.iter()
            .enumerate()
            .map(|(k, col)| {
                let mut items: Vec<Item> = Vec::new();
                let mut index = std::collections::HashMap::new();
                let row_items = col
                    .iter()
                    .map(|v| match v {
                        None => NO_KEY,
                        Some(v) => *index.entry(*v).or_insert_with(|| {
                            items.push(item(k, *v));
                            items.len() as u32 - 1
                        }),
                    })
                    .collect();
                KeyColumn { items, row_items }
            })
            .collect()
    }

    /// Both sides in memory, matching by value (id: the item's first bytes).
    fn in_memory(a: &Table, b: &Table, d: Duplicates) -> (Vec<Option<Link>>, Vec<Option<Link>>) {
        let mut wa = Waterfall::new(columns(a), d).unwrap();
        let mut wb = Waterfall::new(columns(b), d).unwrap();
        while wa.step() < wa.steps() {
            let (oa, ob) = (wa.offer().unwrap(), wb.offer().unwrap());
            let (mut ma, mut mb) = (Vec::new(), Vec::new());
            for (i, x) in oa.items.iter().enumerate() {
                if let Some(j) = ob.items.iter().position(|y| y == x) {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&x.as_bytes()[..16]);
                    ma.push((i as u32, id));
                    mb.push((j as u32, id));
                }
            }
            wa.record(&oa, &ma).unwrap();
            wb.record(&ob, &mb).unwrap();
        }
        (wa.into_parts().0, wb.into_parts().0)
    }

    /// The values of one bucket of key `k`, sorted, with their rows.
    fn bucket_values(t: &Table, k: usize, bucket: u64, count: u64) -> Vec<(Item, Vec<u32>)> {
        let mut map: std::collections::BTreeMap<Item, Vec<u32>> = Default::default();
        for (row, v) in t[k].iter().enumerate() {
            let Some(v) = v else { continue };
            let it = item(k, *v);
            if u64::from(it.as_bytes()[31]) % count == bucket {
                map.entry(it).or_default().push(row as u32);
            }
        }
        map.into_iter().collect()
    }

    /// Both sides bucket by bucket, with the links on each side.
    fn bucketed(
        a: &Table,
        b: &Table,
        d: Duplicates,
        count: u64,
    ) -> (Vec<Option<Link>>, Vec<Option<Link>>) {
        let d = policy(a.len(), d);
        let mut la: Vec<Option<Link>> = vec![None; a.first().map_or(0, Vec::len)];
        let mut lb: Vec<Option<Link>> = vec![None; b.first().map_or(0, Vec::len)];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for k in 0..a.len() {
            for bucket in 0..count {
                let va = bucket_values(a, k, bucket, count);
                let vb = bucket_values(b, k, bucket, count);
                let oa = BucketOffer::new(d, va.iter().map(|(i, r)| (*i, &r[..])), |r| {
                    la[r as usize].is_some()
                });
                let ob = BucketOffer::new(d, vb.iter().map(|(i, r)| (*i, &r[..])), |r| {
                    lb[r as usize].is_some()
                });
                let pa = oa.padded(oa.len() as u64 + 3, 0, &mut rng).unwrap();
                let pb = ob.padded(ob.len() as u64 + 2, 0, &mut rng).unwrap();
                let (mut ma, mut mb) = (Vec::new(), Vec::new());
                for (i, x) in pa.iter().enumerate() {
                    if let Some(j) = pb.iter().position(|y| y == x) {
                        let mut id = [0u8; 16];
                        id.copy_from_slice(&x.as_bytes()[..16]);
                        ma.push((i as u32, id));
                        mb.push((j as u32, id));
                    }
                }
                // A dummy index claimed by the peer is skipped.
                mb.push((pb.len() as u32 - 1, [9; 16]));
                for (r, id) in oa.links(&ma).unwrap() {
                    la[r as usize] = Some(Link { step: k as u16, id });
                }
                for (r, id) in ob.links(&mb).unwrap() {
                    lb[r as usize] = Some(Link { step: k as u16, id });
                }
            }
        }
        (la, lb)
    }

    fn random_table(rng: &mut ChaCha8Rng, keys: usize, rows: usize, range: u64) -> Table {
        (0..keys)
            .map(|_| {
                (0..rows)
                    .map(|_| match rng.next_u64() % 8 {
                        0 => None,
                        _ => Some(rng.next_u64() % range),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn bucket_by_bucket_equals_the_whole_step() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..300 {
            let keys = 1 + case % 3;
            let (na, nb) = (rng.next_u64() as usize % 40, rng.next_u64() as usize % 40);
            // Small ranges: many ambiguous values and shared ones.
            let range = 1 + rng.next_u64() % 30;
            let a = random_table(&mut rng, keys, na, range);
            let b = random_table(&mut rng, keys, nb, range);
            for d in [Duplicates::Unique, Duplicates::First, Duplicates::All] {
                let want = in_memory(&a, &b, d);
                for count in [1, 2, 7, 64] {
                    assert_eq!(
                        bucketed(&a, &b, d, count),
                        want,
                        "case {case}, {keys} keys, {d:?}, {count} buckets"
                    );
                }
            }
        }
    }

    #[test]
    fn link_ids_depend_on_seed_step_and_item_only() {
        let (s1, s2) = (
            PartitionSeed::from_bytes([1; 32]),
            PartitionSeed::from_bytes([2; 32]),
        );
        let (x, y) = (item(0, 1), item(0, 2));
        assert_eq!(link_id(&s1, 0, &x), link_id(&s1, 0, &x));
        assert_ne!(link_id(&s1, 0, &x), link_id(&s2, 0, &x));
        assert_ne!(link_id(&s1, 0, &x), link_id(&s1, 1, &x));
        assert_ne!(link_id(&s1, 0, &x), link_id(&s1, 0, &y));
    }

    #[test]
    fn ids_find_their_items_and_a_stranger_is_refused() {
        let seed = PartitionSeed::from_bytes([4; 32]);
        let rows: Vec<[u32; 1]> = (0..5).map(|r| [r * 10]).collect();
        let o = BucketOffer::new(
            Duplicates::Unique,
            (0..5).map(|v| (item(1, v), &rows[v as usize][..])),
            |_| false,
        );
        let id = |v| link_id(&seed, 1, &item(1, v));
        let got = o.matched_by_id(&seed, 1, &[id(3), id(0)]).unwrap();
        assert_eq!(got, vec![(3, id(3)), (0, id(0))]);
        assert_eq!(
            o.links(&got).unwrap(),
            vec![(0, id(0)), (30, id(3))],
            "rows ascending"
        );
        assert_eq!(o.matched_by_id(&seed, 1, &[]).unwrap(), vec![]);
        // Another item, another step's id, another seed's: none is ours.
        let other = PartitionSeed::from_bytes([5; 32]);
        for stranger in [
            id(7),
            link_id(&seed, 0, &item(1, 2)),
            link_id(&other, 1, &item(1, 2)),
        ] {
            assert_eq!(
                o.matched_by_id(&seed, 1, &[id(1), stranger]),
                Err(Error::UnknownLinkId { index: 1 })
            );
        }
        // More ids than we offered: refused before any lookup.
        let many = vec![id(0); 6];
        let e = o.matched_by_id(&seed, 1, &many).unwrap_err();
        assert!(e.to_string().contains("above the limit of 5"), "{e}");
        // The same id twice is caught by `links`.
        let twice = o.matched_by_id(&seed, 1, &[id(2), id(2)]).unwrap();
        assert!(o.links(&twice).is_err());
    }

    #[test]
    fn a_repeated_index_is_an_error() {
        let rows = [3u32];
        let o = BucketOffer::new(Duplicates::Unique, [(item(0, 1), &rows[..])], |_| false);
        assert_eq!(o.len(), 1);
        assert!(o.links(&[(0, [1; 16]), (0, [1; 16])]).is_err());
        assert_eq!(o.links(&[(0, [1; 16])]).unwrap(), vec![(3, [1; 16])]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(matches!(
            o.padded(0, 5, &mut rng),
            Err(Error::BucketOverflow { bucket: 5, .. })
        ));
    }
}
