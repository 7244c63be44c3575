//! Output flags shared by `psi run` and `psi serve`: the format of the rows
//! written and, for CSV, its delimiter, header, quoting and null text. They
//! become a [`psi_table::OutputOptions`]; the writing is `psi-table`'s.

use psi_table::{OutputFormat, OutputOptions, QuoteStyle};

use crate::error::CliError;

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Delimited text.
    Csv,
    /// Apache Parquet: every column a nullable UTF-8 string, absent values
    /// real nulls.
    Parquet,
}

/// `--quote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuoteArg {
    /// Only fields holding the delimiter, a quote or a line break.
    Necessary,
    /// Every field.
    Always,
    /// Every field that is not a number (empty fields too).
    NonNumeric,
    /// No field; one that would need quotes is an error.
    Never,
}

/// How the output file is written. The CSV flags are ignored for Parquet.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Output format [default: parquet for a file name ending in `.parquet`,
    /// else csv].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output_format: Option<FormatArg>,
    /// CSV field delimiter: one ASCII character other than `"` or a line
    /// break; `tab` or `\t` for a tab [default: ,].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Write CSV without the header row [default: with a header row].
    #[arg(long)]
    pub no_header: bool,
    /// CSV quoting [default: necessary].
    #[arg(long, value_enum, value_name = "STYLE")]
    pub quote: Option<QuoteArg>,
    /// What an absent value (a missing id, a placeholder row's fields) is
    /// written as in CSV; an empty input value stays empty [default: empty].
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub null: String,
    /// Which input columns to write, in this order (names are trimmed)
    /// [default: all, in input order].
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
}

impl OutputArgs {
    /// The table layer's options, or a usage error naming the bad flag.
    pub fn options(&self) -> Result<OutputOptions, CliError> {
        Ok(OutputOptions {
            format: self.output_format.map(|f| match f {
                FormatArg::Csv => OutputFormat::Csv,
                FormatArg::Parquet => OutputFormat::Parquet,
            }),
            delimiter: match self.delimiter.as_deref() {
                None => b',',
                Some(d) => delimiter(d)?,
            },
            header: !self.no_header,
            quote: match self.quote.unwrap_or(QuoteArg::Necessary) {
                QuoteArg::Necessary => QuoteStyle::Necessary,
                QuoteArg::Always => QuoteStyle::Always,
                QuoteArg::NonNumeric => QuoteStyle::NonNumeric,
                QuoteArg::Never => QuoteStyle::Never,
            },
            null: self.null.clone(),
            columns: self
                .columns
                .as_ref()
                .map(|c| c.iter().map(|s| s.trim().to_string()).collect()),
        })
    }
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
    fn flags_become_options() {
        let args = OutputArgs::default();
        assert_eq!(args.options().unwrap(), OutputOptions::default());
        for (flag, byte) in [(";", b';'), ("\t", b'\t'), ("\\t", b'\t'), ("TAB", b'\t')] {
            let args = OutputArgs {
                delimiter: Some(flag.into()),
                ..OutputArgs::default()
            };
            assert_eq!(args.options().unwrap().delimiter, byte, "{flag:?}");
        }
        for flag in ["", ";;", "\"", "\n", "é"] {
            let args = OutputArgs {
                delimiter: Some(flag.into()),
                ..OutputArgs::default()
            };
            let e = args.options().unwrap_err();
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
        let o = args.options().unwrap();
        assert_eq!(o.format, Some(OutputFormat::Parquet));
        assert!(!o.header);
        assert_eq!(o.quote, QuoteStyle::NonNumeric);
        assert_eq!(o.null, "NA");
        assert_eq!(o.columns, Some(vec!["b".to_string(), "a".to_string()]));
    }
}
