//! What a person decides about providers: a dollar budget over providers that report no
//! cost, switching provider on resume, a chain that fails whole, and dollar amounts that tell
//! spend and cap apart.

use crate::common::*;
use std::path::Path;

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn planner_only() -> String {
    reply("planner", "1. fix the even case")
}

fn providers_check(dir: &Path) -> serde_json::Value {
    let o = loom(dir, &["providers", "check", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

#[test]
fn a_dollar_budget_over_a_provider_without_costs_is_refused_until_the_user_chooses() {
    let ollama = format!("ollama:llama3?base=http://127.0.0.1:{}", closed_port());
    let chain = format!("default_chain = [\"{ollama}\"]\n");
    let cfg = |extra: &str| {
        format!("policy = \"supervised\"\n{chain}[budget]\nmax_usd = 1.0\n{extra}[commands]\ntest = \"true\"\n")
    };
    let (_tmp, dir) = project(&cfg(""), &planner_only());
    let t = expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        3,
    );
    for said in [
        "reports no cost",
        "[prices.\"llama3\"]",
        "max_tokens",
        "allow_unknown_cost",
    ] {
        assert!(t.contains(said), "{said}: {t}");
    }
    assert!(t.contains("no task was opened"), "{t}");
    assert!(status_json(&dir)["task"].is_null());
    let checks = providers_check(&dir);
    assert_eq!(checks[0]["cost_known"], false, "{checks}");
    assert!(
        checks[0]["cost_warning"]
            .as_str()
            .is_some_and(|w| w.contains("allow_unknown_cost")),
        "{checks}"
    );

    // Each of the three choices lets the run open (it then stops at the unreachable server).
    for choice in [
        "allow_unknown_cost = true\n",
        "max_tokens = 100000\n",
        "[prices.\"llama3\"]\ninput = 0.1\noutput = 0.2\n",
    ] {
        std::fs::write(dir.join("loom.toml"), cfg(choice)).unwrap();
        assert!(
            providers_check(&dir)[0]["cost_warning"].is_null(),
            "{choice}"
        );
        let t = expect_code(
            &loom(&dir, &["run", "Fix median() for even-length lists"]),
            11,
        );
        assert!(t.contains("cannot connect"), "{choice}: {t}");
        expect_code(&loom(&dir, &["abandon"]), 0);
    }
}

#[test]
fn resume_can_switch_the_run_to_another_provider_and_the_switch_replays() {
    let down =
        "[[reply]]\nrole = \"planner\"\nerror = \"permanent\"\ntext = \"400 no credit left\"\n";
    let cfg = "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/down.toml\"]\n\
               [commands]\ntest = \"python3 -m unittest -q\"\n";
    let replies = [
        reply("planner", "1. fix the even case"),
        reply("implementer", FIX_EVEN),
        reply("reviewer", r#"{"findings": []}"#),
    ]
    .concat();
    let (_tmp, dir) = project(cfg, &replies);
    std::fs::write(dir.join(".loom/down.toml"), down).unwrap();
    let t = expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    assert!(t.contains("no credit left"), "{t}");
    // A provider that cannot be used is refused before anything is recorded.
    let t = expect_code(
        &loom(&dir, &["resume", "--provider", "scripted:.loom/nope.toml"]),
        3,
    );
    assert!(t.contains("nope.toml"), "{t}");
    let t = expect_code(
        &loom(
            &dir,
            &["resume", "--provider", "scripted:.loom/replies.toml"],
        ),
        10,
    );
    assert!(
        t.contains("every agent role now calls scripted:.loom/replies.toml"),
        "{t}"
    );
    let s = status_json(&dir);
    assert_eq!(
        s["run"]["options"]["provider"], "scripted:.loom/replies.toml",
        "{s}"
    );
    assert_replays_identically(&dir);
}

#[test]
fn a_chain_that_fails_whole_keeps_a_row_per_call_and_names_each_providers_error() {
    let ollama = format!("ollama:llama3?base=http://127.0.0.1:{}", closed_port());
    let down =
        "[[reply]]\nrole = \"planner\"\nerror = \"permanent\"\ntext = \"400 invalid request\"\n";
    let cfg = format!(
        "policy = \"supervised\"\nmax_retries = 1\n\
         default_chain = [\"scripted:.loom/down.toml\", \"{ollama}\"]\n\
         [commands]\ntest = \"true\"\n"
    );
    let (_tmp, dir) = project(&cfg, &planner_only());
    std::fs::write(dir.join(".loom/down.toml"), down).unwrap();
    let t = expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    assert!(t.contains("none of the 2 providers answered"), "{t}");
    assert!(
        t.contains("400 invalid request"),
        "the first provider's error: {t}"
    );
    assert!(
        t.contains("cannot connect"),
        "the second provider's error: {t}"
    );
    let log = text(&loom(&dir, &["log"]));
    // One permanent error (no retry), then the unreachable server tried twice.
    for n in 1..=3 {
        let row = format!("ledger r1/plan#1.1/call{n} attempt 1 agent-call failed: ");
        assert!(log.contains(&row), "{row}\n{log}");
    }
    assert!(!log.contains("call4"), "{log}");
    assert_replays_identically(&dir);
}

#[test]
fn a_budget_refusal_shows_enough_digits_to_tell_spend_and_cap_apart() {
    let r = |role: &str, text: &str| {
        format!("[[reply]]\nrole = \"{role}\"\ncost_usd = 0.00006\ntext = '''\n{text}\n'''\n\n")
    };
    let replies = [
        r("planner", "1. fix the even case"),
        r("implementer", FIX_EVEN),
    ]
    .concat();
    let (_tmp, dir) = project(
        &config("supervised", "[budget]\nmax_usd = 0.0001\n"),
        &replies,
    );
    let t = expect_code(
        &loom(&dir, &["run", "Fix median() for even-length lists"]),
        11,
    );
    let s = status_json(&dir);
    let msg = s["violations"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("spent $0.00012") && msg.contains("budget of $0.0001 "),
        "{msg}\n{t}"
    );
    assert!(
        msg.contains(".loom/config.toml"),
        "names both config files: {msg}"
    );
    assert_replays_identically(&dir);

    // The refused call was paid for: with the budget raised, resume uses its answer. The
    // script holds one implementer reply, so buying it again would find none.
    std::fs::write(
        dir.join("loom.toml"),
        config("supervised", "[budget]\nmax_usd = 1\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join(".loom/replies.toml"),
        [replies, r("reviewer", r#"{"findings": []}"#)].concat(),
    )
    .unwrap();
    let t = expect_code(&loom(&dir, &["resume"]), 10);
    let ledger = loom(&dir, &["log", "--json"]);
    let log: serde_json::Value = serde_json::from_slice(&ledger.stdout).unwrap();
    let implement: Vec<serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["ledger"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["step"] == "implement" && l["kind"] == "agent")
        .collect();
    // Attempt 1 was bought and refused by the budget; attempt 2 applies its answer, with no
    // request of its own (no provider call) and no spend of its own.
    let statuses: Vec<&serde_json::Value> = implement.iter().map(|l| &l["status"]).collect();
    assert_eq!(statuses, ["refused", "done"], "{t}\n{implement:#?}");
    assert_eq!(implement[1]["meta"]["reused_from"], 1, "{implement:#?}");
    assert!(implement[1]["request_hash"].is_null(), "{implement:#?}");
    assert_replays_identically(&dir);
}
