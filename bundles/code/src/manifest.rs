//! The `code` bundle's manifest: phases, steps, gates, rules, the prompt templates, and what
//! it needs from the project (its `test` command and its two settings).

use loom_sdk::{
    Decider, GateDecl, Manifest, Param, Risk, RuleDecl, SettingDecl, StepDecl, Template,
};

use crate::settings::{DEFAULT_MAX_FIX_ROUNDS, DEFAULT_TEST_GLOBS, MAX_FIX_ROUNDS_LIMIT};

pub const NAME: &str = "code";
pub const VERSION: &str = "0.1.0";

pub const PHASES: &[&str] = &[
    "plan",
    "implement",
    "review",
    "fix",
    "test",
    "accept",
    "done",
    "failed",
];

/// Rule ids, as `check` reports them.
pub const NO_BLOCKING_AT_ACCEPT: &str = "no-blocking-at-accept";
pub const HUMAN_DECIDES_TOUCHED_TESTS: &str = "human-decides-touched-tests";
pub const REVIEW_COVERS_LATEST_DIFF: &str = "review-covers-latest-diff";

pub fn manifest() -> Manifest {
    Manifest::new(NAME, VERSION)
        .phases(PHASES)
        .step(
            StepDecl::new("plan", "plan", "The planner writes a plan for the task.")
                .agent("planner", "plan"),
        )
        .step(
            StepDecl::new(
                "implement",
                "implement",
                "The implementer writes the change as one unified diff.",
            )
            .agent("implementer", "implement"),
        )
        .step(StepDecl::new(
            "apply",
            "implement",
            "loom applies the implementer's diff to the tree.",
        ))
        .step(
            StepDecl::new(
                "review",
                "review",
                "The reviewer lists every problem still in the applied diff.",
            )
            .agent("reviewer", "review"),
        )
        .step(
            StepDecl::new(
                "fix",
                "fix",
                "The implementer answers the open findings with a follow-up diff.",
            )
            .agent("implementer", "fix"),
        )
        .step(StepDecl::new(
            "apply-fix",
            "fix",
            "loom applies the fix diff to the tree.",
        ))
        .step(StepDecl::new(
            "test",
            "test",
            "loom runs the project's `test` command.",
        ))
        .gate(
            GateDecl::new("plan", Decider::Rule, Risk::Low, "Go ahead with this plan?")
                .role("planner")
                // A person deciding it may rewrite the plan the implementer then follows.
                .editable(),
        )
        .gate(
            GateDecl::new(
                "accept",
                Decider::Human,
                Risk::High,
                "Accept the change? A human decides whenever it touched a test file.",
            )
            .role("reviewer"),
        )
        .rule(RuleDecl::new(
            NO_BLOCKING_AT_ACCEPT,
            "The accept gate is never approved while a blocking finding is open.",
        ))
        .rule(RuleDecl::new(
            HUMAN_DECIDES_TOUCHED_TESTS,
            "When the change touched a test file (a path matching `test-globs`), only a human \
             approves the accept gate.",
        ))
        .rule(RuleDecl::new(
            REVIEW_COVERS_LATEST_DIFF,
            "The accept gate is approved only when the latest review saw the latest applied diff.",
        ))
        .template(Template::new("plan", PLAN).param(Param::text("task", "what the user asked for")))
        .template(
            Template::new("implement", IMPLEMENT)
                .param(Param::text("task", "what the user asked for"))
                .param(Param::text("plan", "the approved plan")),
        )
        .template(
            Template::new("review", REVIEW)
                .param(Param::text("task", "what the user asked for"))
                .param(Param::text("plan", "the approved plan"))
                .param(Param::text("diff", "the applied diff under review")),
        )
        .template(
            Template::new("fix", FIX)
                .param(Param::text("task", "what the user asked for"))
                .param(Param::text("diff", "the diff applied so far"))
                .param(Param::text_list(
                    "findings",
                    "the open findings, one per item",
                )),
        )
        .command("test")
        .setting(
            SettingDecl::text_list(
                "test-globs",
                "paths matching any of these are test files; touching one makes the accept \
                 gate human",
            )
            .default(DEFAULT_TEST_GLOBS.to_vec()),
        )
        .setting(
            SettingDecl::integer(
                "max-fix-rounds",
                &format!("how many fix rounds a run may use, 0 to {MAX_FIX_ROUNDS_LIMIT}"),
            )
            .default(DEFAULT_MAX_FIX_ROUNDS),
        )
}

const PLAN: &str = "\
You are planning a change to a software repository.

Task: {{task}}

Write a short, concrete plan: which files to change or add, what changes in each, and how the \
change will be tested. Do not write the code yet. Plain text or Markdown, at most about 40 lines.
";

const IMPLEMENT: &str = "\
You are implementing a change to a software repository.

Task: {{task}}

Approved plan:
{{plan}}

Reply with exactly ONE unified diff in git format, inside a single ```diff fenced block:
- paths relative to the repository root, with `diff --git a/<path> b/<path>`, `--- a/<path>` \
and `+++ b/<path>` headers (`--- /dev/null` for a new file, `+++ /dev/null` for a deleted one);
- `@@` hunks with correct line counts and at least three lines of unchanged context;
- every file you change in that one block, and no other fenced block in the reply.
A sentence or two of explanation before the block is fine.
";

const REVIEW: &str = "\
You are reviewing a change to a software repository.

Task: {{task}}

Plan:
{{plan}}

The change, as applied:
```diff
{{diff}}
```

List every problem still present in this change. Reply with exactly this JSON and nothing else:
{\"findings\": [{\"severity\": \"blocking\", \"text\": \"what is wrong and why\", \"path\": \"src/file.rs\"}]}
- `severity` is \"blocking\" (a bug, a missing or broken test, the task not done, the build \
broken: must be fixed before accepting) or \"minor\" (worth saying, not worth blocking).
- `path` is optional: the file the finding is about, relative to the repository root.
- Your list replaces any earlier review, so include every problem that is still there.
- If nothing is wrong, reply {\"findings\": []}.
";

const FIX: &str = "\
You are fixing a change to a software repository after review.

Task: {{task}}

The change applied so far:
```diff
{{diff}}
```

Open findings:
{{findings}}

Fix every blocking finding (and the minor ones where it is cheap). Reply with exactly ONE \
unified diff in git format, relative to the tree as it is now (with the change above already \
applied), inside a single ```diff fenced block:
- paths relative to the repository root, with `diff --git a/<path> b/<path>`, `--- a/<path>` \
and `+++ b/<path>` headers (`--- /dev/null` for a new file, `+++ /dev/null` for a deleted one);
- `@@` hunks with correct line counts and at least three lines of unchanged context;
- every file you change in that one block, and no other fenced block in the reply.
A sentence or two of explanation before the block is fine.
";
