//! `psi token add`: a random partner token, printed once; only its SHA-256
//! goes into the token file.

use psi_server::auth::Tokens;

use crate::error::CliError;
use crate::plan::TokenAddPlan;

/// Adds a partner to the token file and prints the partner's token.
pub fn add(plan: TokenAddPlan) -> Result<(), CliError> {
    let path = &plan.tokens;
    let existing = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            CliError::Usage(format!("{}: the token file is not UTF-8", path.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot read the token file {}: {e}",
                path.display()
            )))
        }
    };
    let tokens = Tokens::parse(&existing)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    if tokens.contains(&plan.name) {
        return Err(CliError::Usage(format!(
            "{}: partner {} already has a token; remove its line first to replace it",
            path.display(),
            plan.name
        )));
    }
    let (token, line) = Tokens::make(&mut rand::rng(), &plan.name)
        .map_err(|e| CliError::Usage(format!("--name: {}", e.reason)))?;
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    psi_table::write_atomically(path, text.as_bytes())?;
    eprintln!(
        "added partner {} to {} (only the token's SHA-256 is stored); give them this token, \
         which is shown only now, for psi run --token-file:",
        plan.name,
        path.display()
    );
    println!("{token}");
    Ok(())
}
