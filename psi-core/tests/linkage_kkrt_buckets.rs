//! A bucketed linkage whose bucket sessions run KKRT
//! ([`psi_core::linkage::bucketed`], "KKRT buckets"), through the real KKRT
//! state machines, codec and partition, against the plaintext waterfall:
//! the client learns its shared items, sends their ids ([`LinkIds`]), and
//! the server finds its rows by recomputing the ids of its own offer.
//! Random tables of one to three keys, empty and full overlap, one bucket
//! and several, and bucket sizes around KKRT's cuckoo-table boundaries.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};

use psi_core::bucket::{fine_range, padded_size, Partition, PartitionSeed};
use psi_core::codec::Codec;
use psi_core::driver::run_kkrt;
use psi_core::linkage::bucketed::{link_id, padded_offer, BucketOffer};
use psi_core::linkage::{Duplicates, LinkIds};
use psi_core::{Item, Limits};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Per key, per row, a value (`None`: no key).
type Table = Vec<Vec<Option<u64>>>;

fn item(k: usize, v: u64) -> Item {
    Item::from_key(format!("key{k}:{v}").as_bytes())
}

/// The plaintext waterfall: at each step, the values carried by exactly one
/// free row on each side; a value on both links its two rows. Returns
/// (step, client row, server row), sorted.
fn plaintext(a: &Table, b: &Table) -> BTreeSet<(usize, u32, u32)> {
    let mut free_a = vec![true; a[0].len()];
    let mut free_b = vec![true; b[0].len()];
    let mut out = BTreeSet::new();
    let unique = |t: &Table, free: &[bool], k: usize| {
        let mut rows: HashMap<u64, Vec<u32>> = HashMap::new();
        for (r, v) in t[k].iter().enumerate() {
            if let (Some(v), true) = (v, free[r]) {
                rows.entry(*v).or_default().push(r as u32);
            }
        }
        rows.into_iter()
            .filter(|(_, r)| r.len() == 1)
            .map(|(v, r)| (v, r[0]))
            .collect::<HashMap<u64, u32>>()
    };
    for k in 0..a.len() {
        let (ua, ub) = (unique(a, &free_a, k), unique(b, &free_b, k));
        for (v, ra) in &ua {
            if let Some(rb) = ub.get(v) {
                out.insert((k, *ra, *rb));
                free_a[*ra as usize] = false;
                free_b[*rb as usize] = false;
            }
        }
    }
    out
}

/// One side's values of bucket `bucket` of `count` at key `k`, with rows.
fn bucket_values(
    t: &Table,
    k: usize,
    partition: &Partition,
    (bucket, count): (u16, u16),
) -> Vec<(Item, Vec<u32>)> {
    let fine = fine_range(bucket, count);
    let mut map: HashMap<Item, Vec<u32>> = HashMap::new();
    for (row, v) in t[k].iter().enumerate() {
        let Some(v) = v else { continue };
        let it = item(k, *v);
        if fine.contains(&partition.fine(&it)) {
            map.entry(it).or_default().push(row as u32);
        }
    }
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort();
    v
}

