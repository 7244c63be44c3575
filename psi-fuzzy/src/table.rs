//! Encoding a whole table (CSV or Parquet) into an encodings file: rows are
//! read in batches, encoded in parallel, and written in input order.

use std::collections::BTreeMap;
use std::path::Path;

use psi_core::rng::ZeroizingRng;
use psi_table::Columns;
use rayon::prelude::*;
use serde::Serialize;

use crate::encoder::{Encoder, FieldOutcome};
use crate::file::{Encodings, EncodingsWriter};
use crate::Error;

/// Rows read before a batch is encoded.
const BATCH: usize = 8192;

/// What happened to one spec field over the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldSummary {
    /// The column.
    pub column: String,
    /// Rows whose value was encoded.
    pub encoded: u64,
    /// Rows whose value was empty.
    pub empty: u64,
    /// Rows whose value its profile refused, by reason (never the value).
    pub invalid: BTreeMap<&'static str, u64>,
}

/// What `encode_table` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncodeSummary {
    /// Data rows, i.e. encodings written.
    pub rows: u64,
    /// Bits per encoding.
    pub bits: u32,
    /// Rows with no field encoded at all (they match nothing).
    pub empty_rows: u64,
    /// Per spec field.
    pub fields: Vec<FieldSummary>,
}

/// Encodes every row of `input` to the encodings file `output`.
pub fn encode_table(
    encoder: &Encoder,
    input: &Path,
    output: &Path,
) -> Result<EncodeSummary, Error> {
    let spec = encoder.spec();
    let mut writer = EncodingsWriter::create(output, spec.output_bits(), spec.fingerprint())?;
    let summary = encode_batches(encoder, input, |row| writer.write(row))?;
    writer.finish()?;
    Ok(summary)
}

/// Encodes every row of `input` in memory (tests and benchmarks).
pub fn encode_table_in_memory(
    encoder: &Encoder,
    input: &Path,
) -> Result<(Encodings, EncodeSummary), Error> {
    let spec = encoder.spec();
    let mut out = Encodings::new(spec.output_bits(), spec.fingerprint());
    let summary = encode_batches(encoder, input, |row| {
        out.push(row);
        Ok(())
    })?;
    Ok((out, summary))
}

fn encode_batches(
    encoder: &Encoder,
    input: &Path,
    mut sink: impl FnMut(&[u64]) -> Result<(), Error>,
) -> Result<EncodeSummary, Error> {
    let spec = encoder.spec();
    let columns = spec.columns();
    let mut table = Columns::open(input, &columns)?;
    let words = encoder.words();
    let mut summary = EncodeSummary {
        rows: 0,
        bits: spec.output_bits(),
        empty_rows: 0,
        fields: spec
            .fields
            .iter()
            .map(|f| FieldSummary {
                column: f.column.clone(),
                ..FieldSummary::default()
            })
            .collect(),
    };
    let mut batch: Vec<Vec<String>> = Vec::with_capacity(BATCH);
    let mut out = vec![0u64; BATCH * words];
    loop {
        batch.clear();
        while batch.len() < BATCH {
            let more = table.next_row(|_, cells| {
                batch.push(cells.iter().map(|c| c.to_string()).collect());
            })?;
            if !more {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let outcomes: Vec<Vec<Vec<FieldOutcome>>> = batch
            .par_chunks(256)
            .zip(out[..n * words].par_chunks_mut(256 * words))
            .map(|(rows, out)| -> Result<Vec<Vec<FieldOutcome>>, Error> {
                let mut flips =
                    ZeroizingRng::from_os_rng().map_err(|e| Error::Random(e.to_string()))?;
                let mut all = Vec::with_capacity(rows.len());
                for (row, out) in rows.iter().zip(out.chunks_exact_mut(words)) {
                    let cells: Vec<&str> = row.iter().map(String::as_str).collect();
                    let mut outcomes = Vec::with_capacity(cells.len());
                    encoder.encode(&cells, out, &mut outcomes, &mut flips);
                    all.push(outcomes);
                }
                Ok(all)
            })
            .collect::<Result<_, _>>()?;
        for (row, outcomes) in outcomes.iter().flatten().enumerate() {
            let mut any = false;
            for (f, o) in summary.fields.iter_mut().zip(outcomes) {
                match o {
                    FieldOutcome::Encoded => {
                        f.encoded += 1;
                        any = true;
                    }
                    FieldOutcome::Empty => f.empty += 1,
                    FieldOutcome::Invalid(reason) => *f.invalid.entry(reason).or_default() += 1,
                }
            }
            if !any {
                summary.empty_rows += 1;
            }
            sink(&out[row * words..(row + 1) * words])?;
        }
        summary.rows += n as u64;
    }
    Ok(summary)
}
