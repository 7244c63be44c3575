//! Tests of sharded bucketed linkages in one process ([`super::link_meet`],
//! [`super::link_shard`]): W worker pairs on threads, each worker with its
//! own spill, meeting its party's workers after each step, link the pairs
//! of one machine's run and of the plaintext waterfall, with the same step
//! summaries; a worker reopened from its directory mid-run resumes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::link_shard::{run_tag, Barrier};
use super::link_spill::LinkSpill;
use super::link_tests::link_bucket;
use psi_core::bucket::PartitionSeed;
use psi_core::linkage::{Duplicates, Shard, Side, StepSummary};
use psi_table::linked::LINK_BYTES;
use psi_table::{waterfall_match_plain, LinkageSpec, LinkageTable};
use rand::{Rng, SeedableRng};

fn table(path: &Path, rows: usize, rng: &mut impl Rng) {
    let mut text = String::from("row,k0,k1\n");
    for r in 0..rows {
        let mut v = || match rng.random_range(0..6) {
            0 => String::new(),
            _ => format!("v{}", rng.random_range(0..rows / 2 + 1)),
        };
        let (a, b) = (v(), v());
        text.push_str(&format!("{r},{a},{b}\n"));
    }
    std::fs::write(path, text).unwrap();
}

const SEED: [u8; 32] = [6; 32];

/// Worker `i` of `w` of one side: its spill (made, or reopened from `dir`).
fn worker(input: &Path, dir: &Path, shards: &Path, side: Side, i: u16, w: u16) -> LinkSpill {
    let spec = LinkageSpec::parse("k0;k1").unwrap();
    let seed = PartitionSeed::from_bytes(SEED);
    let barrier = (w > 1).then(|| {
        let run = run_tag(side, &seed, "digest", "keys", w);
        let shard = Shard::new(i, w).unwrap();
        Barrier::new(shards, shard, run, Duration::from_secs(30))
    });
    if let Some((s, _)) =
        LinkSpill::open_sharded(dir, &spec, Duplicates::Unique, barrier.clone()).unwrap()
    {
        return s;
    }
    let (s, _) = LinkSpill::create(input, &spec, Duplicates::Unique, &seed, dir, |_| {}).unwrap();
    s.sharded(barrier)
}

/// Runs worker pair (a, b): its buckets of every step, meeting between
/// steps; stops after `limit` buckets (a crash) or at the end.
fn run_pair(a: &LinkSpill, b: &LinkSpill, count: u16, limit: usize) -> bool {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let seed = PartitionSeed::from_bytes(SEED);
    let mut ran = 0;
    for step in 0..a.steps() as u16 {
        a.settle(step, count).unwrap();
        b.settle(step, count).unwrap();
        for bucket in (0..count).filter(|&x| a.owns(x)) {
            if a.is_recorded(step, bucket) {
                continue;
            }
            if ran == limit {
                return false;
            }
            ran += 1;
            link_bucket(a, b, step, bucket, count, &seed, &mut rng);
        }
    }
    a.settle_all().unwrap();
    b.settle_all().unwrap();
    assert!(a.complete() && b.complete());
    true
}

/// (row, step) by id, over every worker's link files of one side.
fn links(spills: &[&LinkSpill]) -> std::collections::HashMap<Vec<u8>, (usize, usize)> {
    let mut by_id = std::collections::HashMap::new();
    for s in spills {
        for f in s.link_files() {
            let step: usize = f.file_name().unwrap().to_string_lossy()[1..4]
                .parse()
                .unwrap();
            for r in std::fs::read(&f).unwrap().chunks_exact(LINK_BYTES) {
                let row = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
                assert!(by_id.insert(r[4..].to_vec(), (row, step)).is_none());
            }
        }
    }
    by_id
}

fn pairs(a: &[&LinkSpill], b: &[&LinkSpill]) -> Vec<(usize, usize, usize)> {
    let (la, lb) = (links(a), links(b));
    assert_eq!(la.len(), lb.len());
    let mut p: Vec<_> = la
        .iter()
        .map(|(id, &(ra, step))| (ra, lb[id].0, step))
        .collect();
    p.sort();
    p
}