/// Both sides bucket by bucket, each bucket a KKRT session: returns the
/// linked (step, client row, server row), checking that both sides agree
/// on every id.
fn bucketed_kkrt(a: &Table, b: &Table, count: u16, seed: u64) -> BTreeSet<(usize, u32, u32)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut s = [0u8; 32];
    rng.fill_bytes(&mut s);
    let seed = PartitionSeed::from_bytes(s);
    let partition = Partition::new(&seed);
    let mut la: Vec<Option<(u16, [u8; 16])>> = vec![None; a[0].len()];
    let mut lb: Vec<Option<(u16, [u8; 16])>> = vec![None; b[0].len()];
    let limits = Limits::default();
    for k in 0..a.len() {
        let step = k as u16;
        let offers = |t: &Table, linked: &[Option<(u16, [u8; 16])>]| -> Vec<BucketOffer> {
            (0..count)
                .map(|bucket| {
                    let values = bucket_values(t, k, &partition, (bucket, count));
                    BucketOffer::new(
                        Duplicates::Unique,
                        values.iter().map(|(i, r)| (*i, &r[..])),
                        |r| linked[r as usize].is_some(),
                    )
                })
                .collect()
        };
        let (oas, obs) = (offers(a, &la), offers(b, &lb));
        let total = |o: &[BucketOffer]| o.iter().map(|x| x.len() as u64).sum::<u64>();
        let (ta, tb) = (total(&oas), total(&obs));
        for (bucket, (oa, ob)) in oas.iter().zip(&obs).enumerate() {
            let bucket = bucket as u16;
            let pa = oa
                .padded(padded_offer(ta, count), bucket, &mut rng)
                .unwrap();
            let pb = ob
                .padded(padded_offer(tb, count), bucket, &mut rng)
                .unwrap();
            assert_eq!(pa.len() as u64, padded_size(ta, count));
            let run = run_kkrt(&mut rng, pa.clone(), pb, &limits).unwrap();
            // The client: ids of its real shared items.
            let matched: Vec<(u32, [u8; 16])> = run
                .output
                .matched
                .iter()
                .filter(|&&i| i < oa.len())
                .map(|&i| (i as u32, link_id(&seed, step, &pa[i])))
                .collect();
            let message = LinkIds {
                ids: matched.iter().map(|&(_, id)| id).collect(),
            }
            .to_bytes();
            // The server: the message decoded, its items found by their ids.
            let ids = LinkIds::from_bytes(&message).unwrap();
            let found = ob.matched_by_id(&seed, step, &ids.ids).unwrap();
            for (r, id) in oa.links(&matched).unwrap() {
                assert!(la[r as usize].replace((step, id)).is_none());
            }
            for (r, id) in ob.links(&found).unwrap() {
                assert!(lb[r as usize].replace((step, id)).is_none());
            }
        }
    }
    let by_id: HashMap<(u16, [u8; 16]), u32> = lb
        .iter()
        .enumerate()
        .filter_map(|(r, l)| l.map(|l| (l, r as u32)))
        .collect();
    assert_eq!(
        by_id.len(),
        lb.iter().flatten().count(),
        "one server row per id"
    );
    let pairs: BTreeSet<_> = la
        .iter()
        .enumerate()
        .filter_map(|(r, l)| {
            let l = (*l)?;
            let rb = *by_id.get(&l).expect("the server holds every client id");
            Some((usize::from(l.0), r as u32, rb))
        })
        .collect();
    assert_eq!(pairs.len(), by_id.len(), "the server holds no id alone");
    pairs
}

fn random_table(rng: &mut ChaCha20Rng, keys: usize, rows: usize, range: u64) -> Table {
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
fn random_tables_link_as_the_plaintext_waterfall() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for case in 0..12u64 {
        let keys = 1 + (case % 3) as usize;
        let (na, nb) = (
            1 + rng.next_u64() as usize % 300,
            1 + rng.next_u64() as usize % 300,
        );
        let range = 20 + rng.next_u64() % 400;
        let a = random_table(&mut rng, keys, na, range);
        let b = random_table(&mut rng, keys, nb, range);
        let want = plaintext(&a, &b);
        for count in [1u16, 4] {
            assert_eq!(
                bucketed_kkrt(&a, &b, count, case),
                want,
                "case {case}: {keys} keys, {na} x {nb} rows, {count} buckets"
            );
        }
    }
}

#[test]
fn empty_full_and_boundary_overlaps() {
    // Distinct values per row: the waterfall is the plain intersection.
    let table = |range: std::ops::Range<u64>| -> Table {
        vec![
            range.clone().map(Some).collect(),
            range.map(|v| Some(v + 1_000_000)).collect(),
        ]
    };
    // Per-bucket sizes around KKRT's small cuckoo tables (4/5, 64/65 items).
    for n in [1u64, 4, 5, 64, 65, 130] {
        let a = table(0..n);
        for (b, what) in [
            (table(0..n), "full overlap"),
            (table(n..2 * n), "empty overlap"),
        ] {
            let want = plaintext(&a, &b);
            let expect = if what == "full overlap" { n } else { 0 };
            assert_eq!(want.len() as u64, expect);
            for count in [1u16, 2] {
                assert_eq!(bucketed_kkrt(&a, &b, count, n), want, "{what}, n = {n}");
            }
        }
    }
    // Nothing offered on one side: no session finds anything.
    let none: Table = vec![vec![None; 3], vec![None; 3]];
    assert!(bucketed_kkrt(&table(0..3), &none, 1, 9).is_empty());
}
