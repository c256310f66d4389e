use std::fs;
use std::path::Path;
use std::sync::RwLock;
use std::time::Instant;

use super::*;
use crate::testserver::{env, fixture, request, Reply, Server};

/// Writing an executable while another thread forks can leave the forked child holding it open
/// for writing, and exec then fails with "Text file busy". Scripts are written under the write
/// lock, children are started under the read lock.
static FORK: RwLock<()> = RwLock::new(());

/// A stub `claude` that records its arguments (NUL-separated), working directory and stdin, then
/// prints `out.json`, copies `err.txt` to stderr and exits with `exit.code`, all from its working
/// directory. With a `sleep.wanted` file it first starts a grandchild and hangs.
const STUB: &str = r#"#!/bin/sh
printf '%s\0' "$@" > args.bin
pwd > pwd.txt
cat > stdin.txt
if [ -f sleep.wanted ]; then
  echo $$ > pid.txt
  sleep 30 &
  echo $! > grandchild.txt
  wait
fi
[ -f out.json ] && cat out.json
[ -f err.txt ] && cat err.txt >&2
exit "$(cat exit.code 2>/dev/null || echo 0)"
"#;

struct Stub {
    dir: tempfile::TempDir,
}

impl Stub {
    /// A stub answering with `out` and exit code `code`.
    fn new(out: &str, code: i32) -> Stub {
        Stub::with_script(STUB, out, code)
    }

    fn with_script(script: &str, out: &str, code: i32) -> Stub {
        let dir = tempfile::tempdir().unwrap();
        let _w = FORK.write().unwrap();
        let bin = dir.path().join("claude");
        fs::write(&bin, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(dir.path().join("out.json"), out).unwrap();
        fs::write(dir.path().join("exit.code"), code.to_string()).unwrap();
        Stub { dir }
    }

    fn provider(&self, spec: &str) -> ClaudeCodeProvider {
        let bin = self.dir.path().join("claude");
        let env = env(&[(BIN_VAR, bin.to_str().unwrap())]);
        ClaudeCodeProvider::from_spec(spec, &env).unwrap()
    }

    fn request(&self) -> Request {
        Request {
            workdir: self.dir.path().to_path_buf(),
            ..request(Duration::from_secs(10))
        }
    }

    fn call(&self, spec: &str, req: &Request) -> (Result<Response, ProviderError>, Vec<Progress>) {
        let provider = self.provider(spec);
        let mut seen = Vec::new();
        let _r = FORK.read().unwrap();
        (provider.complete(req, &mut |p| seen.push(p)), seen)
    }

    fn args(&self) -> Vec<String> {
        let bytes = fs::read(self.dir.path().join("args.bin")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        text.split_terminator('\0').map(str::to_string).collect()
    }

    fn file(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(name)).unwrap()
    }
}

#[test]
fn success_parses_the_result_and_passes_the_documented_flags() {
    let stub = Stub::new(fixture!("claude-json-output.json"), 0);
    let (result, progress) = stub.call("claude-sonnet-4-5", &stub.request());
    let response = result.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(response.provider, "claude-code");
    assert_eq!(response.model, "claude-sonnet-4-5");
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 3
        }
    );
    assert_eq!(response.cost_usd, Some(0.000081));
    assert_eq!(response.stop_reason.as_deref(), Some("end_turn"));
    assert!(progress.contains(&Progress::Note(
        "claude-code session a2772cac-8088-47e6-8fe4-6d5b6110f0c1".into()
    )));

    let args = stub.args();
    let prompt = "The conversation so far:\n\n## User\n\nhello\n\n## Assistant\n\nhi\n\n\
                  ## User (answer this)\n\nping";
    let expected = [
        "-p",
        "--output-format",
        "json",
        "--max-turns",
        "10",
        "--model",
        "claude-sonnet-4-5",
        "--append-system-prompt",
        "You are terse.",
        "--tools",
        "Read,Glob,Grep",
        "--",
        prompt,
    ];
    assert_eq!(args, expected);
    assert_eq!(
        Path::new(stub.file("pwd.txt").trim())
            .canonicalize()
            .unwrap(),
        stub.dir.path().canonicalize().unwrap()
    );
}

