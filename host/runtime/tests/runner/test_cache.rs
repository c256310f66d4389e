//! Compiled components are cached by content and reused across runtimes.

use crate::support::TestResult;
use loom_runtime::{Limits, NextStep, Runtime};

fn cwasm_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, std::io::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            files.push(path);
        }
    }
    Ok(files)
}

#[test]
fn second_load_reuses_the_compiled_code() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = Runtime::new(Limits::default(), Some(dir.path().to_owned()))?;
    first.load_bundle(loom_guests::TESTKIT)?;
    assert_eq!(
        (first.cache_stats().compiled, first.cache_stats().loaded),
        (1, 0)
    );
    let files = cwasm_files(dir.path())?;
    assert_eq!(files.len(), 1);
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        name.starts_with(&loom_kernel::hash::sha256_hex(loom_guests::TESTKIT)),
        "{name}"
    );

    // A new runtime (as in a new process) loads it without compiling, and it works.
    let second = Runtime::new(Limits::default(), Some(dir.path().to_owned()))?;
    let bundle = second.load_bundle(loom_guests::TESTKIT)?;
    assert_eq!(
        (second.cache_stats().compiled, second.cache_stats().loaded),
        (0, 1)
    );
    let run = crate::support::Run::start("from cache")?;
    assert!(matches!(
        bundle.next(&run.token()?, &run.view())?,
        NextStep::Effect(_)
    ));
    Ok(())
}

#[test]
fn a_damaged_entry_is_compiled_again() -> TestResult {
    let dir = tempfile::tempdir()?;
    Runtime::new(Limits::default(), Some(dir.path().to_owned()))?
        .load_bundle(loom_guests::TESTKIT)?;
    let files = cwasm_files(dir.path())?;
    let mut bytes = std::fs::read(&files[0])?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&files[0], &bytes)?;

    let rt = Runtime::new(Limits::default(), Some(dir.path().to_owned()))?;
    rt.load_bundle(loom_guests::TESTKIT)?;
    assert_eq!((rt.cache_stats().compiled, rt.cache_stats().loaded), (1, 0));
    // ... and the entry was rewritten, so the next runtime loads it.
    let again = Runtime::new(Limits::default(), Some(dir.path().to_owned()))?;
    again.load_bundle(loom_guests::TESTKIT)?;
    assert_eq!(again.cache_stats().loaded, 1);
    Ok(())
}
