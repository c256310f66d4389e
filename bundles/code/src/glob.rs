//! A tiny glob matcher for the `test-globs` setting.
//!
//! Paths and patterns are split on `/`. A pattern segment that is exactly `**` matches zero or
//! more whole path segments; inside a segment `*` matches any run of characters and `?` exactly
//! one (neither crosses a `/`). Everything else matches itself. A `**` that is only part of a
//! segment (`a**b`) behaves like `*`. There are no character classes or escapes.
//!
//! Matching is a table over (pattern segment, path segment), so it is O(pattern × path) and has
//! no backtracking blow-up whatever a configured pattern looks like.

/// Whether repository-relative `path` matches `pattern`. A leading `./` on either is ignored.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = strip(pattern).split('/').collect();
    let segs: Vec<&str> = strip(path).split('/').collect();
    // ok[i][j]: pat[i..] matches segs[j..]. Filled from the end.
    let mut ok = vec![vec![false; segs.len() + 1]; pat.len() + 1];
    ok[pat.len()][segs.len()] = true;
    for i in (0..pat.len()).rev() {
        for j in (0..=segs.len()).rev() {
            ok[i][j] = if pat[i] == "**" {
                // zero segments, or this one and maybe more
                ok[i + 1][j] || (j < segs.len() && ok[i][j + 1])
            } else {
                j < segs.len() && segment(pat[i], segs[j]) && ok[i + 1][j + 1]
            };
        }
    }
    ok[0][0]
}

/// Whether `path` matches any of `patterns`.
pub fn any(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| matches(p, path))
}

fn strip(s: &str) -> &str {
    s.strip_prefix("./").unwrap_or(s)
}

/// `*` and `?` within one segment: the classic greedy star with one backtrack point, linear in
/// practice and never worse than O(pattern × text).
fn segment(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn literal_star_and_question_mark_stay_inside_a_segment() {
        assert!(matches("src/lib.rs", "src/lib.rs"));
        assert!(!matches("src/lib.rs", "src/lib.rsx"));
        assert!(matches("src/*.rs", "src/main.rs"));
        assert!(!matches("src/*.rs", "src/a/main.rs"));
        assert!(matches("*", "Cargo.toml"));
        assert!(!matches("*", "a/b"));
        assert!(matches("file?.txt", "file1.txt"));
        assert!(!matches("file?.txt", "file.txt"));
        assert!(!matches("?", "/"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("a**b", "aXb"));
    }

    #[test]
    fn double_star_matches_zero_or_more_directories() {
        assert!(matches("tests/**", "tests/cli.rs"));
        assert!(matches("tests/**", "tests/a/b/c.rs"));
        assert!(matches("**/tests/**", "tests/x.rs"));
        assert!(matches("**/tests/**", "crates/core/tests/x.rs"));
        assert!(!matches("**/tests/**", "crates/core/testsuite/x.rs"));
        assert!(matches("**/*_test.*", "pkg/server_test.go"));
        assert!(matches("**/*_test.*", "server_test.go"));
        assert!(matches("**/test_*.*", "py/test_api.py"));
        assert!(matches("**/*.spec.*", "web/src/app.spec.ts"));
        assert!(!matches("**/*.spec.*", "web/src/app.ts"));
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
        assert!(!matches("a/**/b", "a/x/y/c"));
        assert!(matches("**", "anything/at/all"));
    }

    #[test]
    fn leading_dot_slash_is_ignored_and_matching_is_case_sensitive() {
        assert!(matches("./tests/**", "tests/a.rs"));
        assert!(matches("tests/**", "./tests/a.rs"));
        assert!(!matches("tests/**", "Tests/a.rs"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "**/".repeat(30) + &"*a".repeat(30);
        let path = "x/".repeat(60) + &"b".repeat(200);
        assert!(!matches(&pattern, &path));
    }
}