#[test]
fn editing_steps_accept_edits_and_options_apply() {
    let stub = Stub::new(fixture!("claude-json-output.json"), 0);
    let mut req = stub.request();
    req.edits_tree = true;
    req.system = None;
    req.messages = vec![crate::Message::user("-fix it")];
    stub.call("?max_turns=3", &req).0.unwrap();
    let expected = [
        "-p",
        "--output-format",
        "json",
        "--max-turns",
        "3",
        "--tools",
        EDIT_TOOLS,
        "--permission-mode",
        "acceptEdits",
        "--allowedTools",
        EDIT_TOOLS,
        "--",
        "-fix it",
    ];
    assert_eq!(stub.args(), expected);
}

#[test]
fn long_prompts_go_on_stdin() {
    let stub = Stub::new(fixture!("claude-json-output.json"), 0);
    let mut req = stub.request();
    let long = "x".repeat(ARG_BYTES_MAX + 1);
    req.messages = vec![crate::Message::user(long.clone())];
    stub.call("sonnet", &req).0.unwrap();
    assert_eq!(stub.file("stdin.txt"), long);
    assert!(!stub.args().contains(&"--".to_string()));
}

#[test]
fn api_errors_are_classified_by_status() {
    let cases = [
        (fixture!("claude-json-error-400.json"), "permanent"),
        (fixture!("claude-json-error-401.json"), "config"),
        (fixture!("claude-json-error-429.json"), "transient"),
        (fixture!("claude-json-error-529.json"), "transient"),
        (fixture!("claude-json-no-auth.json"), "config"),
        // The real CLI (with CLAUDE_CODE_MAX_RETRIES=0) pointed at a closed port.
        (fixture!("claude-json-connection-refused.json"), "transient"),
    ];
    for (out, want) in cases {
        let stub = Stub::new(out, 1);
        let err = stub.call("sonnet", &stub.request()).0.unwrap_err();
        let got = match &err {
            ProviderError::Transient { .. } => "transient",
            ProviderError::Permanent { .. } => "permanent",
            ProviderError::Config { hint, .. } => {
                assert!(hint.contains("claude auth login"), "{err}");
                "config"
            }
        };
        assert_eq!(got, want, "{err}");
    }
}

#[test]
fn max_turns_is_permanent_with_the_subtype() {
    let stub = Stub::new(fixture!("claude-json-error-max-turns.json"), 1);
    let err = stub.call("sonnet", &stub.request()).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("error_max_turns"), "{err}");
    assert!(
        err.message()
            .contains("Reached maximum number of turns (1)"),
        "{err}"
    );
}

#[test]
fn output_without_a_result_is_reported() {
    let stub = Stub::new("this is not json", 0);
    let err = stub.call("sonnet", &stub.request()).0.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent { .. }), "{err:?}");
    assert!(err.message().contains("without a JSON result"), "{err}");

    let stub = Stub::new("", 1);
    fs::write(
        stub.dir.path().join("err.txt"),
        "Not logged in · Please run /login",
    )
    .unwrap();
    let err = stub.call("sonnet", &stub.request()).0.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
}

#[test]
fn missing_binary_is_a_config_error_with_an_install_hint() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(&[(BIN_VAR, "/nonexistent/loom-test/claude")]);
    let provider = ClaudeCodeProvider::from_spec("sonnet", &env).unwrap();
    let req = Request {
        workdir: dir.path().to_path_buf(),
        ..request(Duration::from_secs(5))
    };
    let err = provider.complete(&req, &mut |_| {}).unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("npm install"), "{err}");
    assert!(err.hint().unwrap().contains(BIN_VAR), "{err}");
}

