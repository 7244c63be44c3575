//! Tests of a party's bucketed linkage on disk ([`super::link_spill`],
//! [`super::link_resume`]): bucket by bucket equals the plaintext waterfall,
//! a bucket run again is undone first, and a reopened directory resumes to
//! the same links.

use std::path::{Path, PathBuf};

use super::link_spill::*;
use psi_core::bucket::PartitionSeed;
use psi_core::ecdh::LinkId;
use psi_core::linkage::bucketed::{link_id, padded_offer};
use psi_core::linkage::Duplicates;
use psi_table::linked::LINK_BYTES;
use psi_table::LinkageSpec;
use psi_table::{waterfall_match_plain, LinkageTable};
use rand::{Rng, SeedableRng};

/// A table of `rows` rows with `keys` key columns `k0..`, values drawn
/// from a small range (so ambiguous and shared values are common) or empty.
fn table(dir: &Path, name: &str, keys: usize, rows: usize, rng: &mut impl Rng) -> PathBuf {
    let names: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
    let mut text = format!("row,{}\n", names.join(","));
    let range = 1 + rows / 2;
    for r in 0..rows {
        let values: Vec<String> = (0..keys)
            .map(|_| match rng.random_range(0..6) {
                0 => String::new(),
                _ => format!("v{}", rng.random_range(0..range)),
            })
            .collect();
        text.push_str(&format!("{r},{}\n", values.join(",")));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Links bucket `bucket` of step `step` on both sides as a real run would:
/// both offers padded, their shared values matched, ids made from `seed`,
/// the bucket recorded on each side.
pub(super) fn link_bucket(
    a: &LinkSpill,
    b: &LinkSpill,
    step: u16,
    bucket: u16,
    count: u16,
    seed: &PartitionSeed,
    rng: &mut rand_chacha::ChaCha8Rng,
) {
    let (oa, ta) = a.offer(step, bucket, count).unwrap();
    let (ob, tb) = b.offer(step, bucket, count).unwrap();
    let pa = oa.padded(padded_offer(ta, count), bucket, rng).unwrap();
    let pb = ob.padded(padded_offer(tb, count), bucket, rng).unwrap();
    let (mut ma, mut mb) = (Vec::new(), Vec::new());
    for (i, x) in pa.iter().enumerate() {
        if let Some(j) = pb.iter().position(|y| y == x) {
            let id = link_id(seed, step, x);
            ma.push((i as u32, id));
            mb.push((j as u32, id));
        }
    }
    a.record(step, bucket, count, &oa, &ma).unwrap();
    b.record(step, bucket, count, &ob, &mb).unwrap();
}

/// Runs up to `limit` buckets not yet recorded on `a`, in order, on both
/// sides, matching by value (ids as a real run makes them); returns how many ran.
fn run_buckets(a: &LinkSpill, b: &LinkSpill, count: u16, limit: usize) -> usize {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let seed = PartitionSeed::from_bytes([9; 32]);
    let mut ran = 0;
    for step in 0..a.steps() as u16 {
        for bucket in 0..count {
            if a.is_recorded(step, bucket) {
                continue;
            }
            if ran == limit {
                return ran;
            }
            ran += 1;
            link_bucket(a, b, step, bucket, count, &seed, &mut rng);
        }
    }
    ran
}

/// The linked pairs (a row, b row, key) of two complete sides, sorted.
fn pairs(a: &LinkSpill, b: &LinkSpill) -> Vec<(usize, usize, usize)> {
    assert!(a.complete() && b.complete());
    let read = |s: &LinkSpill| {
        let mut by_id = std::collections::HashMap::new();
        for f in s.link_files() {
            let step: usize = f.file_name().unwrap().to_string_lossy()[1..4]
                .parse()
                .unwrap();
            for r in std::fs::read(&f).unwrap().chunks_exact(LINK_BYTES) {
                let row = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
                by_id.insert(r[4..].to_vec(), (row, step));
            }
        }
        by_id
    };
    let (la, lb) = (read(a), read(b));
    let mut pairs: Vec<(usize, usize, usize)> = la
        .iter()
        .map(|(id, &(ra, step))| (ra, lb[id].0, step))
        .collect();
    pairs.sort();
    assert_eq!(la.len(), lb.len());
    pairs
}

/// Runs both sides bucket by bucket: the linked pairs.
fn bucketed(a: &LinkSpill, b: &LinkSpill, count: u16) -> Vec<(usize, usize, usize)> {
    run_buckets(a, b, count, usize::MAX);
    pairs(a, b)
}

/// Every link file's bytes, by name.
fn link_bytes(s: &LinkSpill) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = s
        .link_files()
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(f).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_reopened_linkage_resumes_to_the_same_links_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let pa = table(dir.path(), "a.csv", 3, 300, &mut rng);
    let pb = table(dir.path(), "b.csv", 3, 400, &mut rng);
    let spec = LinkageSpec::parse("k0;k1;k2").unwrap();
    let seed = PartitionSeed::from_bytes([4; 32]);
    let count = 8u16;
    let make = |p: &Path, d: &str| {
        LinkSpill::create(
            p,
            &spec,
            Duplicates::Unique,
            &seed,
            &dir.path().join(d),
            |_| {},
        )
        .unwrap()
        .0
    };
    let reopen = |d: &str| {
        LinkSpill::open_sharded(&dir.path().join(d), &spec, Duplicates::Unique, None)
            .unwrap()
            .unwrap()
            .0
    };
    // Uninterrupted.
    let (a, b) = (make(&pa, "a0"), make(&pb, "b0"));
    let want = bucketed(&a, &b, count);
    let (want_a, want_b) = (link_bytes(&a), link_bytes(&b));
    let (sum_a, sum_b) = (a.summaries(), b.summaries());
    // Interrupted after 0, 5, 8 (a whole step) and 13 more buckets; each
    // time both sides are reopened from their directories.
    let (a, b) = (make(&pa, "a1"), make(&pb, "b1"));
    assert!(
        LinkSpill::open_sharded(
            &dir.path().join("a1"),
            &LinkageSpec::parse("k0;k2;k1").unwrap(),
            Duplicates::Unique,
            None
        )
        .unwrap()
        .is_none(),
        "other keys are another linkage"
    );
    drop((a, b));
    let mut done = 0;
    for limit in [0, 5, 3, 13] {
        let (a, b) = (reopen("a1"), reopen("b1"));
        assert_eq!(a.recorded(), done as u64);
        done += run_buckets(&a, &b, count, limit);
    }
    let (a, b) = (reopen("a1"), reopen("b1"));
    assert_eq!(a.recorded(), 21);
    assert_eq!(a.unfinished_before(2), None);
    assert_eq!(a.unfinished_before(3), Some(2));
    run_buckets(&a, &b, count, usize::MAX);
    assert_eq!(pairs(&a, &b), want);
    assert_eq!(link_bytes(&a), want_a, "the same link files, byte for byte");
    assert_eq!(link_bytes(&b), want_b);
    assert_eq!((a.summaries(), b.summaries()), (sum_a, sum_b));
    assert_eq!(a.linked_rows(), reopen("a1").linked_rows());

    // A bucket of step 1 asked for again undoes it and every bucket of
    // step 2; running them again gives the same files.
    let (a, b) = (reopen("a1"), reopen("b1"));
    let before = b.recorded();
    b.offer(1, 3, count).unwrap();
    assert_eq!(b.recorded(), before - 1 - u64::from(count));
    assert_eq!(b.unfinished_before(2), Some(1));
    // The other side starts over: every bucket the server still holds is
    // undone as it is asked for again.
    a.start_over().unwrap();
    assert_eq!(a.recorded(), 0);
    let a = reopen("a1");
    assert_eq!(a.recorded(), 0, "the start over is kept");
    assert_eq!(a.linked_rows(), 0);
    run_buckets(&a, &b, count, usize::MAX);
    assert_eq!(pairs(&a, &b), want);
    assert_eq!((link_bytes(&a), link_bytes(&b)), (want_a, want_b));
}

#[test]
fn a_damaged_linkage_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let pa = table(dir.path(), "a.csv", 2, 60, &mut rng);
    let spec = LinkageSpec::parse("k0;k1").unwrap();
    let seed = PartitionSeed::from_bytes([1; 32]);
    let d = dir.path().join("s");
    let (a, _) = LinkSpill::create(&pa, &spec, Duplicates::Unique, &seed, &d, |_| {}).unwrap();
    a.offer(0, 0, 2).unwrap();
    drop(a);
    // A link file of step 1 while step 0 has buckets to run.
    std::fs::write(d.join("links").join("s001-b000.bin"), []).unwrap();
    let e = LinkSpill::open_sharded(&d, &spec, Duplicates::Unique, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("linkage.json") && e.contains("step 0 is not complete"),
        "{e}"
    );
    std::fs::remove_file(d.join("links").join("s001-b000.bin")).unwrap();
    std::fs::write(d.join("links").join(".psi-tmp"), b"x").unwrap();
    let (a, _) = LinkSpill::open_sharded(&d, &spec, Duplicates::Unique, None)
        .unwrap()
        .unwrap();
    assert_eq!(a.recorded(), 0);
    assert!(
        !d.join("links").join(".psi-tmp").exists(),
        "temporary files are swept"
    );
    // A spill cut short (no linkage.json) is made anew.
    std::fs::remove_file(d.join("linkage.json")).unwrap();
    assert!(LinkSpill::open_sharded(&d, &spec, Duplicates::Unique, None)
        .unwrap()
        .is_none());
}

