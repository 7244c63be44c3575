//! The parts of a plan both parties share — the input, an output file —
//! and the checks that make them, each usage error written once.

use std::path::{Path, PathBuf};

use psi_core::codec::Protocol;
use psi_core::linkage::{Duplicates, JoinType};
use psi_server::ServeMode;
use psi_table::{KeySpec, LinkageSpec, OutputFormat, OutputOptions, QuoteStyle};

use crate::args::{
    DuplicatesArg, FormatArg, JoinArg, ModeArg, OutputArgs, ProtocolArg, QuoteArg, SumToArg,
    TableArgs,
};
use crate::error::CliError;

/// The table a party reads.
#[derive(Debug, Clone)]
pub struct InputPlan {
    /// The file.
    pub path: PathBuf,
    /// Its keys, in priority order (one, unless a waterfall).
    pub spec: LinkageSpec,
    /// Where the rows whose key value failed its profile are listed (checked:
    /// not the input, not an output).
    pub rejects: Option<PathBuf>,
    /// `--duplicates reject` (the default) on a single key: a table whose
    /// rows repeat a key value is refused, naming their lines.
    pub refuse_duplicates: bool,
}

/// A file of result rows and how it is written.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// The file (checked: its directory exists, it is not the input).
    pub path: PathBuf,
    /// Format and CSV options.
    pub options: OutputOptions,
}

/// The JSON linkage spec file (`--spec`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    keys: Vec<String>,
}

/// `--input`, which every command with a table needs.
pub(super) fn input_path(table: &TableArgs) -> Result<&Path, CliError> {
    table
        .input
        .as_deref()
        .ok_or_else(|| CliError::Usage("--input FILE is required: the table to read".into()))
}

/// A bucketed run or server (`--state-dir`) hashes its input file and reads
/// it twice: a table handed over in memory (`psi_link`'s frames) is refused,
/// naming it.
pub(super) fn bucketed_input(input: &Path) -> Result<(), CliError> {
    if psi_table::memory::is_input(input) {
        return Err(CliError::Usage(format!(
            "--state-dir: {} is a table in memory, but a bucketed run (bounded memory, resumable) hashes its input file and reads it twice: pass the path of a CSV or Parquet file",
            input.display()
        )));
    }
    Ok(())
}

/// The keys from `--key` (repeated) or `--spec FILE`.
pub(super) fn linkage_spec(table: &TableArgs) -> Result<LinkageSpec, CliError> {
    if table.keys.is_empty() && table.spec.is_none() {
        return Err(CliError::Usage(
            "--key COLUMN (or --spec FILE) is required: the key to match on".into(),
        ));
    }
    let keys = match &table.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!("cannot read the spec {}: {e}", path.display()))
            })?;
            let file: SpecFile = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!(
                    "{}: not a linkage spec ({e}); expected {{\"keys\": [\"col:profile,...\", ...]}}",
                    path.display()
                ))
            })?;
            file.keys
        }
        None => table.keys.clone(),
    };
    Ok(LinkageSpec::parse_keys(&keys)?)
}

/// The one key of `spec`, for what takes a single key.
pub(super) fn single_key(spec: &LinkageSpec) -> Result<KeySpec, CliError> {
    match spec.keys() {
        [key] => Ok(key.clone()),
        keys => Err(CliError::Usage(format!(
            "--mode cardinality|sum takes one key; {} keys (a waterfall) need --mode intersection and --protocol ecdh",
            keys.len()
        ))),
    }
}

/// The input of `table` read with `spec`; `--rejects` must not overwrite
/// the input or any of `outputs`.
pub(super) fn input(
    table: &TableArgs,
    spec: LinkageSpec,
    refuse_duplicates: bool,
    outputs: &[&Path],
) -> Result<InputPlan, CliError> {
    let path = input_path(table)?;
    if let Some(rejects) = &table.rejects {
        let mut protected = vec![path];
        protected.extend_from_slice(outputs);
        writable(rejects, &protected)?;
    }
    Ok(InputPlan {
        path: path.to_path_buf(),
        spec,
        rejects: table.rejects.clone(),
        refuse_duplicates,
    })
}

/// `--duplicates` for a table with `keys` keys: the protocol's policy, and
/// whether a table with repeated key values is refused.
pub(super) fn duplicates(table: &TableArgs, keys: usize) -> Result<(Duplicates, bool), CliError> {
    if keys > 1 {
        if table.duplicates.is_some() {
            return Err(CliError::Usage(
                "--duplicates is for a single key: with several keys a value repeated among the unlinked rows is withheld at that key"
                    .into(),
            ));
        }
        return Ok((Duplicates::Unique, false));
    }
    Ok(match table.duplicates.unwrap_or(DuplicatesArg::Reject) {
        // A table with repeated values is refused; without, `all` is the same.
        DuplicatesArg::Reject => (Duplicates::All, true),
        DuplicatesArg::First => (Duplicates::First, false),
        DuplicatesArg::All => (Duplicates::All, false),
    })
}

/// What a server answers for `--mode` and `--sum-to`.
pub(super) fn serve_mode(mode: ModeArg, sum_to: SumToArg) -> ServeMode {
    match (mode, sum_to) {
        (ModeArg::Intersection, _) => ServeMode::Intersection,
        (ModeArg::Cardinality, _) => ServeMode::Cardinality,
        (ModeArg::Sum, SumToArg::Server) => ServeMode::SumToServer,
        (ModeArg::Sum, SumToArg::Client) => ServeMode::SumToClient,
    }
}

