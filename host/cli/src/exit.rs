//! The exit codes: one table, from which the constants, `loom --help`'s list and the README's
//! table all come (a test checks the README against it, and an end-to-end test makes the real
//! binary exit with every code).

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident = $code:literal: $meaning:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: u8 = $code;)*
        /// Every exit code with what it means, in order.
        pub const TABLE: &[(u8, &str)] = &[$(($code, $meaning)),*];
    };
}

codes! {
    /// The command did what was asked; a driven run finished.
    OK = 0: "done: the command did what was asked, or a driven run finished";
    /// Something failed that is not one of the cases below (disk, database, git…).
    ERROR = 1: "an error not listed below (the disk, the database, git)";
    /// The command was wrong: bad arguments, nothing to act on, a task already open.
    USAGE = 2: "the command was wrong: bad arguments, a file or directory it names is missing, \
                nothing to act on (no runs yet), a task already open, a gate already decided or \
                showing other content than the decision was made on (nothing recorded)";
    /// The project's configuration is wrong.
    CONFIG = 3: "the project's configuration is wrong, or a provider it names cannot be used \
                 (nothing recorded)";
    /// A rule refused what was asked (the refusal is recorded; nothing else changed).
    REFUSED = 4: "a rule refused what was asked (recorded; nothing else changed), or the bundle \
                  refused a decision, or the asker may not decide that gate, or a fork's bundle \
                  does not reproduce the run up to the fork point (nothing recorded)";
    /// The bundle could not be loaded, or it faulted.
    BUNDLE = 5: "the bundle could not be loaded, or it faulted (trapped, panicked, went over a \
                 limit): the run stopped and resuming faults the same way; for `loom replay`, \
                 rules that could not run";
    /// Another loom process drives this project (it is named); nothing was done.
    BUSY = 6: "another loom process drives this project; it is named and nothing was done \
               (`--wait` waits for it)";
    /// The run is waiting for a human to decide a gate.
    WAITING = 10: "the run waits for a human decision (`loom gates`)";
    /// The run stopped: a rule fired, a step failed, or an effect is uncertain. `loom status`.
    STOPPED = 11: "the run stopped: a rule fired, a step failed, the budget ran out, or an effect \
                   is uncertain (`loom status`)";
    /// The run ended as failed (the bundle gave up).
    FAILED = 12: "the run ended as failed (the bundle gave up)";
    /// `loom verify` found a broken hash chain, or `loom replay` a tick that does not
    /// reproduce.
    BROKEN = 13: "`loom verify` found a broken hash chain; `loom replay` found a tick that does \
                  not reproduce";
    /// `loom replay`: a rule fired somewhere in the replayed runs.
    FIRED = 14: "`loom replay`: a rule fired somewhere in the replayed runs";
}

/// The table as `loom --help` ends with it.
pub fn help() -> String {
    let mut out = String::from("Exit codes:\n");
    for (code, meaning) in TABLE {
        out.push_str(&format!("  {code:>2}  {}\n", squash(meaning)));
    }
    out
}

/// The table as the README has it (a Markdown table under `### Exit codes`).
#[cfg(test)]
pub fn markdown() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in TABLE {
        out.push_str(&format!("| {code} | {} |\n", squash(meaning)));
    }
    out
}

/// A meaning without the runs of spaces the source's line continuations leave.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    /// The README's table is this table: edit the table above, then paste what this prints.
    #[test]
    fn the_readme_lists_exactly_these_codes() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n### Exit codes\n")
            .nth(1)
            .and_then(|s| s.split("\n#").next())
            .unwrap_or("");
        let table: String = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            markdown(),
            "the README's exit-code table differs from host/cli/src/exit.rs; it should read:\n{}",
            markdown()
        );
    }
}
