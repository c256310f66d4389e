//! Running the `claude` child: bounded output capture, a deadline, and killing its whole process
//! group so that no tool it started outlives the call.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// At most this much of stdout is kept (the result JSON is small; a runaway child is not).
pub(super) const STDOUT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// At most this much of stderr is kept, for error messages.
const STDERR_BYTES_MAX: u64 = 64 * 1024;
/// How often the deadline is checked while the child runs.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the output pipes to close once the child and its group are gone.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The Claude Code CLI's own retry count of API errors.
pub(super) const RETRIES_VAR: &str = "CLAUDE_CODE_MAX_RETRIES";

pub(super) enum RunError {
    Spawn(std::io::Error),
    TimedOut,
    Wait(std::io::Error),
}

/// Runs `bin args…` in `workdir`, feeding `stdin` if given, until it exits or `timeout` passes.
pub(super) fn run(
    bin: &Path,
    args: &[OsString],
    stdin: Option<String>,
    workdir: &Path,
    timeout: Duration,
) -> Result<Output, RunError> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(workdir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // loom owns the retry policy (`max_retries`, then the next provider in the chain): the
        // CLI's own retries of a 429 or 529 would turn one call into minutes of silent waiting
        // and report a timeout instead of the error.
        .env(RETRIES_VAR, "0");
    // Its own process group, so a timeout can kill claude and every tool it started at once.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;

    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A thread, because a child that does not read its input must not block us; a write
        // error only means the child exited early, which its exit status reports.
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let stdout = drain(child.stdout.take(), STDOUT_BYTES_MAX);
    let stderr = drain(child.stderr.take(), STDERR_BYTES_MAX);

    let deadline = Instant::now() + timeout;
    // Bounded by the deadline.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(RunError::TimedOut);
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                kill(&mut child);
                return Err(RunError::Wait(e));
            }
        }
    };
    // Whatever claude left running in its group (a background shell, say) goes with it: a
    // call's side effects end with the call.
    kill_group(&child);
    Ok(Output {
        status,
        stdout: stdout.recv_timeout(DRAIN_WAIT).unwrap_or_default(),
        stderr: stderr.recv_timeout(DRAIN_WAIT).unwrap_or_default(),
    })
}

/// Reads a pipe to its end on a thread, keeping at most `max` bytes and discarding the rest so
/// the child never blocks on a full pipe.
fn drain<R: Read + Send + 'static>(pipe: Option<R>, max: u64) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut pipe).take(max).read_to_end(&mut kept);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            let _ = tx.send(kept);
        });
    }
    rx
}

/// Kills the child's process group, then the child itself, and reaps it so no zombie remains.
fn kill(child: &mut Child) {
    kill_group(child);
    // Harmless if the group kill already got it; needed where there are no process groups.
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(unix)]
fn kill_group(child: &Child) {
    use rustix::process::{kill_process_group, Pid, Signal};
    // The group id is the child's pid (process_group(0) above). An error means the group is
    // already gone, which is the goal.
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_child: &Child) {}
