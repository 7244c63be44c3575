//! The streamed linkage writer ([`psi_table::linked::write_linked`]) writes
//! the same bytes as the in-memory linkage's writer (`plan_rows` through
//! `KeyedTable::write_output_from`), for every side, join and alignment, in
//! CSV and Parquet, with the links split over many bucket files and a sort
//! budget small enough to make many runs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use psi_core::linkage::{plan_rows, JoinType, Link, Side};
use psi_table::linked::{write_linked, write_links, LinkedOutput, LinkedPlan};
use psi_table::{KeySpec, KeyedTable, OutRow, OutputOptions};

/// A tiny deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn table(dir: &Path, rows: usize, rng: &mut Rng) -> PathBuf {
    let mut text = String::from("id, name ,note\n");
    for r in 0..rows {
        let note = match rng.next() % 4 {
            0 => "\"a, quoted \"\"field\"\"\"".to_string(),
            1 => String::new(),
            _ => format!("n{}", rng.next() % 1000),
        };
        text.push_str(&format!("k{r},name {},{note}\n", rng.next() % 50));
    }
    let path = dir.join(format!("t{rows}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn streamed_linkage_output_equals_the_in_memory_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let spec = KeySpec::parse("id").unwrap();
    for (case, rows) in [1usize, 2, 17, 300].into_iter().enumerate() {
        let input = table(dir.path(), rows, &mut rng);
        let keyed = KeyedTable::read(&input, &spec).unwrap();
        // Random links; some ids repeat (ties keep row order in both writers).
        let mut links: Vec<Option<Link>> = vec![None; rows];
        for (r, l) in links.iter_mut().enumerate() {
            if !rng.next().is_multiple_of(3) {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&rng.next().to_le_bytes());
                id[8..].copy_from_slice(&rng.next().to_le_bytes());
                if r % 7 == 3 {
                    id = [7; 16];
                }
                *l = Some(Link { step: 0, id });
            }
        }
        // Split over bucket files at random.
        let files: Vec<PathBuf> = (0..5)
            .map(|b| dir.path().join(format!("links-{case}-{b}.bin")))
            .collect();
        let mut per_file: Vec<Vec<(u32, [u8; 16])>> = vec![Vec::new(); files.len()];
        for (r, l) in links.iter().enumerate() {
            if let Some(l) = l {
                per_file[(rng.next() % 5) as usize].push((r as u32, l.id));
            }
        }
        for (f, mut l) in files.iter().zip(per_file) {
            write_links(f, &mut l).unwrap();
        }
        let unlinked = links.iter().filter(|l| l.is_none()).count() as u64;
        for side in [Side::Client, Side::Server] {
            for join in JoinType::ALL {
                for align in [false, true] {
                    if align && join == JoinType::Difference {
                        continue;
                    }
                    let (cu, su) = match side {
                        Side::Client => (unlinked, 3),
                        Side::Server => (2, unlinked),
                    };
                    for ext in ["csv", "parquet"] {
                        let want = dir.path().join(format!("want.{ext}"));
                        let planned = plan_rows(side, join, align, &links, cu, su);
                        let out = planned.map(|p| OutRow {
                            row: p.row,
                            id: p.id.map(|id| hex(&id)),
                        });
                        let options = OutputOptions::default();
                        keyed
                            .write_output_from(out, Some("psi_id"), &want, &options)
                            .unwrap();
                        for budget in [150, 1 << 20] {
                            let got = dir.path().join(format!("got.{ext}"));
                            let plan = LinkedPlan {
                                side,
                                join,
                                align,
                                client_unlinked: cu,
                                server_unlinked: su,
                                writes_unlinked: true,
                            };
                            let out = LinkedOutput {
                                path: &got,
                                options: &options,
                                id_column: "psi_id",
                                scratch: dir.path(),
                                sort_memory: budget,
                                linked_anywhere: None,
                            };
                            let n = write_linked(&input, rows, &files, &plan, &out).unwrap();
                            let what = format!(
                                "{rows} rows {side:?} {join} align {align} {ext} budget {budget}"
                            );
                            assert_eq!(
                                std::fs::read(&got).unwrap(),
                                std::fs::read(&want).unwrap(),
                                "{what}"
                            );
                            let total = plan_rows(side, join, align, &links, cu, su).total();
                            assert_eq!(n, total, "{what}");
                        }
                    }
                }
            }
        }
    }
    // The sort's scratch directories are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".psi-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn damaged_or_foreign_links_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(5);
    let input = table(dir.path(), 4, &mut rng);
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    write_links(&a, &mut [(1, [1; 16])]).unwrap();
    write_links(&b, &mut [(1, [2; 16])]).unwrap();
    let options = OutputOptions::default();
    let got = dir.path().join("got.csv");
    let out = LinkedOutput {
        path: &got,
        options: &options,
        id_column: "psi_id",
        scratch: dir.path(),
        sort_memory: 1 << 20,
        linked_anywhere: None,
    };
    let plan = LinkedPlan {
        side: Side::Client,
        join: JoinType::Left,
        align: false,
        client_unlinked: 3,
        server_unlinked: 0,
        writes_unlinked: true,
    };
    let e = write_linked(&input, 4, &[a.clone(), b], &plan, &out).unwrap_err();
    assert!(e.to_string().contains("linked twice"), "{e}");
    let c = dir.path().join("c.bin");
    write_links(&c, &mut [(9, [2; 16])]).unwrap();
    let e = write_linked(&input, 4, &[a.clone(), c], &plan, &out).unwrap_err();
    assert!(e.to_string().contains('9'), "{e}");
    std::fs::write(dir.path().join("d.bin"), [0u8; 7]).unwrap();
    let e = write_linked(&input, 4, &[dir.path().join("d.bin")], &plan, &out).unwrap_err();
    assert!(e.to_string().contains("cut off"), "{e}");
    assert!(!got.exists(), "no output after an error");
    let e = write_linked(&input, 5, &[a], &plan, &out).unwrap_err();
    assert!(!got.exists(), "{e}");
}