fn summaries(s: &LinkSpill) -> Vec<(u64, u64, u64, u64)> {
    s.summaries()
        .iter()
        .map(|x: &StepSummary| (x.offered, x.ambiguous, x.matched, x.linked_rows))
        .collect()
}

#[test]
fn three_worker_pairs_link_as_one_machine_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let (pa, pb) = (d.join("a.csv"), d.join("b.csv"));
    table(&pa, 600, &mut rng);
    table(&pb, 700, &mut rng);
    let count = 8u16;

    // One machine.
    let (a, b) = (
        worker(&pa, &d.join("one-a"), d, Side::Client, 0, 1),
        worker(&pb, &d.join("one-b"), d, Side::Server, 0, 1),
    );
    assert!(run_pair(&a, &b, count, usize::MAX));
    let whole = pairs(&[&a], &[&b]);
    let spec = LinkageSpec::parse("k0;k1").unwrap();
    let (ta, tb) = (
        LinkageTable::read(&pa, &spec).unwrap(),
        LinkageTable::read(&pb, &spec).unwrap(),
    );
    let mut plain: Vec<_> = waterfall_match_plain(&ta, &tb, &spec)
        .unwrap()
        .pairs
        .iter()
        .map(|p| (p.a_row, p.b_row, p.key))
        .collect();
    plain.sort();
    assert_eq!(whole, plain);
    assert!(whole.iter().any(|p| p.2 == 1), "step 2 links rows too");

    // Three pairs on threads; worker 1 "crashes" after two buckets and is
    // reopened from its directories.
    let w = 3u16;
    let (sa, sb) = (d.join("shards-a"), d.join("shards-b"));
    let dirs: Vec<(PathBuf, PathBuf)> = (0..w)
        .map(|i| (d.join(format!("a{i}")), d.join(format!("b{i}"))))
        .collect();
    std::thread::scope(|scope| {
        for i in 0..w {
            let (da, db) = &dirs[usize::from(i)];
            let (pa, pb, sa, sb) = (&pa, &pb, &sa, &sb);
            scope.spawn(move || {
                let a = worker(pa, da, sa, Side::Client, i, w);
                let b = worker(pb, db, sb, Side::Server, i, w);
                if i == 1 {
                    assert!(!run_pair(&a, &b, count, 4), "stopped in step 2");
                    drop((a, b));
                    let a = worker(pa, da, sa, Side::Client, i, w);
                    let b = worker(pb, db, sb, Side::Server, i, w);
                    assert_eq!(a.recorded(), 4, "resumed");
                    assert!(run_pair(&a, &b, count, usize::MAX));
                } else {
                    assert!(run_pair(&a, &b, count, usize::MAX));
                }
            });
        }
    });
    // Reopened once more, as a finished worker would be: every worker holds
    // the whole bitmap and the whole summaries.
    let a: Vec<LinkSpill> = (0..w)
        .map(|i| worker(&pa, &dirs[usize::from(i)].0, &sa, Side::Client, i, w))
        .collect();
    let b: Vec<LinkSpill> = (0..w)
        .map(|i| worker(&pb, &dirs[usize::from(i)].1, &sb, Side::Server, i, w))
        .collect();
    for s in a.iter().chain(&b) {
        s.settle_all().unwrap();
        assert!(s.complete());
    }
    let (ra, rb): (Vec<&LinkSpill>, Vec<&LinkSpill>) = (a.iter().collect(), b.iter().collect());
    assert_eq!(pairs(&ra, &rb), whole);
    for i in 0..usize::from(w) {
        assert_eq!(summaries(&a[i]), summaries(&a_one(&pa, d)), "worker {i}");
        assert_eq!(a[i].linked_rows(), whole.len() as u64);
        assert_eq!(b[i].linked_rows(), whole.len() as u64);
    }
}

/// The one-machine client spill, reopened.
fn a_one(pa: &Path, d: &Path) -> LinkSpill {
    worker(pa, &d.join("one-a"), d, Side::Client, 0, 1)
}
