//! Test guests for loom's runtime, kernel and engine tests, in one component.
//!
//! One component instead of one per behaviour keeps the nested guest build to a single crate;
//! the behaviour is picked per call from the task title (read through `view::task()`), so a
//! test chooses it by naming its task:
//!
//! - `hostile:loop`: `next` and `check` spin forever (fuel must stop them);
//! - `hostile:memory`: they grow memory without bound (the memory cap must stop them);
//! - `hostile:trap`: they panic (the guest traps);
//! - `hostile:wasi`: they read the wall clock through std, which calls a WASI import loom
//!   does not grant (the trapping stub must stop them);
//! - `hostile:big-finish`: `next` finishes with a 50 MB text;
//! - `hostile:big-note`: `apply` returns a 45 MB note;
//! - `hostile:many-facts`: `apply` adds 1,000 new facts each time (kind `bulk`), so a run
//!   passes loom's facts-per-run limit on the eleventh;
//! - `hostile:many-changes`: `apply` returns 1,001 notes at once;
//! - `hostile:many-violations`: `check` reports 101 violations;
//! - `hostile:fail`: `next` reports a failure of its own code (`failure`, with a traceback)
//!   after writing two `log` lines; `hostile:apply-fail` and `hostile:check-fail` do the same
//!   in `apply` and in `check` (once a result is stored);
//! - `hostile:log-flood`: `next` writes 1,000 long `log` lines, then fails;
//! - `hostile:undeclared-command`: `next` asks to run command `deploy`, which its manifest's
//!   needs do not declare;
//! - `edits:tree`: well-behaved, but its agent step edits the working tree, so it is not
//!   retry-safe (a crash during it leaves an uncertain effect for a human);
//! - anything else: a tiny well-behaved bundle (see [`Testkit`]).
//!
//! Every mode writes a `log` line before it misbehaves, so a fault's message can show it.
//! It targets `loom:bundle@0.2.0`; `bundles/testkit-0.1` is the same guest kept on 0.1.0.
//! It is written against raw `wit-bindgen` rather than `loom-sdk` on purpose: the runtime's
//! tests must not depend on the SDK being right.

#![allow(unsafe_code)] // `export!` generates the `#[unsafe(no_mangle)]` ABI glue.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "loom:bundle/bundle",
});

use exports::loom::bundle::{logic, rules};
use loom::bundle::log::{self, Level};
use loom::bundle::types::{
    AgentCall, ApplyError, Arg, ArgValue, Change, CommandCall, Decider, Effect, EffectStep,
    FactWrite, Failure, GateDecl, GateStep, Manifest, Needs, NextStep, Outcome, Param, ParamType,
    Risk, RuleDecl, SettingDecl, StepDecl, Template, TickToken, Violation,
};
use loom::bundle::view;

/// The well-behaved bundle: phase `work` asks a `worker` agent once, stores its reply as fact
/// `result/last`, opens gate `finish`; an approval moves to phase `done` and finishes, a
/// rejection goes back to `work`. Rule `no-forbidden` refuses any `result` fact whose value
/// contains `FORBIDDEN`. The gate's summary starts with setting `summary-prefix` (declared
/// with a default).
struct Testkit;

/// What the task title asks this component to do.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    Loop,
    Memory,
    Trap,
    Wasi,
    BigFinish,
    BigNote,
    ManyFacts,
    ManyChanges,
    ManyViolations,
    Fail,
    ApplyFail,
    CheckFail,
    LogFlood,
    UndeclaredCommand,
}

fn mode() -> Mode {
    let title = view::task().title;
    if title.contains("hostile:loop") {
        Mode::Loop
    } else if title.contains("hostile:memory") {
        Mode::Memory
    } else if title.contains("hostile:trap") {
        Mode::Trap
    } else if title.contains("hostile:wasi") {
        Mode::Wasi
    } else if title.contains("hostile:big-finish") {
        Mode::BigFinish
    } else if title.contains("hostile:big-note") {
        Mode::BigNote
    } else if title.contains("hostile:many-facts") {
        Mode::ManyFacts
    } else if title.contains("hostile:many-changes") {
        Mode::ManyChanges
    } else if title.contains("hostile:many-violations") {
        Mode::ManyViolations
    } else if title.contains("hostile:apply-fail") {
        Mode::ApplyFail
    } else if title.contains("hostile:check-fail") {
        Mode::CheckFail
    } else if title.contains("hostile:fail") {
        Mode::Fail
    } else if title.contains("hostile:log-flood") {
        Mode::LogFlood
    } else if title.contains("hostile:undeclared-command") {
        Mode::UndeclaredCommand
    } else {
        Mode::Good
    }
}

