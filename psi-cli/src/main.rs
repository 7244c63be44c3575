//! `psi`: private set intersection between two organisations' tables. The
//! command is the library's [`psi_cli::cli`] (see `lib.rs` for the map).

fn main() -> std::process::ExitCode {
    psi_cli::cli()
}