/// The data lines of a CSV output (header dropped).
fn data_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn shard_workers_outputs_together_are_the_whole_output() {
    // Three workers, each with the link files of its buckets and the bitmap
    // of every link: worker 0 also writes the unlinked rows and placeholders.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x51);
    let rows = 200usize;
    let input = table(dir.path(), rows, &mut rng);
    let workers = 3usize;
    let mut per_worker: Vec<Vec<(u32, [u8; 16])>> = vec![Vec::new(); workers];
    let mut bitmap = vec![0u64; rows.div_ceil(64)];
    for r in 0..rows {
        if !rng.next().is_multiple_of(3) {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&rng.next().to_le_bytes());
            per_worker[(rng.next() % 3) as usize].push((r as u32, id));
            bitmap[r / 64] |= 1 << (r % 64);
        }
    }
    let files: Vec<PathBuf> = (0..workers)
        .map(|w| dir.path().join(format!("w{w}.bin")))
        .collect();
    for (f, l) in files.iter().zip(&per_worker) {
        write_links(f, &mut l.clone()).unwrap();
    }
    let options = OutputOptions::default();
    for side in [Side::Client, Side::Server] {
        for join in JoinType::ALL {
            for align in [false, true] {
                if align && join == JoinType::Difference {
                    continue;
                }
                let plan = LinkedPlan {
                    side,
                    join,
                    align,
                    client_unlinked: 5,
                    server_unlinked: 4,
                    writes_unlinked: true,
                };
                let write = |path: &Path, files: &[PathBuf], plan: &LinkedPlan, bits| {
                    let out = LinkedOutput {
                        path,
                        options: &options,
                        id_column: "psi_id",
                        scratch: dir.path(),
                        sort_memory: 1 << 20,
                        linked_anywhere: bits,
                    };
                    write_linked(&input, rows, files, plan, &out).unwrap()
                };
                let whole = dir.path().join("whole.csv");
                let n = write(&whole, &files, &plan, None);
                let mut parts = Vec::new();
                let mut written = 0;
                for w in 0..workers {
                    let path = dir.path().join(format!("part{w}.csv"));
                    let p = LinkedPlan {
                        writes_unlinked: w == 0,
                        ..plan
                    };
                    written += write(&path, &files[w..=w], &p, Some(&bitmap[..]));
                    parts.push(data_lines(&path));
                }
                let what = format!("{side:?} {join} align {align}");
                assert_eq!(written, n, "{what}");
                let want = data_lines(&whole);
                let mut got: Vec<String> = parts.concat();
                let mut sorted_want = want.clone();
                got.sort();
                sorted_want.sort();
                assert_eq!(got, sorted_want, "{what}");
                if align {
                    // Linked lines merged by id, then worker 0's tail.
                    let mut linked: Vec<String> = parts
                        .iter()
                        .flatten()
                        .filter(|l| !l.starts_with(','))
                        .cloned()
                        .collect();
                    linked.sort();
                    let tail = parts[0].iter().filter(|l| l.starts_with(',')).cloned();
                    linked.extend(tail);
                    assert_eq!(linked, want, "{what}");
                }
            }
        }
    }
}
