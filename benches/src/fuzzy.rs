//! Fuzzy linkage benchmarks (`psi-fuzzy`):
//!
//! - `fuzzy-speed [--anonlink PATH/anonlink_speed.py]`: Dice comparisons per
//!   second per core on random 1024-bit encodings, for each popcount kernel
//!   this CPU runs, one thread and all threads; with `--anonlink`, anonlink's
//!   rate measured in the same run and the ratio.
//! - `fuzzy-scale [--n 100000,1000000]`: two generated person tables of n
//!   rows (half shared, half of those with a typo), encoded and linked with
//!   LSH blocking: seconds, comparisons, reduction ratio, pair completeness
//!   against the exhaustive search (all of it up to 10^5 rows, a sample of
//!   2,000 rows beyond), links, peak RSS (each n in a child process).
//! - `fuzzy-quality [--febrl DIR]`: precision, recall and F1 on FEBRL 4 for
//!   the example spec and each hardening option, full files and random
//!   halves.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use psi_fuzzy::{
    auto_blocking, encode_table_in_memory, greedy_pairs, search, Blocking, Encoder, Encodings,
    Kernel, Labels, Secret, Spec, Threshold,
};
use rand::RngCore;
use rand_core::SeedableRng;

use crate::{child_output, field, flag_value, machine, mb, peak_rss};

fn random_encodings(n: usize, seed: u64) -> Encodings {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut e = Encodings::new(1024, [0; 32]);
    let mut row = [0u64; 16];
    for _ in 0..n {
        for w in row.iter_mut() {
            *w = rng.next_u64();
        }
        e.push(&row);
    }
    e
}

/// Comparisons per second of an exhaustive search at 0.8 (random encodings
/// all have about 512 bits set, so the popcount bound prunes nothing).
fn rate(a: &Encodings, b: &Encodings, kernel: Kernel) -> (f64, u64) {
    let t = Instant::now();
    let (_, stats) = search(a, b, Threshold::new(0.8), Blocking::None, kernel);
    (
        stats.comparisons as f64 / t.elapsed().as_secs_f64(),
        stats.comparisons,
    )
}