#[test]
fn bucketed_linkage_equals_the_plaintext_waterfall() {
    use psi_core::bucket::valid_count;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut case = 0;
    for keys in 1..=3usize {
        for (na, nb) in [(1, 1), (1, 40), (300, 200), (257, 513)] {
            case += 1;
            let pa = table(dir.path(), &format!("a{case}.csv"), keys, na, &mut rng);
            let pb = table(dir.path(), &format!("b{case}.csv"), keys, nb, &mut rng);
            let text: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
            let spec = LinkageSpec::parse(&text.join(";")).unwrap();
            let (ta, tb) = (
                LinkageTable::read(&pa, &spec).unwrap(),
                LinkageTable::read(&pb, &spec).unwrap(),
            );
            let mut want: Vec<(usize, usize, usize)> = waterfall_match_plain(&ta, &tb, &spec)
                .unwrap()
                .pairs
                .iter()
                .map(|p| (p.a_row, p.b_row, p.key))
                .collect();
            want.sort();
            // Each case one bucket count (spills are slow to make in a
            // debug build: 256 files per key, each synced).
            {
                let count = [1u16, 4, 256, 32][case % 4];
                assert!(valid_count(count));
                let seed = PartitionSeed::from_bytes([count as u8; 32]);
                let make = |p: &Path, d: &str| {
                    LinkSpill::create(
                        p,
                        &spec,
                        Duplicates::Unique,
                        &seed,
                        &dir.path().join(format!("{d}{case}-{count}")),
                        |_| {},
                    )
                    .unwrap()
                    .0
                };
                let (a, b) = (make(&pa, "sa"), make(&pb, "sb"));
                assert_eq!(
                    bucketed(&a, &b, count),
                    want,
                    "{keys} keys, {na} x {nb} rows, {count} buckets"
                );
            }
        }
    }
}