/// The wire protocol of `--protocol`.
pub(super) fn protocol(p: ProtocolArg) -> Protocol {
    match p {
        ProtocolArg::Ecdh => Protocol::EcdhIntersection,
        ProtocolArg::Kkrt => Protocol::Kkrt,
    }
}

/// The join type of `--join`.
pub(super) fn join(j: JoinArg) -> JoinType {
    match j {
        JoinArg::Inner => JoinType::Inner,
        JoinArg::Left => JoinType::Left,
        JoinArg::Right => JoinType::Right,
        JoinArg::Full => JoinType::Full,
        JoinArg::Difference => JoinType::Difference,
    }
}

/// Fails unless `output` can be written (its directory exists) and is none
/// of `inputs`, or is an in-memory output. A failure here comes before any
/// work.
pub(super) fn writable(output: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    if psi_table::memory::is_output(output) {
        // An in-memory output (`psi_link`): no file, nothing to overwrite.
        return Ok(());
    }
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "cannot write {}: directory {} does not exist",
            output.display(),
            dir.display()
        )));
    }
    if let Ok(out) = output.canonicalize() {
        for input in inputs {
            if input.canonicalize().ok().as_deref() == Some(out.as_path()) {
                return Err(CliError::Usage(format!(
                    "output {} is the input file; refusing to overwrite it",
                    output.display()
                )));
            }
        }
    }
    Ok(())
}

/// The table layer's output options, or a usage error naming the bad flag.
pub(super) fn output_options(args: &OutputArgs) -> Result<OutputOptions, CliError> {
    Ok(OutputOptions {
        format: args.output_format.map(|f| match f {
            FormatArg::Csv => OutputFormat::Csv,
            FormatArg::Parquet => OutputFormat::Parquet,
        }),
        delimiter: match args.delimiter.as_deref() {
            None => b',',
            Some(d) => delimiter(d)?,
        },
        header: !args.no_header,
        quote: match args.quote.unwrap_or(QuoteArg::Necessary) {
            QuoteArg::Necessary => QuoteStyle::Necessary,
            QuoteArg::Always => QuoteStyle::Always,
            QuoteArg::NonNumeric => QuoteStyle::NonNumeric,
            QuoteArg::Never => QuoteStyle::Never,
        },
        null: args.null.clone(),
        columns: args
            .columns
            .as_ref()
            .map(|c| c.iter().map(|s| s.trim().to_string()).collect()),
    })
}

/// The byte `--delimiter` names.
fn delimiter(text: &str) -> Result<u8, CliError> {
    if text.eq_ignore_ascii_case("tab") || text == "\\t" {
        return Ok(b'\t');
    }
    match text.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
        _ => Err(CliError::Usage(format!(
            "--delimiter {text:?}: give one ASCII character other than `\"` or a line break, \
             or `tab`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_flags_become_options() {
        let args = OutputArgs::default();
        assert_eq!(output_options(&args).unwrap(), OutputOptions::default());
        for (flag, byte) in [(";", b';'), ("\t", b'\t'), ("\\t", b'\t'), ("TAB", b'\t')] {
            let args = OutputArgs {
                delimiter: Some(flag.into()),
                ..OutputArgs::default()
            };
            assert_eq!(output_options(&args).unwrap().delimiter, byte, "{flag:?}");
        }
        for flag in ["", ";;", "\"", "\n", "é"] {
            let args = OutputArgs {
                delimiter: Some(flag.into()),
                ..OutputArgs::default()
            };
            let e = output_options(&args).unwrap_err();
            assert!(e.to_string().starts_with("--delimiter"), "{e}");
        }
        let args = OutputArgs {
            output_format: Some(FormatArg::Parquet),
            no_header: true,
            quote: Some(QuoteArg::NonNumeric),
            null: "NA".into(),
            columns: Some(vec![" b".into(), "a ".into()]),
            ..OutputArgs::default()
        };
        let o = output_options(&args).unwrap();
        assert_eq!(o.format, Some(OutputFormat::Parquet));
        assert!(!o.header);
        assert_eq!(o.quote, QuoteStyle::NonNumeric);
        assert_eq!(o.null, "NA");
        assert_eq!(o.columns, Some(vec!["b".to_string(), "a".to_string()]));
    }

    #[test]
    fn duplicates_per_key_count() {
        let table = |d| TableArgs {
            input: Some("in.csv".into()),
            keys: vec!["email".into()],
            spec: None,
            duplicates: d,
            rejects: None,
            mode: ModeArg::Intersection,
            sum_to: SumToArg::Server,
            min_intersection: 1,
            dp_epsilon: None,
            dp_sum_sensitivity: None,
        };
        assert_eq!(
            duplicates(&table(None), 1).unwrap(),
            (Duplicates::All, true)
        );
        assert_eq!(
            duplicates(&table(Some(DuplicatesArg::First)), 1).unwrap(),
            (Duplicates::First, false)
        );
        assert_eq!(
            duplicates(&table(None), 2).unwrap(),
            (Duplicates::Unique, false)
        );
        let e = duplicates(&table(Some(DuplicatesArg::All)), 2).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--duplicates is for a single key"));
    }
}
