//! FEBRL 4 without `soc_sec_id`: the plaintext waterfall of
//! `common::febrl::WATERFALL` (the rule the private linkage runs, see
//! `psi_core::linkage`) reaches precision ≥ 0.999 and recall ≥ 0.93 on the
//! whole files and on random halves. `cargo run --release -p psi-table
//! --example febrl_linkage` prints the figures per key. Without the files
//! (`$PSI_FEBRL_DIR` or `../../shared/data`) the test prints SKIPPED.
#![allow(clippy::unwrap_used)]

mod common;

use common::febrl;

#[test]
fn febrl_waterfall_is_precise_and_finds_most_true_pairs() {
    let dir = match febrl::febrl_dir() {
        Ok(d) => d,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let (a, b) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    let whole = febrl::evaluate(&a, &b, febrl::WATERFALL);
    print!("{}", whole.report("FEBRL 4, whole files"));
    assert!(
        whole.precision() >= 0.999,
        "precision {}",
        whole.precision()
    );
    assert!(whole.recall() >= 0.93, "recall {}", whole.recall());
    let (na, nb) = (febrl::person_ids(&a).len(), febrl::person_ids(&b).len());
    let tmp = tempfile::tempdir().unwrap();
    for seed in [1u64, 2] {
        let (ha, hb) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
        febrl::write_subset(&a, &febrl::random_half(na, seed), &ha);
        febrl::write_subset(&b, &febrl::random_half(nb, seed + 1000), &hb);
        let half = febrl::evaluate(&ha, &hb, febrl::WATERFALL);
        print!("{}", half.report(&format!("random halves, seed {seed}")));
        assert!(
            half.precision() >= 0.999,
            "seed {seed}: precision {}",
            half.precision()
        );
        assert!(
            half.recall() >= 0.93,
            "seed {seed}: recall {}",
            half.recall()
        );
    }
}
