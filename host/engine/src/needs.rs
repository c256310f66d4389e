//! What a bundle needs from the project, checked against its config before a task opens.
//!
//! A bundle of `loom:bundle@0.2.0` or later declares the commands it runs and the settings it
//! reads (with their types and defaults). Every problem is named at once: a command the
//! project does not configure under `[commands]`, a setting of the wrong type, a required
//! setting the project leaves out, and a setting the project sets that the bundle never
//! reads (a misspelling would otherwise silently leave the bundle on its default), with the
//! closest declared name. A bundle of 0.1.0 declares nothing, so nothing is checked.

use crate::Config;
use loom_runtime::{Manifest, Needs};

/// Every way `config` falls short of what `manifest` needs; empty when nothing does (or when
/// the manifest's contract cannot declare needs).
pub(crate) fn problems(manifest: &Manifest, config: &Config) -> Vec<String> {
    let Some(needs) = &manifest.needs else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &needs.commands {
        if !config.commands.contains_key(c) {
            out.push(format!(
                "the bundle runs command `{c}`, which the project does not configure; add it \
                 under [commands], e.g. {c} = \"…\" (the shell command to run)"
            ));
        }
    }
    settings(needs, config, &mut out);
    out
}

fn settings(needs: &Needs, config: &Config, out: &mut Vec<String>) {
    let declared: Vec<&str> = needs.settings.iter().map(|s| s.key.as_str()).collect();
    let set: serde_json::Value = match serde_json::from_str(&config.bundle_settings()) {
        Ok(v) => v,
        // The settings are the config's own TOML, converted: this cannot fail to parse.
        Err(e) => {
            out.push(format!("the [bundle] settings cannot be read: {e}"));
            return;
        }
    };
    for decl in &needs.settings {
        match set.get(&decl.key) {
            Some(value) if !decl.ty.accepts(value) => out.push(format!(
                "setting `{}` is {value}, which is not {}; the bundle reads it as {}{} \
                 (e.g. {} = {})",
                decl.key,
                decl.ty.describe(),
                decl.ty.describe(),
                doc(&decl.doc),
                decl.key,
                decl.ty.example()
            )),
            None if decl.default.is_none() => out.push(format!(
                "the bundle needs setting `{}` ({}{}), which has no default and the project \
                 does not set; add it under [bundle], e.g. {} = {}",
                decl.key,
                decl.ty.describe(),
                doc(&decl.doc),
                decl.key,
                decl.ty.example()
            )),
            _ => {}
        }
    }
    let Some(set) = set.as_object() else { return };
    for key in set.keys().filter(|k| !declared.contains(&k.as_str())) {
        let advice = match closest(key, &declared) {
            Some(near) => format!("did you mean `{near}`?"),
            None if declared.is_empty() => "it reads no settings; remove it".to_owned(),
            None => format!("it reads {}; remove it or rename it", list(&declared)),
        };
        out.push(format!(
            "setting `{key}` is not one the bundle reads, so it would be ignored: {advice}"
        ));
    }
}

fn doc(doc: &str) -> String {
    if doc.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", doc.trim())
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The declared name nearest `key`, if one is near enough to be a misspelling of it: at most
/// a third of its length in edits (and at least two).
fn closest<'a>(key: &str, declared: &[&'a str]) -> Option<&'a str> {
    let within = (key.chars().count() / 3).max(2);
    declared
        .iter()
        .map(|d| (edits(key, d), *d))
        .filter(|(n, _)| *n <= within)
        .min()
        .map(|(_, d)| d)
}

/// Levenshtein distance over characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_runtime::{ParamType, SettingDecl};

    fn manifest(needs: Option<Needs>) -> Manifest {
        Manifest {
            name: "b".into(),
            version: "1".into(),
            phases: vec!["p".into()],
            steps: vec![],
            gates: vec![],
            rules: vec![],
            templates: vec![],
            needs,
        }
    }

    fn needs() -> Needs {
        let decl = |key: &str, ty, default: Option<&str>| SettingDecl {
            key: key.into(),
            ty,
            default: default.map(Into::into),
            doc: format!("the {key}"),
        };
        Needs {
            commands: vec!["test".into(), "lint".into()],
            settings: vec![
                decl("max-fix-rounds", ParamType::Integer, Some("3")),
                decl("test-globs", ParamType::TextList, Some(r#"["tests/**"]"#)),
                decl("branch", ParamType::Text, None),
            ],
        }
    }

    fn config(toml: &str) -> Config {
        Config::parse(toml).unwrap()
    }

    const GOOD: &str =
        "[commands]\ntest = \"true\"\nlint = \"true\"\n[bundle]\nbranch = \"main\"\n";

    #[test]
    fn a_project_that_gives_what_is_needed_passes() {
        assert_eq!(
            problems(&manifest(Some(needs())), &config(GOOD)),
            Vec::<String>::new()
        );
        let full = format!("{GOOD}max-fix-rounds = 0\ntest-globs = [\"spec/**\"]\n");
        assert!(problems(&manifest(Some(needs())), &config(&full)).is_empty());
    }

    #[test]
    fn a_bundle_without_needs_is_not_checked() {
        let c = config("[bundle]\nanything = 1\n");
        assert!(problems(&manifest(None), &c).is_empty());
    }

    #[test]
    fn each_shortfall_is_named() {
        let c = config(
            "[commands]\ntest = \"true\"\n[bundle]\nmax-fix-round = 2\ntest-globs = \"tests/**\"\n\
             colour = \"red\"\n",
        );
        let found = problems(&manifest(Some(needs())), &c);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].contains("command `lint`") && found[0].contains("[commands]"));
        assert!(
            found[1].contains("setting `test-globs` is \"tests/**\"")
                && found[1].contains("not a list of texts"),
            "{}",
            found[1]
        );
        assert!(
            found[2].contains("needs setting `branch`") && found[2].contains("no default"),
            "{}",
            found[2]
        );
        assert!(
            found[3].contains("`colour`") && found[3].contains("`max-fix-rounds`, `test-globs`"),
            "{}",
            found[3]
        );
        assert!(
            found[4].contains("`max-fix-round`")
                && found[4].contains("did you mean `max-fix-rounds`?"),
            "{}",
            found[4]
        );
    }

    #[test]
    fn types_are_checked_as_toml_gives_them() {
        let found = problems(
            &manifest(Some(needs())),
            &config(&format!("{GOOD}max-fix-rounds = 2.5\n")),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("not an integer"), "{}", found[0]);
    }

    #[test]
    fn nearness() {
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("", "ab"), 2);
        assert_eq!(closest("tset", &["test", "lint"]), Some("test"));
        assert_eq!(closest("deploy", &["test", "lint"]), None);
    }
}
