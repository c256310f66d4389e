#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing test should panic with the reason
//! End-to-end tests: the real `loom` binary on real git repositories in temporary directories,
//! with the scripted provider at the (only) network edge.

mod browser;
mod common;
mod test_browser;
mod test_bundle_new;
mod test_cli;
mod test_contract;
mod test_crash;
mod test_demo;
mod test_edits;
mod test_exit_codes;
mod test_fork;
mod test_gates;
mod test_golden;
mod test_hostile;
mod test_incident;
mod test_json;
mod test_many_hands;
mod test_mcp;
mod test_mcp_hosts;
mod test_mcp_http;
mod test_patch;
mod test_provider_choices;
mod test_providers;
mod test_race;
mod test_replay;
mod test_rules_js;
mod test_serve;
mod test_serve_api;
mod test_telegram;
mod test_torture;
mod test_verify;
