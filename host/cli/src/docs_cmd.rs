//! `loom completions SHELL` and `loom man`: generated from the command line's own
//! definition, so they never drift from `--help`.

use crate::args::Cli;
use crate::exit;
use anyhow::{Context, Result};
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "loom", &mut out);
    write(&out)
}

pub fn man() -> Result<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("cannot render the manual page")?;
    write(&out)
}

/// Writes to stdout; a closed pipe (`loom man | head`) is not an error.
fn write(bytes: &[u8]) -> Result<u8> {
    use std::io::Write;
    let mut o = std::io::stdout();
    let _ = o.write_all(bytes).and_then(|_| o.flush());
    Ok(exit::OK)
}
