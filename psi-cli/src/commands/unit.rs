//! `psi serve --role linkage-unit` (the linkage unit) and `psi submit` (an
//! owner's upload and links).

use std::io::Write as _;

use psi_fuzzy::Encodings;
use psi_server::PsiServer;

use super::serve::shutdown_signal;
use crate::error::CliError;
use crate::plan::{SubmitPlan, UnitPlan};

/// Runs a linkage unit until Ctrl-C or SIGTERM.
pub async fn serve_unit(plan: UnitPlan) -> Result<(), CliError> {
    serve_unit_until(plan, shutdown_signal(), |_| ()).await
}

/// [`serve_unit`], until `stop` resolves; `listening` is told the bound
/// address (the embedded server, [`crate::embed::Server`]).
pub async fn serve_unit_until(
    plan: UnitPlan,
    stop: impl std::future::Future<Output = ()> + Send,
    listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), CliError> {
    let scheme = if plan.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let owners = plan.unit.owners.join(", ");
    let server = PsiServer::bind_unit(plan.listen, plan.unit, plan.config).await?;
    println!("listening on {scheme}://{}", server.local_addr());
    std::io::stdout().flush().map_err(|source| CliError::Io {
        what: "writing to stdout",
        source,
    })?;
    tracing::info!(%owners, "linkage unit waiting for the owners' encodings");
    listening(server.local_addr());
    server.run_until(stop).await?;
    Ok(())
}

/// Uploads our encodings, waits for the linkage, writes our links.
pub async fn submit(plan: SubmitPlan) -> Result<(), CliError> {
    // Read and check the file here, so that a wrong file is our error, named.
    let encodings = Encodings::read(&plan.encodings)?;
    let bytes = std::fs::read(&plan.encodings).map_err(|source| CliError::Io {
        what: "reading the encodings file",
        source,
    })?;
    eprintln!(
        "uploading {} encodings ({} bytes) to {}; waiting for the other owners and the linkage",
        encodings.len(),
        bytes.len(),
        plan.peer
    );
    let run = psi_server::submit_encodings(
        &plan.peer,
        &plan.config,
        bytes,
        plan.wait,
        std::time::Duration::from_secs(1),
    )
    .await?;
    let links = run.links_csv.lines().count().saturating_sub(1);
    psi_table::write_atomically(&plan.output, run.links_csv.as_bytes())?;
    eprintln!(
        "{links} of our {} rows are linked; wrote {} ({} bytes sent, {} received)",
        encodings.len(),
        plan.output.display(),
        run.traffic.bytes_sent,
        run.traffic.bytes_received
    );
    Ok(())
}
