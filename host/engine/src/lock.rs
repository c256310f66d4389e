//! One driver per project: whichever process drives a run holds an exclusive `flock` on
//! `.loom/driver.lock`. The kernel drops the lock when the process dies, SIGKILL included, so
//! a crashed driver never blocks the next one, and no stale-pid guessing is needed.
//!
//! The lock file also says who holds it (pid, command line, transport, since when), written
//! after the lock is taken, so a second would-be driver can name the holder.

use crate::error::{EngineError, Result};
use crate::project;
use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file whose `flock` is the right to drive the project.
pub const LOCK_FILE: &str = "driver.lock";

/// Longest command line kept in the lock file (it is shown to people, not parsed).
const COMMAND_BYTES_MAX: usize = 200;

/// Who drives a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's command line, e.g. `loom run fix the median`.
    pub command: String,
    /// The transport it drives through (`cli`, `http`, …).
    pub transport: String,
    /// When it took the lock (Unix ms, wall clock: for people, never for the record).
    pub since_ms: u64,
}

impl Holder {
    /// This process, driving through `transport`.
    pub fn this_process(transport: &str) -> Holder {
        let mut command = std::env::args()
            .enumerate()
            .map(|(i, a)| {
                if i == 0 {
                    Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(a)
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        truncate(&mut command, COMMAND_BYTES_MAX);
        Holder {
            pid: std::process::id(),
            command,
            transport: transport.to_owned(),
            since_ms: now_ms(),
        }
    }

    /// "pid 123 (`loom run …`, via cli) since 20:53:01 UTC, 12 s ago".
    pub fn describe(&self) -> String {
        let ago = now_ms().saturating_sub(self.since_ms) / 1000;
        format!(
            "pid {} (`{}`, via {}) since {} UTC, {ago} s ago",
            self.pid,
            self.command,
            self.transport,
            clock_of_day(self.since_ms)
        )
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn clock_of_day(ms: u64) -> String {
    let s = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The right to drive one project, held until dropped (or the process dies).
#[derive(Debug)]
pub struct DriverLock {
    _file: File,
    path: PathBuf,
}

fn lock_path(root: &Path) -> PathBuf {
    root.join(project::DIR).join(LOCK_FILE)
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(EngineError::io(format!("cannot open {}", path.display())))
}

/// How long a would-be driver retries before calling the lock held: a reader that checks for a
/// driver (`holder`) holds a shared lock for a few microseconds, and must not be mistaken for one.
const CONTENDED_RETRY: Duration = Duration::from_millis(50);

impl DriverLock {
    /// Takes the lock now, or says who holds it ([`EngineError::Busy`]).
    pub fn acquire(root: &Path, me: &Holder) -> Result<DriverLock> {
        let path = lock_path(root);
        let file = open(&path)?;
        let start = Instant::now();
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Self::take(file, path, me),
                Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {
                    if start.elapsed() >= CONTENDED_RETRY {
                        // Read who holds it; a holder that has not written itself yet is
                        // still a holder.
                        let holder = read_holder(&path).unwrap_or(Holder {
                            pid: 0,
                            command: "(starting)".into(),
                            transport: "?".into(),
                            since_ms: now_ms(),
                        });
                        return Err(EngineError::Busy(Box::new(holder)));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(EngineError::Io {
                        what: format!("cannot lock {}", path.display()),
                        source: e.into(),
                    })
                }
            }
        }
    }

    /// Waits until the lock is free (up to `timeout`), calling `waiting` once with the holder.
    pub fn acquire_wait(
        root: &Path,
        me: &Holder,
        timeout: Option<Duration>,
        mut waiting: impl FnMut(&Holder),
    ) -> Result<DriverLock> {
        let start = Instant::now();
        let mut told = false;
        loop {
            match Self::acquire(root, me) {
                Err(EngineError::Busy(h)) => {
                    if timeout.is_some_and(|t| start.elapsed() >= t) {
                        return Err(EngineError::Busy(h));
                    }
                    if !told {
                        waiting(&h);
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn take(mut file: File, path: PathBuf, me: &Holder) -> Result<DriverLock> {
        let text = serde_json::to_string(me).map_err(|e| EngineError::Effect(e.to_string()))?;
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            f.write_all(text.as_bytes())?;
            f.flush()
        };
        write(&mut file).map_err(EngineError::io(format!("cannot write {}", path.display())))?;
        Ok(DriverLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DriverLock {
    fn drop(&mut self) {
        // Say nobody holds it before the OS releases the lock on close; a crash skips this,
        // and readers then see a holder file with no lock behind it, which `holder` ignores.
        let _ = self._file.set_len(0);
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Who drives the project at `root` right now, if anyone. Never takes the driver's lock for
/// longer than a probe, and works on a read-only `.loom` (then it cannot tell, and says none).
pub fn holder(root: &Path) -> Option<Holder> {
    let path = lock_path(root);
    let file = File::open(&path).ok()?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        // Nobody holds it exclusively: whatever the file says is left over from a crash.
        Ok(()) => {
            let _ = flock(&file, FlockOperation::Unlock);
            None
        }
        Err(_) => read_holder(&path).or(Some(Holder {
            pid: 0,
            command: "(starting)".into(),
            transport: "?".into(),
            since_ms: now_ms(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(project::DIR)).unwrap();
        d
    }

    /// Whether the lock in `dir` is seen free within 2 s. Another test thread forking a child
    /// (git, sh) holds a copy of a just-closed lock's file description until the child execs,
    /// so the lock may look held for that instant after its holder let go.
    fn becomes_free(dir: &Path) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while holder(dir).is_some() {
            if std::time::Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    #[test]
    fn a_second_driver_is_told_who_holds_the_lock() {
        let d = project();
        let me = Holder::this_process("cli");
        let held = DriverLock::acquire(d.path(), &me).unwrap();
        let other = Holder {
            transport: "http".into(),
            ..me.clone()
        };
        match DriverLock::acquire(d.path(), &other) {
            Err(EngineError::Busy(h)) => assert_eq!(*h, me),
            other => panic!("expected busy, got {other:?}"),
        }
        assert_eq!(holder(d.path()), Some(me.clone()));
        drop(held);
        assert!(becomes_free(d.path()), "{:?}", holder(d.path()));
        let again = DriverLock::acquire(d.path(), &other).unwrap();
        assert_eq!(holder(d.path()).map(|h| h.transport), Some("http".into()));
        drop(again);
    }

    #[test]
    fn a_probe_by_a_reader_does_not_make_the_lock_look_held() {
        let d = project();
        let me = Holder::this_process("cli");
        for _ in 0..50 {
            assert!(becomes_free(d.path()), "{:?}", holder(d.path()));
            let l = DriverLock::acquire(d.path(), &me).unwrap();
            drop(l);
        }
    }

    #[test]
    fn waiting_gives_up_after_the_timeout_naming_the_holder() {
        let d = project();
        let me = Holder::this_process("cli");
        let _held = DriverLock::acquire(d.path(), &me).unwrap();
        let mut told = 0;
        let r = DriverLock::acquire_wait(d.path(), &me, Some(Duration::from_millis(300)), |h| {
            assert_eq!(h.pid, std::process::id());
            told += 1;
        });
        assert!(matches!(r, Err(EngineError::Busy(_))), "{r:?}");
        assert_eq!(told, 1);
    }

    #[test]
    fn long_commands_are_cut_on_a_character_boundary() {
        let mut s = "é".repeat(300);
        truncate(&mut s, COMMAND_BYTES_MAX);
        assert!(s.len() <= COMMAND_BYTES_MAX + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
