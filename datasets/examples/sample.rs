//! Prints two small sample tables: `cargo run -p psi-datasets --example sample`.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = psi_datasets::GenConfig {
        rows_a: 12,
        rows_b: 8,
        overlap: 5,
        seed: 2024,
        noise: 0.6,
        with_value: true,
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    psi_datasets::generate(&config, &mut a, &mut b)?;
    let mut out = std::io::stdout().lock();
    out.write_all(b"# party A: persons 0..12\n")?;
    out.write_all(&a)?;
    out.write_all(b"# party B: persons 7..15; 7..12 are shared, 3 of them with noise\n")?;
    out.write_all(&b)?;
    Ok(())
}
