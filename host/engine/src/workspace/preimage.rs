//! What the files a diff touches held before it was applied, so that an apply interrupted by a
//! crash can be put right on retry: undone exactly, then done again.
//!
//! The pre-image is captured when the apply-diff effect is prepared and stored in its intent's
//! request, i.e. committed before `git apply` runs. `git apply` first removes every file it
//! modifies, then writes the new ones one by one, so a kill in between leaves each touched
//! path in one of four states: as before, absent, partly written (a prefix of its new
//! content), or as after. Anything else was done by someone other than loom.

use loom_kernel::hash::{hex, sha256_hex};
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::path::{Component, Path};

/// Most bytes of file content one pre-image keeps. A larger diff target is applied without a
/// pre-image (as loom did before it kept one): the request is stored with every attempt.
pub const PREIMAGE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// What one path held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// Nothing there (a file the diff creates, or one an interrupted apply had removed).
    Absent,
    File {
        bytes: Vec<u8>,
        executable: bool,
    },
    Symlink {
        target: String,
    },
}

impl Image {
    /// Same content and kind; the mode bits are restored but not compared, so a `chmod` alone
    /// does not count as an edit.
    fn same(&self, other: &Image) -> bool {
        match (self, other) {
            (Image::File { bytes: a, .. }, Image::File { bytes: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

/// The pre-image of every path a diff touches, sorted by path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreImage {
    pub files: Vec<(String, Image)>,
}

/// Where a touched path stands between the pre-image and the post-image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathState {
    Before,
    After,
    /// Absent, or a prefix of its new content: what a killed `git apply` leaves.
    Interrupted,
    /// Neither, and not something `git apply` leaves: someone edited it.
    Foreign,
}

impl PreImage {
    /// Reads `paths` under `root`. An error says why they cannot be kept: a path that cannot
    /// be read or is not a file, or more content than [`PREIMAGE_BYTES_MAX`].
    pub fn capture(root: &Path, paths: &[String]) -> Result<PreImage, String> {
        let mut files = Vec::with_capacity(paths.len());
        let mut bytes_total = 0usize;
        for path in paths {
            let image = read_image(root, path)?;
            if let Image::File { bytes, .. } = &image {
                bytes_total += bytes.len();
            }
            if bytes_total > PREIMAGE_BYTES_MAX {
                return Err(format!(
                    "the files the diff touches hold more than {PREIMAGE_BYTES_MAX} bytes"
                ));
            }
            files.push((path.clone(), image));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(PreImage { files })
    }

    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The same paths as they are in `root` now.
    pub fn current(&self, root: &Path) -> Result<PreImage, String> {
        PreImage::capture(root, &self.paths())
    }

    /// Whether `other` holds the same content at every path.
    pub fn same(&self, other: &PreImage) -> bool {
        self.files.len() == other.files.len()
            && self
                .files
                .iter()
                .zip(&other.files)
                .all(|((p, a), (q, b))| p == q && a.same(b))
    }

    /// Each path of `now`, judged against this pre-image and the diff's `post` image.
    pub fn states(&self, now: &PreImage, post: &PreImage) -> Vec<(String, PathState)> {
        let lookup = |set: &PreImage, path: &str| {
            set.files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, i)| i.clone())
                .unwrap_or(Image::Absent)
        };
        now.files
            .iter()
            .map(|(path, image)| {
                let before = lookup(self, path);
                let after = lookup(post, path);
                let state = if image.same(&before) {
                    PathState::Before
                } else if image.same(&after) {
                    PathState::After
                } else {
                    match (image, &after) {
                        (Image::Absent, _) => PathState::Interrupted,
                        (Image::File { bytes, .. }, Image::File { bytes: full, .. })
                            if full.starts_with(bytes) =>
                        {
                            PathState::Interrupted
                        }
                        _ => PathState::Foreign,
                    }
                };
                (path.clone(), state)
            })
            .collect()
    }

    /// Puts every path back exactly as it was: content, kind, executable bit; absent paths
    /// removed. Only the paths of this pre-image are touched.
    pub fn restore(&self, root: &Path) -> Result<(), String> {
        for (path, image) in &self.files {
            write_image(root, path, image)
                .map_err(|e| format!("could not restore {path} to how it was: {e}"))?;
        }
        Ok(())
    }

    /// The form stored in the intent's request: content as text when it is UTF-8, else hex.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.files
                .iter()
                .map(|(path, image)| match image {
                    Image::Absent => json!({"path": path, "absent": true}),
                    Image::Symlink { target } => json!({"path": path, "symlink": target}),
                    Image::File { bytes, executable } => {
                        let mut v = json!({"path": path, "sha256": sha256_hex(bytes),
                            "mode": if *executable { "100755" } else { "100644" }});
                        match std::str::from_utf8(bytes) {
                            Ok(text) => v["text"] = json!(text),
                            Err(_) => v["hex"] = json!(hex(bytes)),
                        }
                        v
                    }
                })
                .collect(),
        )
    }