pub fn speed(args: &[String]) {
    println!("{}", machine());
    let (na, nb) = (2000, 100_000);
    let a = random_encodings(na, 1);
    let b = random_encodings(nb, 2);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut ours_per_core = 0.0;
    for kernel in Kernel::available() {
        let (r, n) = one.install(|| rate(&a, &b, kernel));
        println!(
            "psi-fuzzy dice all-pairs bits=1024 n_a={na} n_b={nb} comparisons={n} kernel={} threads=1: {:.1} M comparisons/s",
            kernel.name(),
            r / 1e6
        );
        if kernel == Kernel::detect() {
            ours_per_core = r;
        }
    }
    let (r, _) = rate(&a, &b, Kernel::detect());
    println!(
        "psi-fuzzy dice all-pairs kernel={} threads={}: {:.1} M comparisons/s ({:.1} M per thread)",
        Kernel::detect().name(),
        rayon::current_num_threads(),
        r / 1e6,
        r / 1e6 / rayon::current_num_threads() as f64
    );
    if let Some(script) = flag_value(args, "--anonlink") {
        let out = Command::new("python3")
            .arg(&script)
            .args(["--n-a", &na.to_string(), "--n-b", &nb.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("peer=anonlink"))
            .unwrap_or_else(|| {
                panic!(
                    "{script} printed no result: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        println!("{line}");
        let theirs: f64 = field(line, "comparisons_per_second").unwrap();
        println!(
            "ratio per core (psi-fuzzy {} / anonlink): {:.2}x",
            Kernel::detect().name(),
            ours_per_core / theirs
        );
    }
}

/// The spec for the generated person tables (`psi gen` columns).
const GEN_SPEC: &str = r#"{"fields": [
    {"column": "given_name", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "surname", "profile": "name", "weight": 2, "key_group": "name"},
    {"column": "date_of_birth", "profile": "digits", "comparator": "digits", "weight": 2},
    {"column": "postcode", "profile": "postcode", "comparator": "ngram2"},
    {"column": "email", "profile": "email", "comparator": "ngram2", "weight": 0.5}],
  "bits_per_feature": 9}"#;

fn secret() -> Secret {
    Secret::from_bytes(b"a benchmark secret, not a real one").unwrap()
}

pub fn scale(args: &[String]) {
    println!("{}", machine());
    let me = std::env::current_exe().unwrap();
    let sizes: Vec<u64> = flag_value(args, "--n")
        .map(|v| v.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000]);
    for n in sizes {
        print!("{}", child_output(&me, "fuzzy-scale-child", n));
    }
}

pub fn scale_child(n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let config = psi_datasets::GenConfig {
        rows_a: n,
        rows_b: n,
        overlap: n / 2,
        seed: 7,
        noise: 0.5,
        with_value: false,
    };
    psi_datasets::generate_files(&config, &pa, &pb).unwrap();
    let encoder = Encoder::new(Spec::parse(GEN_SPEC).unwrap(), &secret()).unwrap();
    let t = Instant::now();
    let (a, _) = encode_table_in_memory(&encoder, &pa).unwrap();
    let (b, _) = encode_table_in_memory(&encoder, &pb).unwrap();
    let encode_s = t.elapsed().as_secs_f64();
    let threshold = Threshold::new(0.8);
    let kernel = Kernel::detect();
    let blocking = auto_blocking(&a, &b, threshold);
    let t = Instant::now();
    let (found, stats) = search(&a, &b, threshold, blocking, kernel);
    let search_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let links = greedy_pairs(found.clone());
    let solve_s = t.elapsed().as_secs_f64();
    let (params, rss) = (
        match blocking {
            Blocking::Lsh { tables, bits } => format!("lsh tables={tables} bits={bits}"),
            Blocking::None => "none".into(),
        },
        peak_rss(),
    );
    // Pair completeness: the exhaustive search's pairs (all of A up to 10^5
    // rows, else a sample of 2,000 rows of A) that blocking also found.
    let sample: Vec<usize> = if n <= 100_000 {
        (0..a.len()).collect()
    } else {
        (0..2000).map(|k| k * a.len() / 2000).collect()
    };
    let mut sub = Encodings::new(a.bits(), *a.fingerprint());
    for &i in &sample {
        sub.push(a.row(i));
    }
    let t = Instant::now();
    let (truth, truth_stats) = search(&sub, &b, threshold, Blocking::None, kernel);
    let exhaustive_s = t.elapsed().as_secs_f64();
    let got: HashSet<(u32, u32)> = found.iter().map(|c| (c.a, c.b)).collect();
    let hit = truth
        .iter()
        .filter(|c| got.contains(&(sample[c.a as usize] as u32, c.b)))
        .count();
    let completeness = if truth.is_empty() {
        1.0
    } else {
        hit as f64 / truth.len() as f64
    };
    println!(
        "psi-fuzzy scale n_a={n} n_b={n} (half shared, half of those noisy) bits={} threshold=0.8 {params}: encode {encode_s:.1} s ({:.0} rows/s), search {search_s:.1} s, solve {solve_s:.2} s, comparisons {} of {} pairs (reduction ratio {:.6}), candidates {}, links {}, peak RSS {:.0} MB, kernel {}",
        a.bits(),
        2.0 * n as f64 / encode_s,
        stats.comparisons,
        stats.pairs,
        stats.reduction_ratio(),
        found.len(),
        links.len(),
        mb(rss),
        kernel.name()
    );
    println!(
        "  pair completeness vs exhaustive on {} rows of A ({} comparisons, {exhaustive_s:.1} s): {hit} of {} pairs = {completeness:.4}",
        sample.len(),
        truth_stats.comparisons,
        truth.len()
    );
}

fn febrl_dir(args: &[String]) -> Option<PathBuf> {
    let dir = flag_value(args, "--febrl")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PSI_FEBRL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    dir.join("febrl4a.csv").is_file().then_some(dir)
}

fn people(path: &Path) -> Vec<u32> {
    let mut cols = psi_table::Columns::open(path, &["rec_id"]).unwrap();
    let mut out = Vec::new();
    while cols
        .next_row(|_, c| out.push(c[0].trim().split('-').nth(1).unwrap().parse().unwrap()))
        .unwrap()
    {}
    out
}

fn score(a: &Encodings, b: &Encodings, truth: &Labels, t: f64) -> (f64, f64, f64) {
    let (found, _) = search(a, b, Threshold::new(t), Blocking::None, Kernel::detect());
    let s = truth.score(&greedy_pairs(found));
    (s.precision(), s.recall(), s.f1())
}

fn rows(e: &Encodings, keep: &[usize]) -> Encodings {
    let mut out = Encodings::new(e.bits(), *e.fingerprint());
    for &i in keep {
        out.push(e.row(i));
    }
    out
}

fn truth(pa: &[u32], pb: &[u32], ra: &[usize], rb: &[usize]) -> Labels {
    let at: std::collections::HashMap<u32, u32> = rb
        .iter()
        .enumerate()
        .map(|(j, &r)| (pb[r], j as u32))
        .collect();
    Labels::from_pairs(
        ra.iter()
            .enumerate()
            .map(|(i, &r)| (i as u32, at.get(&pa[r]).copied())),
    )
}

pub fn quality(args: &[String]) {
    println!("{}", machine());
    let Some(dir) = febrl_dir(args) else {
        println!("SKIPPED: FEBRL 4 not found (give --febrl DIR or set PSI_FEBRL_DIR)");
        return;
    };
    let base = std::fs::read_to_string("examples/fuzzy/febrl-spec.json")
        .or_else(|_| std::fs::read_to_string("../examples/fuzzy/febrl-spec.json"))
        .expect("run from the repository root: examples/fuzzy/febrl-spec.json");
    let (fa, fb) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    let (pa, pb) = (people(&fa), people(&fb));
    let close = base.rfind('}').unwrap();
    let variant = |extra: &str| -> String {
        if extra.is_empty() {
            base.clone()
        } else {
            format!("{}, {extra}}}", &base[..close].trim_end())
        }
    };
    let salted = base.replace(
        r#""column": "surname", "profile": "name", "comparator": "ngram2", "weight": 2, "key_group": "name""#,
        r#""column": "surname", "profile": "name", "comparator": "ngram2", "weight": 2, "key_group": "name", "salt_with": "state""#,
    );
    let variants = [
        ("none", variant("")),
        ("balance", variant(r#""hardening": {"balance": true}"#)),
        (
            "xor_fold (2048 → 1024 bits)",
            variant(r#""hardening": {"xor_fold": true}"#)
                .replace(r#""filter_bits": 1024"#, r#""filter_bits": 2048"#),
        ),
        (
            "flip 0.01",
            variant(r#""hardening": {"flip_probability": 0.01}"#),
        ),
        (
            "flip 0.05",
            variant(r#""hardening": {"flip_probability": 0.05}"#),
        ),
        ("salt surname with state", salted),
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let ha: Vec<usize> = (0..5000).filter(|_| rng.next_u32() & 1 == 0).collect();
    let hb: Vec<usize> = (0..5000).filter(|_| rng.next_u32() & 1 == 0).collect();
    for (name, json) in variants {
        let encoder = Encoder::new(Spec::parse(&json).unwrap(), &secret()).unwrap();
        let t = Instant::now();
        let (a, _) = encode_table_in_memory(&encoder, &fa).unwrap();
        let (b, _) = encode_table_in_memory(&encoder, &fb).unwrap();
        let encode_s = t.elapsed().as_secs_f64();
        let all: Vec<usize> = (0..a.len()).collect();
        let full = truth(&pa, &pb, &all, &all);
        let (sa, sb) = (rows(&a, &ha), rows(&b, &hb));
        let halves = truth(&pa, &pb, &ha, &hb);
        let mut best = (0.0, 0.0);
        let mut line = Vec::new();
        for k in 0..=12 {
            let t = 0.55 + 0.025 * f64::from(k);
            let (p, r, f1) = score(&a, &b, &full, t);
            let (_, _, hf1) = score(&sa, &sb, &halves, t);
            if hf1 > best.1 {
                best = (t, hf1);
            }
            if (t - 0.75).abs() < 1e-9 {
                line.push(format!(
                    "at 0.75: full P={p:.4} R={r:.4} F1={f1:.4}, halves F1={hf1:.4}"
                ));
            }
        }
        println!(
            "febrl4 hardening={name}: bits={} encode {encode_s:.2} s; {}; best halves F1 {:.4} at {:.3}",
            a.bits(),
            line.join(""),
            best.1,
            best.0
        );
    }
}
