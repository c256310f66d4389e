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
        .map(|l| serde_json::from_str(l["meta"].as_str().unwrap()).unwrap())
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
}

#[test]
fn a_failing_provider_falls_back_to_the_next_in_the_chain() {
    let down = ["planner", "implementer", "reviewer"]
        .map(|r| {
            format!(
                "[[reply]]\nrole = \"{r}\"\nerror = \"transient\"\nretry_after_ms = 5\ntext = \"529 overloaded\"\n\n"
            )
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