    /// Reads [`PreImage::to_json`]'s form back, checking each file's hash: a damaged request
    /// must not be restored over the user's files.
    pub fn from_json(v: &Value) -> Result<PreImage, String> {
        let items = v.as_array().ok_or("the pre-image is not a list")?;
        let mut files = Vec::with_capacity(items.len());
        for item in items {
            let path = item["path"]
                .as_str()
                .ok_or("a pre-image entry has no path")?
                .to_owned();
            checked_relative(&path)?;
            let image = if item["absent"] == true {
                Image::Absent
            } else if let Some(target) = item["symlink"].as_str() {
                Image::Symlink {
                    target: target.to_owned(),
                }
            } else {
                let bytes = match (item["text"].as_str(), item["hex"].as_str()) {
                    (Some(t), _) => t.as_bytes().to_vec(),
                    (None, Some(h)) => unhex(h).ok_or_else(|| format!("{path}: bad hex"))?,
                    _ => return Err(format!("pre-image of {path} has no content")),
                };
                if item["sha256"].as_str() != Some(sha256_hex(&bytes).as_str()) {
                    return Err(format!("pre-image of {path} does not match its hash"));
                }
                Image::File {
                    bytes,
                    executable: item["mode"] == "100755",
                }
            };
            files.push((path, image));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(PreImage { files })
    }
}

/// A path the diff names must stay inside the tree (git refuses others too, but a stored
/// request is restored over the user's files, so check again).
fn checked_relative(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(format!("{path:?} is not a path inside the project"))
    }
}

fn read_image(root: &Path, path: &str) -> Result<Image, String> {
    checked_relative(path)?;
    let full = root.join(path);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Image::Absent),
        Err(e) => return Err(format!("could not read {path}: {e}")),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&full).map_err(|e| format!("{path}: {e}"))?;
        return Ok(Image::Symlink {
            target: target.to_string_lossy().into_owned(),
        });
    }
    if !meta.is_file() {
        return Err(format!("{path} is not a file"));
    }
    let bytes = std::fs::read(&full).map_err(|e| format!("could not read {path}: {e}"))?;
    Ok(Image::File {
        bytes,
        executable: is_executable(&meta),
    })
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn write_image(root: &Path, path: &str, image: &Image) -> std::io::Result<()> {
    let full = root.join(path);
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.is_dir() => {
            return Err(std::io::Error::other("a directory is in the way"));
        }
        Ok(_) => std::fs::remove_file(&full)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if *image == Image::Absent {
        return Ok(());
    }
    if let Some(dir) = full.parent() {
        // `git apply` removes directories it emptied; put them back.
        std::fs::create_dir_all(dir)?;
    }
    match image {
        Image::Absent => Ok(()),
        Image::File { bytes, executable } => {
            std::fs::write(&full, bytes)?;
            set_executable(&full, *executable)
        }
        Image::Symlink { target } => symlink(target, &full),
    }
}

#[cfg(unix)]
fn set_executable(full: &Path, executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(full)?.permissions();
    let mode = perms.mode();
    perms.set_mode(if executable {
        mode | 0o111
    } else {
        mode & !0o111
    });
    std::fs::set_permissions(full, perms)
}

#[cfg(not(unix))]
fn set_executable(_full: &Path, _executable: bool) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &str, full: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, full)
}

#[cfg(not(unix))]
fn symlink(_target: &str, _full: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symbolic links are not supported here",
    ))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
