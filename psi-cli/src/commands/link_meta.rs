//! `linkage.json`, the file that marks a party's linkage spill complete
//! ([`super::link_spill`]): the configuration it was made for, the input's
//! counts and the bucket count; and the sweep of what an interrupted process
//! left half-written beside it.

use std::path::Path;

use psi_core::linkage::bucketed::policy;
use psi_core::linkage::Duplicates;
use psi_table::LinkageSpec;
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::report::InputReport;

/// The version of `linkage.json`'s layout.
pub const FORMAT: u32 = 1;
/// The file that marks a complete spill.
pub const META: &str = "linkage.json";

/// What `linkage.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkMeta {
    /// [`FORMAT`].
    pub format: u32,
    /// The keys and the duplicates policy the spill was made for.
    pub config: String,
    /// The input's counts.
    pub report: InputReport,
    /// The bucket count, once the first bucket was asked for.
    pub count: Option<u16>,
}

/// The configuration text of a spill of `spec` under `duplicates`.
pub fn config(spec: &LinkageSpec, duplicates: Duplicates) -> String {
    let keys: Vec<String> = spec.keys().iter().map(|k| k.canonical()).collect();
    format!(
        "keys {}; duplicates {:?}",
        keys.join(" | "),
        policy(keys.len(), duplicates)
    )
}

impl LinkMeta {
    /// The meta of a spill of `spec` just made.
    pub fn new(spec: &LinkageSpec, duplicates: Duplicates, report: InputReport) -> Self {
        LinkMeta {
            format: FORMAT,
            config: config(spec, duplicates),
            report,
            count: None,
        }
    }

    /// The same with another bucket count.
    pub fn with_count(&self, count: Option<u16>) -> Self {
        LinkMeta {
            count,
            ..self.clone()
        }
    }

    /// Writes it to `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<(), CliError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| CliError::Io {
            what: "writing the linkage state",
            source: std::io::Error::other(e),
        })?;
        psi_table::write_atomically(&dir.join(META), &text)?;
        Ok(())
    }
}

/// Removes what an interrupted process left half-written in a linkage
/// directory: temporary files and the output's sort directories.
pub fn sweep(dir: &Path) {
    for sub in [dir.to_path_buf(), dir.join("links")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".psi-") {
                let p = e.path();
                let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
            }
        }
    }
}
