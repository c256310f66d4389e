//! Bounded fuzzing of what the engine reads from outside: the project's config, and the
//! diffs agents hand back. Random text and random damage to valid inputs: a value or a clear
//! error, never a panic; and whatever a diff says, the paths loom would touch stay inside the
//! project.

use crate::workspace::diff_paths;
use crate::Config;
use proptest::prelude::*;
use std::path::{Component, Path};

const CONFIG: &str = "policy = \"supervised\"\ndefault_chain = [\"scripted:.loom/r.toml\"]\n\
    max_ticks = 50\n[agents.reviewer]\nchain = [\"ollama:llama3.2\"]\n[gates.accept]\n\
    decider = \"human\"\n[budget]\nmax_usd = 1.5\n[commands]\ntest = \"true\"\n[mcp]\n\
    human_gates = \"elicit\"\n";

const DIFF: &str = "--- a/src/a.txt\n+++ b/src/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n\
    diff --git a/old.txt b/new.txt\nrename from old.txt\nrename to new.txt\n";

/// `text` with `cuts` applied: each (position, piece) splices a piece in, or cuts the text
/// there when the piece is empty.
fn damaged(text: &str, cuts: &[(usize, &str)]) -> String {
    let mut s = text.to_owned();
    for (at, piece) in cuts {
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        if piece.is_empty() {
            s.truncate(at);
        } else {
            s.insert_str(at, piece);
        }
    }
    s
}

fn cuts(pieces: &'static [&'static str]) -> impl Strategy<Value = Vec<(usize, &'static str)>> {
    prop::collection::vec((any::<usize>(), prop::sample::select(pieces)), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_config_parses_or_is_refused_clearly(
        text in prop_oneof![
            "\\PC{0,300}",
            cuts(&["", "\"", "=", "[", "]]", "\n", "[gates.x]\n", "max_ticks = -1\n", "é"])
                .prop_map(|c| damaged(CONFIG, &c)),
        ]
    ) {
        if let Err(e) = Config::parse(&text) {
            prop_assert!(!e.trim().is_empty());
        }
    }

    #[test]
    fn no_diff_reaches_outside_the_project(
        c in cuts(&["", "../", "/etc/", "a/../../", "rename from ../../x\n", "\n", "+++ b//abs\n",
                    "--- a/x\n+++ b/../y\n@@ -0,0 +1 @@\n+z\n"])
    ) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/a.txt"), "one\ntwo\n").unwrap();
        let diff = damaged(DIFF, &c);
        if let Ok((touched, kept)) = diff_paths(root.path(), &diff) {
            for p in touched.iter().chain(&kept) {
                let inside = Path::new(p)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                prop_assert!(inside, "{p:?} from {diff:?}");
            }
        }
    }
}