/// Misbehaves as `mode` says; returns for [`Mode::Good`] and for the modes that misbehave
/// only in what they return (those are handled where they return it).
fn misbehave(mode: Mode) {
    if mode != Mode::Good {
        log::write(Level::Info, "testkit is about to misbehave");
    }
    match mode {
        Mode::Good
        | Mode::BigFinish
        | Mode::BigNote
        | Mode::ManyFacts
        | Mode::ManyChanges
        | Mode::ManyViolations
        | Mode::Fail
        | Mode::ApplyFail
        | Mode::CheckFail
        | Mode::LogFlood
        | Mode::UndeclaredCommand => {}
        Mode::Loop => {
            let mut n = 0u64;
            loop {
                // black_box keeps the optimiser from proving the loop pointless.
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Mode::Memory => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Mode::Trap => panic!("testkit was asked to trap"),
        Mode::Wasi => {
            let now = std::time::SystemTime::now();
            std::hint::black_box(now);
        }
    }
}

const FINISH: &str = "finish";

/// The failure the `*fail` modes report, after a warning in the log.
fn failure(call: &str) -> Failure {
    log::write(Level::Warn, &format!("{call} is going to fail"));
    Failure {
        message: format!("testkit was asked to fail in {call}"),
        traceback: Some(format!("at testkit::{call}\nat the host")),
    }
}

/// Setting `summary-prefix`, a JSON string (the declared default when the project sets none).
fn summary_prefix() -> String {
    let text = view::setting("summary-prefix").unwrap_or_default();
    // No serde in this guest: a plain JSON string without escapes is all a test sets.
    text.trim().trim_matches('"').to_owned()
}

impl logic::Guest for Testkit {
    fn manifest() -> Result<Manifest, Failure> {
        Ok(Manifest {
            name: "testkit".into(),
            version: "0.1.0".into(),
            phases: vec!["work".into(), "done".into()],
            steps: vec![StepDecl {
                name: "work".into(),
                phase: "work".into(),
                role: Some("worker".into()),
                template: Some("work".into()),
                doc: "ask the worker to do the task".into(),
            }],
            gates: vec![GateDecl {
                name: FINISH.into(),
                decider: Decider::Human,
                risk: Risk::Low,
                role: None,
                editable: false,
                doc: "a person accepts the result".into(),
            }],
            rules: vec![RuleDecl {
                id: "no-forbidden".into(),
                doc: "no result may contain the word FORBIDDEN".into(),
            }],
            templates: vec![Template {
                id: "work".into(),
                params: vec![Param {
                    name: "task".into(),
                    type_: ParamType::Text,
                    required: true,
                    doc: "what to do".into(),
                }],
                body: "Do this: {{task}}".into(),
            }],
            needs: Needs {
                commands: vec![],
                settings: vec![SettingDecl {
                    key: "summary-prefix".into(),
                    type_: ParamType::Text,
                    default: Some("\"accept this result?\"".into()),
                    doc: "what the finish gate's summary starts with".into(),
                }],
            },
        })
    }

    fn next(_tick: TickToken) -> Result<NextStep, Failure> {
        let mode = mode();
        misbehave(mode);
        match mode {
            // 50 MB fits under the default 64 MiB memory cap, so the call completes and hands
            // the whole text back: only loom's limit on finish texts can stop it.
            Mode::BigFinish => return Ok(NextStep::Finish("x".repeat(50_000_000))),
            Mode::Fail => return Err(failure("next")),
            Mode::LogFlood => {
                for i in 0..1_000 {
                    log::write(Level::Debug, &format!("line {i} {}", "x".repeat(5_000)));
                }
                return Err(failure("next"));
            }
            Mode::UndeclaredCommand => {
                return Ok(NextStep::Effect(EffectStep {
                    step: "work".into(),
                    effect: Effect::Command(CommandCall {
                        name: "deploy".into(),
                        retry_safe: true,
                    }),
                }))
            }
            _ => {}
        }
        Ok(Self::next_good())
    }

    fn apply(tick: TickToken, step: String, outcome: Outcome) -> Result<Vec<Change>, ApplyError> {
        Self::apply_good(tick, step, outcome)
    }
}

impl Testkit {
    fn next_good() -> NextStep {
        let phase = view::phase();
        if phase == "done" {
            return NextStep::Finish("the result was accepted".into());
        }
        if view::facts("result").is_empty() {
            return NextStep::Effect(EffectStep {
                step: "work".into(),
                effect: Effect::Agent(AgentCall {
                    role: "worker".into(),
                    template: "work".into(),
                    args: vec![Arg {
                        name: "task".into(),
                        value: ArgValue::Text(view::task().title),
                    }],
                    edits_tree: view::task().title.contains("edits:tree"),
                }),
            });
        }
        let pending = view::latest_gate(FINISH)
            .is_some_and(|g| g.status == loom::bundle::types::GateStatus::Pending);
        if pending {
            // The engine should not ask while a gate is pending; say so rather than guess.
            return NextStep::Fail("asked for a next step while gate finish is pending".into());
        }
        let result = view::fact("result", "last")
            .map(|f| f.value)
            .unwrap_or_default();
        NextStep::Gate(GateStep {
            gate: FINISH.into(),
            summary: format!("{} {result}", summary_prefix()),
            require_human: false,
        })
    }

    fn apply_good(
        tick: TickToken,
        step: String,
        outcome: Outcome,
    ) -> Result<Vec<Change>, ApplyError> {
        let mode = mode();
        misbehave(mode);
        if mode == Mode::ApplyFail {
            return Err(ApplyError::Failed(failure("apply")));
        }
        // Faults only where an effect's result is in hand, for tests that a paid result
        // survives the fault.
        if view::task().title.contains("hostile:apply-trap") {
            panic!("testkit was asked to trap in apply");
        }
        match mode {
            Mode::BigNote => return Ok(vec![Change::Note("n".repeat(45_000_000))]),
            Mode::ManyChanges => return Ok(vec![Change::Note("n".into()); 1_001]),
            Mode::ManyFacts => {
                // Keys from the tick's seq: new facts every tick, without reading any.
                return Ok((0..1_000)
                    .map(|i| {
                        Change::PutFact(FactWrite {
                            kind: "bulk".into(),
                            key: format!("{}-{i}", tick.seq),
                            value: "1".into(),
                        })
                    })
                    .collect());
            }
            _ => {}
        }
        match outcome {
            Outcome::Agent(reply) => Ok(vec![Change::PutFact(FactWrite {
                kind: "result".into(),
                key: "last".into(),
                // Fact values are JSON text.
                value: json_string(&reply.text),
            })]),
            // A bundle may refuse a decision it cannot use: nothing of it must be recorded.
            Outcome::Gate(d)
                if d.gate == FINISH
                    && !d.approved
                    && view::task().title.contains("refuse:bare-rejection")
                    && !d.note.as_deref().unwrap_or("").contains("because") =>
            {
                Err(ApplyError::Refused(
                    "a rejection of finish must say why, with \"because\"".into(),
                ))
            }
            Outcome::Gate(d) if d.gate == FINISH && d.approved => {
                Ok(vec![Change::Phase("done".into())])
            }
            Outcome::Gate(d) if d.gate == FINISH => Ok(vec![
                Change::DropFact(loom::bundle::types::FactRef {
                    kind: "result".into(),
                    key: "last".into(),
                }),
                Change::Note(format!("rejected: {}", d.note.unwrap_or_default())),
            ]),
            _ => Err(ApplyError::Refused(format!(
                "testkit has no use for that outcome of step {step}"
            ))),
        }
    }
}

impl rules::Guest for Testkit {
    fn check(_tick: TickToken) -> Result<Vec<Violation>, Failure> {
        let mode = mode();
        misbehave(mode);
        if view::task().title.contains("hostile:check-trap") && !view::facts("result").is_empty() {
            panic!("testkit was asked to trap in check");
        }
        if mode == Mode::CheckFail && !view::facts("result").is_empty() {
            return Err(failure("check"));
        }
        if mode == Mode::ManyViolations {
            return Ok((0..101)
                .map(|i| Violation {
                    rule: "no-forbidden".into(),
                    message: format!("complaint {i}"),
                    rows: vec![],
                })
                .collect());
        }
        Ok(view::facts("result")
            .into_iter()
            .filter(|f| f.value.contains("FORBIDDEN"))
            .map(|f| Violation {
                rule: "no-forbidden".into(),
                message: format!("result {} contains FORBIDDEN", f.key),
                rows: vec![format!("fact:result/{}", f.key)],
            })
            .collect())
    }
}

/// `text` as a JSON string literal (no serde in this guest, to keep it tiny).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// Exported only when built for wasm: on the host (`cargo test --workspace`, clippy) the
// component's export names, which contain `:` and `@`, are not valid native symbol names.
#[cfg(target_family = "wasm")]
export!(Testkit);