#[test]
fn a_bucket_run_again_is_undone_first_and_steps_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let pa = table(dir.path(), "a.csv", 2, 50, &mut rng);
    let spec = LinkageSpec::parse("k0;k1").unwrap();
    let seed = PartitionSeed::from_bytes([1; 32]);
    let (a, _) = LinkSpill::create(
        &pa,
        &spec,
        Duplicates::Unique,
        &seed,
        &dir.path().join("s"),
        |_| {},
    )
    .unwrap();
    let (o, _) = a.offer(0, 0, 2).unwrap();
    let e = a.offer(1, 0, 2).unwrap_err().to_string();
    assert!(e.contains("step 0 has buckets to run"), "{e}");
    assert!(a.offer(0, 0, 4).is_err(), "the bucket count is fixed");
    let matched: Vec<(u32, LinkId)> = (0..o.len() as u32).map(|i| (i, [i as u8; 16])).collect();
    let linked = a.record(0, 0, 2, &o, &matched).unwrap();
    assert_eq!(a.linked_rows(), linked);
    // The answer was lost: the bucket runs again, from the same offer.
    let (again, _) = a.offer(0, 0, 2).unwrap();
    assert_eq!(again.items, o.items);
    assert_eq!(a.linked_rows(), 0);
    assert_eq!(a.summaries()[0].matched, 0);
    a.record(0, 0, 2, &again, &matched).unwrap();
    assert!(
        a.record(0, 0, 2, &again, &matched).is_err(),
        "recorded once"
    );
    assert_eq!(a.linked_rows(), linked);
}
