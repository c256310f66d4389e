use crate::common::*;

fn replies_costing(cost: &str) -> String {
    let r = |role: &str, text: &str| {
        format!("[[reply]]\nrole = \"{role}\"\n{cost}\ntext = '''\n{text}\n'''\n\n")
    };
    [
        r("planner", "1. fix the even case"),
        r("implementer", FIX_EVEN),
        r("reviewer", r#"{"findings": []}"#),
    ]
    .concat()
}

fn ledger_meta(dir: &std::path::Path, step: &str) -> Vec<serde_json::Value> {
    let log: serde_json::Value =
        serde_json::from_slice(&loom(dir, &["log", "--json"]).stdout).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap().clone())
        .filter(|l| l["step"] == step)
        .map(|l| l["meta"].clone())
        .collect()
}

#[test]
fn the_budget_refuses_the_tick_that_would_overspend_it() {
    let (_tmp, dir) = project(
        &config("supervised", "[budget]\nmax_usd = 0.05\n"),
        &replies_costing("cost_usd = 0.03"),
    );
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    let out = expect_code(&o, 11);
    let s = status_json(&dir);
    let v = &s["violations"][0];
    assert_eq!(v["rule"], "budget", "{out}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("$0.0600") && msg.contains("$0.0500"), "{msg}");
    // The plan (0.03) committed; the implementer's answer (0.06 in all) was refused, and the
    // ledger says so.
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let statuses: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap().clone())
        .map(|l| {
            (
                l["step"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("plan".into(), "done".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("implement".into(), "refused".into())),
        "{statuses:?}"
    );
    assert_replays_identically(&dir);
}

#[test]
fn a_budget_raised_and_resumed_is_recorded_and_the_run_replays() {
    let (_tmp, dir) = project(
        &config("supervised", "[budget]\nmax_usd = 0.05\n"),
        &replies_costing("cost_usd = 0.03"),
    );
    expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    // What the message advises: raise the budget and resume.
    std::fs::write(
        dir.join("loom.toml"),
        config("supervised", "[budget]\nmax_usd = 1.0\n"),
    )
    .unwrap();
    let o = loom(&dir, &["resume"]);
    expect_code(&o, 10);
    // The refused reply was paid for: the resume applies it instead of buying it again.
    let implement = ledger_meta(&dir, "implement");
    assert_eq!(implement.len(), 2, "{implement:?}");
    assert_eq!(implement[1]["reused_from"], 1, "{implement:?}");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let resume = log
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tick"]["kind"] == "resume")
        .unwrap();
    let changes = resume["tick"]["changes"].to_string();
    assert!(
        changes.contains("\"op\":\"options\"") && changes.contains("1.0"),
        "the new caps are in the resume's tick: {changes}"
    );
    // The replay holds the run to the caps in force at each tick, whatever the config says now.
    std::fs::write(
        dir.join("loom.toml"),
        config("supervised", "[budget]\nmax_usd = 0.01\n"),
    )
    .unwrap();
    assert_replays_identically(&dir);
}

#[test]
fn a_price_table_costs_calls_whose_provider_reports_none() {
    let (_tmp, dir) = project(
        &config("supervised", "[prices.m1]\ninput = 3.0\noutput = 15.0\n"),
        &replies_costing("model = \"m1\"\ninput_tokens = 1000\noutput_tokens = 100"),
    );
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    expect_code(&o, 10);
    let plan = &ledger_meta(&dir, "plan")[0];
    // 1000 × $3/M + 100 × $15/M
    assert_eq!(plan["cost_usd"], 0.0045);
    assert_eq!(plan["cost_source"], "price table");
    assert_replays_identically(&dir);
}

#[test]
fn a_failing_provider_falls_back_to_the_next_in_the_chain() {
    // The planner meets an overloaded first provider; the implementer a permanent refusal.
    let down = [
        ("planner", "transient", "529 overloaded"),
        ("implementer", "permanent", "400 invalid request"),
        ("reviewer", "transient", "529 overloaded"),
    ]
    .map(|(r, kind, text)| {
        let wait = if kind == "transient" {
            "retry_after_ms = 5\n"
        } else {
            ""
        };
        format!("[[reply]]\nrole = \"{r}\"\nerror = \"{kind}\"\n{wait}text = \"{text}\"\n\n")
    })
    .concat();
    let cfg = "policy = \"supervised\"\n\
               default_chain = [\"scripted:.loom/down.toml\", \"scripted:.loom/replies.toml\"]\n\
               [commands]\ntest = \"python3 -m unittest -q\"\n";
    let (_tmp, dir) = project(cfg, &replies_costing(""));
    std::fs::write(dir.join(".loom/down.toml"), down).unwrap();
    let o = loom(&dir, &["run", "Fix median() for even-length lists"]);
    expect_code(&o, 10);
    let plan = &ledger_meta(&dir, "plan")[0];
    let attempts = plan["attempts"].as_array().unwrap();
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    // Two retries of the transient error (max_retries = 2), then the next provider answers.
    assert_eq!(
        outcomes,
        ["transient", "transient", "transient", "ok"],
        "{plan}"
    );
    assert!(attempts[0]["message"].as_str().unwrap().contains("529"));
    // A permanent error falls back at once; the ledger row shows both calls.
    let implement = &ledger_meta(&dir, "implement")[0];
    let outcomes: Vec<&str> = implement["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["permanent", "ok"], "{implement}");
    // Each failed call is a ledger row of its own, in the answer's tick: `loom log` shows why
    // the fallback happened.
    let text_log = text(&loom(&dir, &["log"]));
    for n in 1..=3 {
        let row = format!(
            "ledger r1/plan#1.1/call{n} attempt 1 agent-call failed: scripted: transient error: 529 overloaded"
        );
        assert!(text_log.contains(&row), "{row}\n{text_log}");
    }
    assert!(
        text_log.contains(
            "ledger r1/implement#1.1/call1 attempt 1 agent-call failed: scripted: 400 invalid request"
        ),
        "{text_log}"
    );
    assert_replays_identically(&dir);
}

#[test]
fn providers_check_probes_each_configured_provider_without_a_billed_call() {
    let cfg = "default_chain = [\"scripted:.loom/replies.toml\", \"ollama:llama3.2?base=http://127.0.0.1:9\"]\n\
               [agents.reviewer]\nchain = [\"scripted:.loom/missing.toml\"]\n";
    let (_tmp, dir) = project(cfg, &replies_costing(""));
    let o = loom(&dir, &["providers", "check"]);
    let out = expect_code(&o, 3);
    assert!(
        out.contains("ok   scripted:.loom/replies.toml  (roles: default)"),
        "{out}"
    );
    assert!(out.contains("3 canned replies"), "{out}");
    assert!(
        out.contains("FAIL ollama:llama3.2") && out.contains("ollama serve"),
        "{out}"
    );
    assert!(
        out.contains("FAIL scripted:.loom/missing.toml  (roles: reviewer)"),
        "{out}"
    );
    let o = loom(&dir, &["providers", "check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["ok"], true);
}

#[test]
fn a_crash_after_the_provider_answered_is_retried_as_a_second_attempt() {
    let replies = format!("log = \"calls.jsonl\"\n\n{}", replies_costing(""));
    let (_tmp, dir) = project(&config("supervised", ""), &replies);
    // The process dies right after the planner answered, before the answer was committed.
    let o = std::process::Command::new(LOOM)
        .args(["run", "Fix median() for even-length lists"])
        .current_dir(&dir)
        .env("LOOM_FAILPOINT", "effect-performed")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), None, "it was killed: {}", text(&o));
    let calls = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap();
    assert_eq!(calls.lines().count(), 1);

    expect_code(&loom(&dir, &["resume"]), 10);
    let calls = std::fs::read_to_string(dir.join(".loom/calls.jsonl")).unwrap();
    let keys: Vec<String> = calls
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["effect_key"].to_string())
        .collect();
    // Asked again, under the same effect key as attempt 2: both calls are on record, and no
    // other call was ever repeated.
    assert_eq!(keys[..2], [r#""r1/plan#1.1""#, r#""r1/plan#1.2""#]);
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    let log: serde_json::Value =
        serde_json::from_slice(&loom(&dir, &["log", "--json"]).stdout).unwrap();
    let plan: Vec<(u64, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["ledger"].as_array().unwrap().clone())
        .filter(|l| l["step"] == "plan")
        .map(|l| {
            (
                l["attempt"].as_u64().unwrap(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(plan, [(1, "superseded".into()), (2, "done".into())]);
    assert_replays_identically(&dir);
}

#[test]
fn a_role_token_budget_stops_the_run_at_that_roles_call() {
    let (_tmp, dir) = project(
        &config("supervised", "[agents.planner]\nbudget_tokens = 100\n"),
        &replies_costing("input_tokens = 80\noutput_tokens = 30"),
    );
    expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    let s = status_json(&dir);
    let msg = s["violations"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("agent role planner has used 110 tokens, over its budget of 100")
            && msg.contains("agents.planner.budget_tokens"),
        "{msg}"
    );
    assert_replays_identically(&dir);
}

const LEAKED: &str = "Zx9Qw8Er7Ty6Ui5Op4As3Df2";

/// Whether any of the project's database files holds `needle`.
fn db_holds(dir: &std::path::Path, needle: &str) -> bool {
    ["loom.db", "loom.db-wal"].iter().any(|f| {
        std::fs::read(dir.join(".loom").join(f))
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

#[test]
fn a_config_chain_holding_a_key_is_a_config_error_naming_the_file() {
    let spec = format!("anthropic:claude-sonnet-4-5?key=sk-ant-api03-{LEAKED}");
    let (_tmp, dir) = project(&config("supervised", ""), &reply("planner", "1. x"));
    std::fs::write(
        dir.join("loom.toml"),
        format!("[agents.reviewer]\nchain = [\"{spec}\"]\n"),
    )
    .unwrap();
    // Commands that would use the config refuse it (exit 3); `status` only reads, so it
    // still answers, and warns.
    for (args, code) in [
        (&["run", "Fix it"][..], 3),
        (&["providers", "check"], 3),
        (&["status"], 0),
    ] {
        let t = expect_code(&loom(&dir, args), code);
        assert!(
            t.contains("loom.toml") && t.contains("agents.reviewer.chain[0]"),
            "{t}"
        );
        assert!(t.contains("key_env") && !t.contains(LEAKED), "{t}");
    }
    assert!(!db_holds(&dir, LEAKED));
}

#[test]
fn a_provider_flag_holding_a_key_or_naming_no_backend_is_refused_before_anything_is_stored() {
    let (_tmp, dir) = project(&config("supervised", ""), &reply("planner", "1. x"));
    let with_key = format!("anthropic:m?key=sk-ant-api03-{LEAKED}");
    let bare_key = format!("sk-ant-api03-{LEAKED}");
    for spec in [with_key.as_str(), bare_key.as_str(), "gpt-9:large"] {
        let t = expect_code(&loom(&dir, &["run", "--provider", spec, "Fix it"]), 3);
        assert!(!t.contains(LEAKED), "{t}");
    }
    assert!(status_json(&dir)["task"].is_null(), "no task was opened");
    assert!(!db_holds(&dir, LEAKED));
}

/// Every provider a run would call is checked before its task opens: a `claude` that is not
/// installed, or a key that is not set, is a config error (exit 3) and nothing is recorded.
#[test]
fn a_provider_that_cannot_be_used_is_refused_before_the_task_opens() {
    let cases = [
        ("[\"claude-code\"]", "was not found"),
        (
            "[\"scripted:.loom/replies.toml\", \"anthropic:claude-sonnet-4-5\"]",
            "ANTHROPIC_API_KEY",
        ),
    ];
    for (chain, said) in cases {
        let cfg = format!(
            "policy = \"supervised\"\ndefault_chain = {chain}\n[commands]\ntest = \"true\"\n"
        );
        let (_tmp, dir) = project(&cfg, &reply("planner", "1. plan"));
        let o = std::process::Command::new(LOOM)
            .args(["run", "Fix median() for even-length lists"])
            .current_dir(&dir)
            .env("LOOM_CLAUDE_BIN", "/nonexistent/claude")
            .env_remove("ANTHROPIC_API_KEY")
            .output()
            .unwrap();
        let out = expect_code(&o, 3);
        assert!(
            out.contains(said) && out.contains("no task was opened"),
            "{out}"
        );
        let s = status_json(&dir);
        assert!(s["run"].is_null(), "nothing was recorded: {s}");
    }
}
