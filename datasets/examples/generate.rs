//! Writes two tables and reports the rate, e.g. for checking that memory
//! stays flat at 10^8 rows:
//!
//! `cargo run --release -p psi-datasets --example generate -- ROWS_A ROWS_B OVERLAP A.csv B.csv`

use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rows_a, rows_b, overlap, a, b] = args.as_slice() else {
        return Err("usage: generate ROWS_A ROWS_B OVERLAP A.csv B.csv".into());
    };
    let config = psi_datasets::GenConfig {
        rows_a: rows_a.parse()?,
        rows_b: rows_b.parse()?,
        overlap: overlap.parse()?,
        seed: 1,
        noise: 0.0,
        with_value: true,
    };
    let start = Instant::now();
    let summary = psi_datasets::generate_files(&config, Path::new(a), Path::new(b))?;
    let secs = start.elapsed().as_secs_f64();
    let rows = summary.rows_a + summary.rows_b;
    println!(
        "{rows} rows in {secs:.2} s: {:.2} M rows/s",
        rows as f64 / secs / 1e6
    );
    Ok(())
}
