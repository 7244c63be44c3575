//! `psi encode` (a data owner) and `psi match` (the linkage unit).

use std::fmt::Write as _;
use std::time::Instant;

use psi_fuzzy::{
    auto_blocking, best_similarity_histogram, encode_table, resolve, search_all, sweep, Blocking,
    Candidate, Encoder, Encodings, Error as FuzzyError, Kernel, Labels, Links, Threshold,
};
use psi_server::Phases;

use crate::error::CliError;
use crate::plan::{BlockingPlan, EncodePlan, MatchPlan};
use crate::report::{
    self, BlockingReport, EncodeReport, Environment, MatchInput, MatchReport, ThresholdScore,
};

/// Encodes the input table into an encodings file.
pub fn encode(plan: EncodePlan) -> Result<(), CliError> {
    let start = Instant::now();
    let fingerprint = plan.spec.fingerprint();
    let encoder = Encoder::new(plan.spec, &plan.secret)?;
    let summary = encode_table(&encoder, &plan.input, &plan.output)?;
    let seconds = report::seconds(start.elapsed());
    eprintln!(
        "encoded {} rows ({} bits each) into {} in {seconds:.2} s",
        summary.rows,
        summary.bits,
        plan.output.display()
    );
    for f in &summary.fields {
        let invalid: u64 = f.invalid.values().sum();
        if f.empty + invalid > 0 {
            eprintln!(
                "  {}: {} encoded, {} empty, {} refused by its profile{}",
                f.column,
                f.encoded,
                f.empty,
                invalid,
                reasons(&f.invalid)
            );
        }
    }
    if summary.empty_rows > 0 {
        eprintln!(
            "  {} rows had no field to encode: they will match nothing",
            summary.empty_rows
        );
    }
    if let Some(path) = &plan.report {
        let r = EncodeReport {
            command: "encode",
            input: plan.input.display().to_string(),
            output: plan.output.display().to_string(),
            spec_fingerprint: hex(&fingerprint),
            summary,
            seconds,
            environment: Environment::now(),
        };
        report::write(path, &r)?;
    }
    Ok(())
}

