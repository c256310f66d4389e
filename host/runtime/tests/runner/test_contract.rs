//! Which components are accepted: the contract version, non-components, inspection.

use crate::support::{runtime, Run, TestResult};
use loom_kernel::hash::sha256_hex;
use loom_runtime::RuntimeError;

/// A component that exports a `logic` instance of a contract version this loom does not know.
const FUTURE: &str = r#"
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $logic (export "manifest" (func $f)))
  (export "loom:bundle/logic@9.0.0" (instance $logic))
)
"#;

fn short(wasm: &[u8]) -> String {
    format!("sha256:{}", &sha256_hex(wasm)[..12])
}

#[test]
fn an_unsupported_version_is_refused_with_both_versions() {
    let rt = runtime();
    let err = rt.load_bundle(FUTURE.as_bytes()).err();
    let Some(err @ RuntimeError::UnsupportedVersion { .. }) = err else {
        panic!("expected UnsupportedVersion, got {err:?}");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "bundle {} targets loom:bundle@9.0.0, this loom supports 0.1.x and 0.2.x",
            short(FUTURE.as_bytes())
        )
    );
    assert!(matches!(
        rt.load_invariants(FUTURE.as_bytes()),
        Err(RuntimeError::UnsupportedVersion { .. })
    ));
}

#[test]
fn garbage_and_core_modules_are_not_components() {
    let rt = runtime();
    let garbage = rt.load_bundle(b"\x7fELF\x02\x01\x01 not wasm").err();
    assert!(
        matches!(&garbage, Some(e @ RuntimeError::NotAComponent { .. }) if e.to_string().contains("magic bytes")),
        "{garbage:?}"
    );
    let core_module = b"\0asm\x01\0\0\0";
    let core = rt.load_bundle(core_module).err();
    assert!(
        matches!(&core, Some(e @ RuntimeError::NotAComponent { .. }) if e.to_string().contains("core WebAssembly module")),
        "{core:?}"
    );
    let truncated = rt.load_bundle(b"\0asm\x0d\0\x01\0\x01").err();
    assert!(
        matches!(truncated, Some(RuntimeError::Invalid { .. })),
        "{truncated:?}"
    );
    assert!(rt.inspect(b"nope").is_err());
}

#[test]
fn a_component_without_the_contract_is_not_a_bundle() {
    let rt = runtime();
    let err = rt.load_bundle(b"(component)").err();
    assert!(
        matches!(err, Some(RuntimeError::NotABundle { .. })),
        "{err:?}"
    );
}

#[test]
fn importing_a_view_function_loom_lacks_fails_at_load() {
    let rt = runtime();
    let wat =
        r#"(component (import "loom:bundle/view@0.1.0" (instance (export "teleport" (func)))))"#;
    let err = rt.load_bundle(wat.as_bytes()).err();
    assert!(
        matches!(&err, Some(e @ RuntimeError::Link { .. }) if e.to_string().contains("teleport")),
        "{err:?}"
    );
}

/// A rules-only component (world `invariants`), written by hand, of a newer patch version:
/// `check` returns an empty list.
const RULES_ONLY: &str = r#"
(component
  (type $tick (record (field "run" u64) (field "seq" u64) (field "unix-ms" u64)))
  (type $violation (record (field "rule" string) (field "message" string) (field "rows" (list string))))
  (core module $m
    (memory (export "memory") 1)
    ;; the list result goes to a return area at offset 8: pointer 0, length 0
    (func (export "check") (param i64 i64 i64) (result i32) i32.const 8)
  )
  (core instance $i (instantiate $m))
  (func $check (param "tick" $tick) (result (list $violation))
    (canon lift (core func $i "check") (memory (core memory $i "memory"))))
  (instance $rules
    (export "tick-token" (type $tick))
    (export "violation" (type $violation))
    (export "check" (func $check)))
  (export "loom:bundle/rules@0.1.3" (instance $rules))
)
"#;

#[test]
fn a_rules_only_component_of_a_newer_patch_loads_as_invariants() -> TestResult {
    let rt = runtime();
    let rules = rt.load_invariants(RULES_ONLY.as_bytes())?;
    assert_eq!(rules.label(), short(RULES_ONLY.as_bytes()));
    let run = Run::start("anything")?;
    assert_eq!(rules.check_rules(&run.token()?, &run.view())?, []);
    // It is no bundle: it has no logic.
    let err = rt.load_bundle(RULES_ONLY.as_bytes()).err();
    assert!(
        matches!(&err, Some(e @ RuntimeError::Link { .. }) if e.to_string().contains("logic")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn inspect_lists_the_stubbed_wasi_imports() -> TestResult {
    let rt = runtime();
    let report = rt.inspect(loom_guests::TESTKIT)?;
    assert_eq!(report.loom_version.as_deref(), Some("0.2.0"));
    assert_eq!(
        rt.inspect(loom_guests::TESTKIT_0_1)?
            .loom_version
            .as_deref(),
        Some("0.1.0")
    );
    assert!(report.supported && report.is_bundle && report.has_rules);
    assert_eq!(report.hash, sha256_hex(loom_guests::TESTKIT));
    let view = report
        .imports
        .iter()
        .find(|i| i.name.starts_with("loom:bundle/view@"));
    assert!(
        view.is_some_and(|v| !v.stubbed && v.functions.contains(&"facts".to_owned())),
        "{view:?}"
    );
    let stubbed: Vec<&str> = report
        .imports
        .iter()
        .filter(|i| i.stubbed)
        .map(|i| i.name.as_str())
        .collect();
    assert!(
        stubbed.iter().all(|n| n.starts_with("wasi:")),
        "{stubbed:?}"
    );
    assert!(
        stubbed
            .iter()
            .any(|n| n.starts_with("wasi:cli/environment@")),
        "{stubbed:?}"
    );
    assert!(stubbed.len() >= 5, "{stubbed:?}");
    let logic = report
        .exports
        .iter()
        .find(|e| e.name.starts_with("loom:bundle/logic@"));
    assert_eq!(
        logic.map(|l| l.functions.clone()),
        Some(vec!["manifest".into(), "next".into(), "apply".into()])
    );

    // An unsupported component is described, not refused.
    let future = rt.inspect(FUTURE.as_bytes())?;
    assert_eq!(future.loom_version.as_deref(), Some("9.0.0"));
    assert!(!future.supported);
    Ok(())
}