/// Whether `pid` is gone (or a zombie, which only its new parent, not loom, can reap).
#[cfg(target_os = "linux")]
fn gone(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn timeout_kills_the_child_and_its_group() {
    let stub = Stub::new(fixture!("claude-json-output.json"), 0);
    fs::write(stub.dir.path().join("sleep.wanted"), "").unwrap();
    let mut req = stub.request();
    req.timeout = Duration::from_millis(600);
    let started = Instant::now();
    let err = stub.call("sonnet", &req).0.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("timed out after 600 ms"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The child was reaped by loom: no /proc entry at all, not even a zombie.
    let pid = stub.file("pid.txt");
    assert!(
        fs::metadata(format!("/proc/{}", pid.trim())).is_err(),
        "child {pid} remains"
    );
    let grandchild = stub.file("grandchild.txt");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !gone(&grandchild) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(&grandchild), "grandchild {grandchild} still runs");
}

/// Acceptance against the real CLI: set `LOOM_TEST_REAL_CLAUDE` to its binary (the one bundled
/// in the PyPI package claude-agent-sdk works offline) and run with `--ignored`. The CLI talks to
/// a loopback fake of the Anthropic API serving the captured stream; loom must pass flags the
/// CLI accepts and parse what it prints.
#[test]
#[ignore = "needs the real Claude Code CLI in LOOM_TEST_REAL_CLAUDE"]
fn real_cli_against_a_loopback_api() {
    let real = std::env::var("LOOM_TEST_REAL_CLAUDE").expect("LOOM_TEST_REAL_CLAUDE is not set");
    let server = Server::start(vec![Reply::typed(
        "text/event-stream",
        fixture!("anthropic-stream.sse"),
    )]);
    let home = tempfile::tempdir().unwrap();
    // A wrapper as LOOM_CLAUDE_BIN: the CLI's environment is set here, not in this process.
    let wrapper = format!(
        "#!/bin/sh\nexport HOME='{}' ANTHROPIC_BASE_URL='{}' ANTHROPIC_API_KEY=sk-ant-fake \
         DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
         CLAUDE_CODE_MAX_RETRIES=0\nexec '{real}' \"$@\"\n",
        home.path().display(),
        server.base
    );
    let stub = Stub::with_script(&wrapper, "", 0);
    let mut req = stub.request();
    req.messages = vec![crate::Message::user("-say pong")];
    req.timeout = Duration::from_secs(60);
    let response = stub.call("claude-sonnet-4-5?max_turns=2", &req).0.unwrap();
    assert_eq!(response.text, "pong");
    assert_eq!(response.model, "claude-sonnet-4-5");
    assert_eq!(response.usage.output_tokens, 3);
    assert!(response.cost_usd.is_some());
    assert!(server.requests()[0].path.starts_with("/v1/messages"));
}

#[test]
fn check_runs_the_version_and_names_a_missing_binary() {
    let stub = Stub::with_script("#!/bin/sh\necho '2.0.50 (Claude Code)'\n", "", 0);
    let found = {
        let p = stub.provider("claude-code:");
        let _r = FORK.read().unwrap();
        p.check().unwrap()
    };
    assert!(found.contains("2.0.50 (Claude Code)"), "{found}");
    let missing =
        ClaudeCodeProvider::from_spec("claude-code:", &env(&[(BIN_VAR, "/nonexistent/claude")]))
            .unwrap();
    let err = missing.check().unwrap_err().to_string();
    assert!(err.contains("was not found"), "{err}");
}

#[test]
fn check_asks_whether_the_cli_is_logged_in_without_a_billed_call() {
    let script = |logged_in: &str, code: i32| {
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '2.1.330 (Claude Code)'; exit 0; fi\n\
             if [ \"$1 $2 $3\" = 'auth status --json' ]; then echo '{logged_in}'; exit {code}; fi\n\
             echo billed > billed.txt; exit 9\n"
        )
    };
    let out = Stub::with_script(
        &script(r#"{"loggedIn":false,"authMethod":"none"}"#, 1),
        "",
        0,
    );
    let err = {
        let p = out.provider("claude-code:");
        let _r = FORK.read().unwrap();
        p.check().unwrap_err()
    };
    assert!(matches!(err, ProviderError::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("not logged in"), "{err}");
    assert!(err.hint().unwrap().contains("claude auth login"), "{err}");

    let ok = Stub::with_script(
        &script(r#"{"loggedIn":true,"authMethod":"oauth_token"}"#, 0),
        "",
        0,
    );
    let said = {
        let p = ok.provider("claude-code:");
        let _r = FORK.read().unwrap();
        p.check().unwrap()
    };
    assert!(
        said.contains("2.1.330") && said.contains("logged in (oauth_token)"),
        "{said}"
    );
    for s in [&out, &ok] {
        assert!(
            !s.dir.path().join("billed.txt").exists(),
            "check made a call"
        );
    }
}

/// loom owns the retry policy: the CLI is told not to retry API errors itself.
#[test]
fn the_cli_is_told_not_to_retry_on_its_own() {
    let script =
        "#!/bin/sh\nprintf '%s' \"$CLAUDE_CODE_MAX_RETRIES\" > retries.txt\ncat out.json\n";
    let stub = Stub::with_script(script, fixture!("claude-json-output.json"), 0);
    let (result, _) = stub.call("claude-sonnet-4-5", &stub.request());
    result.unwrap();
    assert_eq!(stub.file("retries.txt"), "0");
}