fn reasons(invalid: &std::collections::BTreeMap<&'static str, u64>) -> String {
    if invalid.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = invalid.iter().map(|(r, n)| format!("{n} {r}")).collect();
    format!(" ({})", parts.join(", "))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Reads the inputs and refuses any two that cannot be compared.
fn read_inputs(paths: &[std::path::PathBuf]) -> Result<Vec<Encodings>, CliError> {
    let mut all: Vec<Encodings> = Vec::with_capacity(paths.len());
    for path in paths {
        let e = Encodings::read(path)?;
        if let Some(first) = all.first() {
            if let Some(why) = first.incompatibility(&e) {
                return Err(FuzzyError::Incompatible {
                    first: paths[0].clone(),
                    second: path.clone(),
                    reason: format!(
                        "{why} (fingerprints {}… and {}…, {} and {} bits)",
                        &hex(first.fingerprint())[..16],
                        &hex(e.fingerprint())[..16],
                        first.bits(),
                        e.bits()
                    ),
                }
                .into());
            }
        }
        all.push(e);
    }
    Ok(all)
}

fn blocking_for(plan: BlockingPlan, a: &Encodings, b: &Encodings, t: Threshold) -> Blocking {
    match plan {
        BlockingPlan::None => Blocking::None,
        BlockingPlan::Auto => auto_blocking(a, b, t),
        BlockingPlan::Lsh { tables, bits } => {
            let (auto_tables, auto_bits) = match auto_blocking(a, b, t) {
                Blocking::Lsh { tables, bits } => (tables, bits),
                Blocking::None => (32, 16),
            };
            Blocking::Lsh {
                tables: tables.unwrap_or(auto_tables),
                bits: bits.unwrap_or(auto_bits),
            }
        }
    }
}

/// How far below the threshold `--histogram` and `--labels` look.
const HISTOGRAM_SPAN: f64 = 0.15;

/// Links the encodings files.
pub fn match_(plan: MatchPlan) -> Result<(), CliError> {
    let start = Instant::now();
    let mut phases = Phases::new();
    let inputs = read_inputs(&plan.inputs)?;
    phases.push("read_input", start.elapsed());
    let kernel = Kernel::detect();
    let threshold = Threshold::new(plan.threshold);
    // A histogram or a sweep needs the pairs below the threshold too, down
    // to 0.15 below it (not further: unrelated records of a typical spec
    // are about 0.5 similar, and there are |A|·|B| of them).
    let floor = if plan.histogram || plan.labels.is_some() {
        Threshold::new((plan.threshold - HISTOGRAM_SPAN).max(0.0))
    } else {
        threshold
    };
    let labels = match &plan.labels {
        Some(p) => Some(Labels::read(p)?),
        None => None,
    };
    let searching = Instant::now();
    let found = search_all(
        &inputs,
        floor,
        |a, b| blocking_for(plan.blocking, a, b, floor),
        kernel,
    );
    let blocking_report = BlockingReport {
        method: if found.lsh.is_some() { "lsh" } else { "none" },
        tables: found.lsh.map(|l| l.0),
        bits: found.lsh.map(|l| l.1),
        comparisons: found.stats.comparisons,
        pairs: found.stats.pairs,
        reduction_ratio: found.stats.reduction_ratio(),
    };
    // The first two inputs' pairs from the floor up, for the histogram and
    // the sweep.
    let below: Vec<Candidate> = if plan.histogram || labels.is_some() {
        found
            .edges
            .iter()
            .filter(|e| (e.owner_a, e.owner_b) == (0, 1))
            .map(|e| e.pair)
            .collect()
    } else {
        Vec::new()
    };
    phases.push("search", searching.elapsed());

    let solving = Instant::now();
    let (resolved, candidates) = resolve(found.edges, inputs.len(), threshold);
    let mut csv = String::new();
    let (links, groups) = match &resolved {
        Links::Pairs(pairs) => {
            csv.push_str("a_row,b_row,similarity\n");
            for p in pairs {
                let _ = writeln!(csv, "{},{},{:.6}", p.a, p.b, p.similarity());
            }
            (Some(pairs.len() as u64), None)
        }
        Links::Groups(groups) => {
            csv.push_str("group,owner,row\n");
            for (g, members) in groups.iter().enumerate() {
                for (owner, row) in members {
                    let _ = writeln!(csv, "{g},{owner},{row}");
                }
            }
            (None, Some(groups.len() as u64))
        }
    };
    phases.push("solve", solving.elapsed());
    let writing = Instant::now();
    psi_table::write_atomically(&plan.output, csv.as_bytes())?;
    phases.push("write_output", writing.elapsed());

    let histogram = plan
        .histogram
        .then(|| best_similarity_histogram(&below, floor.value(), 20));
    if let Some(h) = &histogram {
        eprintln!(
            "best similarity of each row of {} against {} (rows with none from {:.3} up not shown):",
            plan.inputs[0].display(),
            plan.inputs[1].display(),
            floor.value()
        );
        let width = (1.0 - floor.value()) / 20.0;
        for (start, n) in h {
            eprintln!("  {:.3}–{:.3}: {n}", start, start + width);
        }
    }
    let scores = labels.map(|labels| {
        let thresholds: Vec<f64> = (0..=40)
            .map(|k| floor.value() + 0.025 * f64::from(k))
            .filter(|t| *t <= 1.0)
            .collect();
        let swept = sweep(&below, &thresholds, &labels);
        eprintln!("threshold  matched  precision  recall   (labelled sample)");
        for (t, s) in &swept {
            eprintln!(
                "  {t:.3}  {:>8}  {:.4}     {:.4}",
                s.matched,
                s.precision(),
                s.recall()
            );
        }
        swept
            .into_iter()
            .map(|(t, s)| ThresholdScore::new(t, s))
            .collect::<Vec<_>>()
    });
    phases.push("total", start.elapsed());
    let total_rows: usize = inputs.iter().map(Encodings::len).sum();
    eprintln!(
        "{} from {} rows in {} files at threshold {}: {} candidate pairs, {} comparisons ({} blocking, reduction ratio {:.4}), kernel {}; wrote {}",
        match (links, groups) {
            (Some(n), _) => format!("{n} links"),
            (_, Some(n)) => format!("{n} groups"),
            _ => String::new(),
        },
        total_rows,
        inputs.len(),
        plan.threshold,
        candidates,
        blocking_report.comparisons,
        blocking_report.method,
        blocking_report.reduction_ratio,
        kernel.name(),
        plan.output.display()
    );
    if let Some(path) = &plan.report {
        let r = MatchReport {
            command: "match",
            inputs: plan
                .inputs
                .iter()
                .zip(&inputs)
                .map(|(p, e)| MatchInput {
                    path: p.display().to_string(),
                    rows: e.len() as u64,
                })
                .collect(),
            threshold: plan.threshold,
            bits: inputs.first().map_or(0, Encodings::bits),
            kernel: kernel.name(),
            blocking: blocking_report,
            candidates,
            links,
            groups,
            output: plan.output.display().to_string(),
            best_similarity_histogram: histogram,
            threshold_scores: scores,
            seconds: phases,
            environment: Environment::now(),
        };
        report::write(path, &r)?;
    }
    Ok(())
}
