//! Reading agents' replies: the diff an implementer wrote, the findings a reviewer listed, the
//! tail of a command's output. Everything here is total: a reply can be anything, and the
//! worst it gets is `None` or an `Err` that says what was expected.

use serde::Deserialize;

use crate::state::Severity;

/// At most this many findings per review: more is a reply gone wrong, not a review.
pub const MAX_FINDINGS: usize = 100;
/// Longer finding texts are cut to this many characters.
pub const MAX_FINDING_CHARS: usize = 2_000;

/// Pulls the unified diff out of an implementer's reply: the body of the first ```diff (or
/// ```patch) fenced block, else the whole reply if it starts like a diff (`diff --git` or
/// `--- `). `None` when there is none, or it is blank.
///
/// This is deliberately the same rule the host applies to the same reply (loom-engine's
/// `workspace::extract_diff`), so the text recorded in `diff/latest` is the text that was
/// applied. Keep the two in step.
pub fn extract_diff(reply: &str) -> Option<String> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("```diff") || t.starts_with("```patch") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            return non_blank(body.join("\n"));
        }
    }
    let t = reply.trim_start();
    if t.starts_with("diff --git") || t.starts_with("--- ") {
        return non_blank(t.trim_end().to_owned());
    }
    None
}

fn non_blank(mut diff: String) -> Option<String> {
    if diff.trim().is_empty() {
        return None;
    }
    diff.push('\n');
    Some(diff)
}

/// One finding as a reviewer states it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReviewedFinding {
    pub severity: Severity,
    pub text: String,
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Deserialize)]
struct ReviewReply {
    findings: Vec<ReviewedFinding>,
}

/// Parses a reviewer's reply: `{"findings":[{"severity":"blocking"|"minor","text":"…",
/// "path":"…"}]}`, bare or as the first ```json fenced block. Unknown fields are ignored;
/// `path` is optional; empty texts and more than [`MAX_FINDINGS`] findings are errors.
pub fn parse_findings(reply: &str) -> Result<Vec<ReviewedFinding>, String> {
    let err = |why: String| format!("reviewer reply is not the findings JSON: {why}");
    let bare = reply.trim();
    let parsed = match serde_json::from_str::<ReviewReply>(bare) {
        Ok(r) => r,
        Err(bare_err) => match json_fence(reply) {
            Some(body) => serde_json::from_str::<ReviewReply>(body.trim())
                .map_err(|e| err(format!("the ```json block: {e}")))?,
            None if bare.starts_with('{') => return Err(err(bare_err.to_string())),
            None => return Err(err("expected a JSON object or a ```json block".into())),
        },
    };
    if parsed.findings.len() > MAX_FINDINGS {
        return Err(err(format!(
            "{} findings, more than the {MAX_FINDINGS} a review may list",
            parsed.findings.len()
        )));
    }
    let mut findings = parsed.findings;
    for (i, f) in findings.iter_mut().enumerate() {
        f.text = f.text.trim().to_owned();
        if f.text.is_empty() {
            return Err(err(format!("finding {} has an empty text", i + 1)));
        }
        if let Some(cut) = f
            .text
            .char_indices()
            .nth(MAX_FINDING_CHARS)
            .map(|(at, _)| at)
        {
            f.text.truncate(cut);
            f.text.push('…');
        }
        f.path = f
            .path
            .take()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
    }
    Ok(findings)
}

/// The body of the first ```json fenced block.
fn json_fence(reply: &str) -> Option<String> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("```json") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            return Some(body.join("\n"));
        }
    }
    None
}

