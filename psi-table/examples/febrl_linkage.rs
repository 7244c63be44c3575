//! Plaintext waterfall linkage on FEBRL 4: precision and recall per key step,
//! on the whole files and on a seeded random half of A against a random half
//! of B. `cargo run --release -p psi-table --example febrl_linkage [KEY...]`
//! (keys as in `--key`; the default is the waterfall the test asserts).
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/febrl.rs"]
mod febrl;

fn main() {
    let dir = match febrl::febrl_dir() {
        Ok(d) => d,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keys: Vec<&str> = if args.is_empty() {
        febrl::WATERFALL.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let (a, b) = (dir.join("febrl4a.csv"), dir.join("febrl4b.csv"));
    print!(
        "{}",
        febrl::evaluate(&a, &b, &keys).report("FEBRL 4, whole files")
    );
    let (na, nb) = (febrl::person_ids(&a).len(), febrl::person_ids(&b).len());
    let tmp = tempfile::tempdir().unwrap();
    for seed in [1u64, 2, 3] {
        let (ha, hb) = (tmp.path().join("a.csv"), tmp.path().join("b.csv"));
        febrl::write_subset(&a, &febrl::random_half(na, seed), &ha);
        febrl::write_subset(&b, &febrl::random_half(nb, seed + 1000), &hb);
        let title = format!("FEBRL 4, random half of A vs random half of B (seed {seed})");
        print!("{}", febrl::evaluate(&ha, &hb, &keys).report(&title));
    }
}
