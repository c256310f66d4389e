//! How a failed command ends: the engine's error kind decides the exit code (as it decides
//! the HTTP status), and under `--json` the error is one JSON object on stderr, with the same
//! `kind` an HTTP problem carries, so a script never has to parse prose.

use crate::{exit, forward, render, serve_cmd};
use loom_engine::{EngineError, ErrorKind};

/// The engine's error kind behind an error, whichever way it came (directly, through the
/// service, or answered by a server the command was forwarded to).
pub fn kind_of(e: &anyhow::Error) -> Option<ErrorKind> {
    if let Some(e) = e.downcast_ref::<EngineError>() {
        return Some(e.kind());
    }
    if let Some(e) = e.downcast_ref::<serve_cmd::CliKindError>() {
        return Some(e.0.kind);
    }
    e.downcast_ref::<forward::Remote>().and_then(|r| r.kind)
}

pub fn exit_code(kind: Option<ErrorKind>) -> u8 {
    match kind {
        Some(ErrorKind::Usage) | Some(ErrorKind::Conflict) => exit::USAGE,
        Some(ErrorKind::Busy) => exit::BUSY,
        Some(ErrorKind::Forbidden) => exit::REFUSED,
        Some(ErrorKind::Config) => exit::CONFIG,
        Some(ErrorKind::Refused) => exit::REFUSED,
        Some(ErrorKind::Bundle) => exit::BUNDLE,
        Some(ErrorKind::Internal) | None => exit::ERROR,
    }
}

/// Reports `e` on stderr, as text or as JSON, and returns the exit code.
pub fn report(e: &anyhow::Error, json: bool) -> u8 {
    let kind = kind_of(e);
    let code = exit_code(kind);
    let message = render::error(e);
    if json {
        print_json(
            kind.map_or("internal", loom_views::kind_name),
            message,
            code,
        );
    } else {
        errln!(
            "{} {message}",
            crate::color::paint_err(crate::color::Style::Red, "error:")
        );
    }
    code
}

/// A command line clap refused, under `--json`: a usage error like any other.
pub fn print_json(kind: &str, message: String, exit_code: u8) {
    let view = loom_views::ErrorView {
        kind: kind.to_owned(),
        message,
        exit_code,
    };
    match serde_json::to_string(&view) {
        Ok(text) => errln!("{text}"),
        Err(_) => errln!("error: {}", view.message),
    }
}

/// Whether the command line asks for JSON, read before (or without) parsing it, so that a
/// line clap refuses is reported in the form asked for too.
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).any(|a| a == "--json")
}

/// Reads a file the command line names. One that is not there (or is a directory) is the
/// command's mistake, a usage error naming it; another failure to read it is the disk's.
pub fn read_named(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::ErrorKind as K;
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if matches!(e.kind(), K::NotFound | K::IsADirectory | K::NotADirectory) => {
            let why = match e.kind() {
                K::NotFound => "no such file",
                _ => "not a file",
            };
            Err(
                EngineError::Usage(format!("{what} {}: {why}; check the path", path.display()))
                    .into(),
            )
        }
        Err(e) => Err(EngineError::Io {
            what: format!("cannot read {what} {}", path.display()),
            source: e,
        }
        .into()),
    }
}
