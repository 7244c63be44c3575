//! Output options shared by `psi run` and `psi serve`.

use psi_table::{OutputFormat, OutputOptions, QuoteStyle};

use crate::error::CliError;

/// `--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// CSV.
    Csv,
    /// Apache Parquet (every column a nullable UTF-8 string).
    Parquet,
}

/// `--quote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuoteArg {
    /// Only fields that need it.
    Necessary,
    /// Every field.
    Always,
    /// Every field that is not a number.
    NonNumeric,
    /// Never.
    Never,
}

/// How the output file is written.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Output format (default: Parquet for a `.parquet` file name, else CSV).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output_format: Option<FormatArg>,
    /// CSV field delimiter: one ASCII character, or `tab` (default `,`).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Write CSV without a header row.
    #[arg(long)]
    pub no_header: bool,
    /// CSV quoting (default: where necessary).
    #[arg(long, value_enum, value_name = "STYLE")]
    pub quote: Option<QuoteArg>,
    /// What an absent value (an unlinked row's id, a placeholder row) is
    /// written as in CSV (default: empty).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub null: String,
    /// Which input columns to write, in this order (default: all, in input order).
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
}

impl OutputArgs {
    /// The table layer's options, or a usage error naming the bad flag.
    pub fn options(&self) -> Result<OutputOptions, CliError> {
        let delimiter = match self.delimiter.as_deref() {
            None => b',',
            Some("tab" | "\\t" | "\t") => b'\t',
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" => d.as_bytes()[0],
            Some(d) => {
                return Err(CliError::Usage(format!(
                    "--delimiter {d:?}: give one ASCII character other than a quote or newline, or `tab`"
                )))
            }
        };
        Ok(OutputOptions {
            format: self.output_format.map(|f| match f {
                FormatArg::Csv => OutputFormat::Csv,
                FormatArg::Parquet => OutputFormat::Parquet,
            }),
            delimiter,
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