/// The last `max_lines` lines of `text`, at most `max_chars` characters (cut at the front).
pub fn tail(text: &str, max_lines: usize, max_chars: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    let joined = lines[start..].join("\n");
    let count = joined.chars().count();
    if count <= max_chars {
        return joined;
    }
    joined.chars().skip(count - max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";

    #[test]
    fn diff_from_a_fenced_block_with_prose_around_it() {
        let reply = format!("Here it is:\n\n```diff\n{DIFF}```\n\nThat fixes it.");
        assert_eq!(extract_diff(&reply).as_deref(), Some(DIFF));
        let patch = format!("```patch\n{DIFF}```");
        assert_eq!(extract_diff(&patch).as_deref(), Some(DIFF));
    }

    #[test]
    fn first_diff_block_wins_and_other_fences_are_skipped() {
        let reply =
            format!("```rust\nfn x() {{}}\n```\n```diff\n{DIFF}```\n```diff\n--- other\n```");
        assert_eq!(extract_diff(&reply).as_deref(), Some(DIFF));
    }

    #[test]
    fn bare_diffs_are_accepted_whole() {
        let git = format!("diff --git a/x b/x\n{DIFF}\n\n");
        assert_eq!(
            extract_diff(&git),
            Some(format!("diff --git a/x b/x\n{DIFF}"))
        );
        assert_eq!(extract_diff(&format!("  \n{DIFF}")).as_deref(), Some(DIFF));
    }

    #[test]
    fn no_diff_is_none() {
        assert_eq!(extract_diff("I could not do it, sorry."), None);
        assert_eq!(extract_diff(""), None);
        assert_eq!(extract_diff("```diff\n\n```"), None);
        assert_eq!(extract_diff("```python\nprint(1)\n```"), None);
    }

    #[test]
    fn unterminated_fence_runs_to_the_end() {
        let reply = format!("```diff\n{DIFF}");
        assert_eq!(extract_diff(&reply).as_deref(), Some(DIFF));
    }

    #[test]
    fn findings_bare_and_fenced() {
        let bare = r#"{"findings":[{"severity":"blocking","text":"off by one","path":"src/a.rs"},
                       {"severity":"minor","text":" naming "}]}"#;
        let f = parse_findings(bare).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].severity, Severity::Blocking);
        assert_eq!(f[0].path.as_deref(), Some("src/a.rs"));
        assert_eq!(f[1].text, "naming");
        assert_eq!(f[1].path, None);

        let fenced = "Review done.\n```json\n{\"findings\": []}\n```\nBye";
        assert_eq!(parse_findings(fenced).unwrap(), vec![]);
    }

    #[test]
    fn extra_fields_are_ignored_and_blank_paths_dropped() {
        let r = r#"{"findings":[{"severity":"minor","text":"t","path":" ","line":3}],"note":"x"}"#;
        let f = parse_findings(r).unwrap();
        assert_eq!(f[0].path, None);
    }

    #[test]
    fn malformed_findings_are_typed_errors() {
        for bad in [
            "LGTM!",
            "",
            "{\"findings\": [",
            r#"{"issues":[]}"#,
            r#"{"findings":[{"severity":"critical","text":"x"}]}"#,
            r#"{"findings":[{"severity":"minor"}]}"#,
            r#"{"findings":[{"severity":"minor","text":"   "}]}"#,
            "```json\nnot json\n```",
            r#"[{"severity":"minor","text":"x"}]"#,
        ] {
            let e = parse_findings(bad).unwrap_err();
            assert!(
                e.starts_with("reviewer reply is not the findings JSON: "),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn findings_are_bounded() {
        let one = r#"{"severity":"minor","text":"x"}"#;
        let many = format!(
            "{{\"findings\":[{}]}}",
            vec![one; MAX_FINDINGS + 1].join(",")
        );
        assert!(parse_findings(&many).is_err());
        let long = format!(
            r#"{{"findings":[{{"severity":"minor","text":"{}"}}]}}"#,
            "é".repeat(5000)
        );
        let f = parse_findings(&long).unwrap();
        assert_eq!(f[0].text.chars().count(), MAX_FINDING_CHARS + 1);
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\nd\n", 2, 100), "c\nd");
        assert_eq!(tail("abcdef", 10, 3), "def");
        assert_eq!(tail("", 5, 5), "");
    }
}
