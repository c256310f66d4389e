//! The bundle's settings, read from the project's configuration through `view::setting`.

/// `test-globs` when the project sets none: the usual homes and names of test files.
pub const DEFAULT_TEST_GLOBS: &[&str] = &[
    "tests/**",
    "test/**",
    "**/tests/**",
    "**/*_test.*",
    "**/test_*.*",
    "**/*.test.*",
    "**/*_spec.*",
    "**/*.spec.*",
];

/// `max-fix-rounds` when the project sets none.
pub const DEFAULT_MAX_FIX_ROUNDS: u32 = 3;

/// The most fix rounds a project may configure: every round is at least two model calls and a
/// test run, and a loop that has not converged by then needs a person, not more rounds.
pub const MAX_FIX_ROUNDS_LIMIT: u32 = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Paths matching any of these are test files: touching one makes the accept gate human.
    pub test_globs: Vec<String>,
    /// How many fix rounds (each an applied fix diff) a run may use.
    pub max_fix_rounds: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            test_globs: DEFAULT_TEST_GLOBS.iter().map(|g| (*g).to_owned()).collect(),
            max_fix_rounds: DEFAULT_MAX_FIX_ROUNDS,
        }
    }
}

impl Settings {
    /// Reads the settings through `lookup` (a key to its JSON text); a missing key takes its
    /// default, a malformed one is an error naming the key, since silently ignoring a
    /// configured value would be worse than stopping.
    pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        if let Some(text) = lookup("test-globs") {
            s.test_globs = serde_json::from_str::<Vec<String>>(&text).map_err(|e| {
                format!("setting `test-globs` must be a list of glob strings, got {text}: {e}")
            })?;
        }
        if let Some(text) = lookup("max-fix-rounds") {
            let n = serde_json::from_str::<u32>(&text)
                .ok()
                .filter(|n| *n <= MAX_FIX_ROUNDS_LIMIT);
            s.max_fix_rounds = n.ok_or_else(|| {
                format!(
                    "setting `max-fix-rounds` must be an integer from 0 to \
                     {MAX_FIX_ROUNDS_LIMIT}, got {text}"
                )
            })?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn missing_settings_take_defaults() {
        assert_eq!(read(&[]), Ok(Settings::default()));
        assert_eq!(Settings::default().max_fix_rounds, 3);
        assert_eq!(Settings::default().test_globs.len(), 8);
    }

    #[test]
    fn configured_settings_are_used() {
        let s = read(&[("test-globs", r#"["spec/**"]"#), ("max-fix-rounds", "1")]);
        assert_eq!(
            s,
            Ok(Settings {
                test_globs: vec!["spec/**".into()],
                max_fix_rounds: 1
            })
        );
    }

    #[test]
    fn malformed_settings_are_errors_naming_the_key() {
        let e = read(&[("max-fix-rounds", r#""three""#)]).unwrap_err();
        assert!(e.contains("max-fix-rounds"), "{e}");
        assert!(read(&[("max-fix-rounds", "-1")]).is_err());
        assert!(read(&[("max-fix-rounds", "21")]).is_err());
        let e = read(&[("test-globs", r#""tests/**""#)]).unwrap_err();
        assert!(e.contains("test-globs"), "{e}");
    }
}
