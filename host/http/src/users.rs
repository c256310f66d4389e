//! Named users and their tokens (`.loom/users.json`). A token is 32 random bytes from the
//! OS, shown once when the user is added; only its SHA-256 is stored, so the file is no
//! secret and a leaked copy lets nobody in. The file is read on each request, so a user
//! added (or removed) while the server runs counts at once.

use loom_kernel::hash::{hex, sha256_hex};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const USERS_FILE: &str = "users.json";

/// Longest user name: it is recorded with every decision the user makes.
const NAME_BYTES_MAX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid users file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read random bytes from /dev/urandom: {0}")]
    Random(std::io::Error),
    #[error("a user name is 1-{NAME_BYTES_MAX} letters, digits, `-`, `_` or `.`; got {0:?}")]
    BadName(String),
    #[error("user {0:?} exists already (remove it from .loom/users.json to issue a new token)")]
    Exists(String),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Users {
    pub users: Vec<User>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub token_sha256: String,
}

pub fn users_path(root: &Path) -> PathBuf {
    root.join(loom_engine::project::DIR).join(USERS_FILE)
}

impl Users {
    /// The users of the project at `root` (none if the file does not exist).
    pub fn load(root: &Path) -> Result<Users, UsersError> {
        let path = users_path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::default()),
            Err(source) => return Err(UsersError::Read { path, source }),
        };
        serde_json::from_str(&text).map_err(|source| UsersError::Parse { path, source })
    }

    /// The user whose token this is.
    pub fn find(&self, token: &str) -> Option<&User> {
        let h = sha256_hex(token.as_bytes());
        self.users.iter().find(|u| u.token_sha256 == h)
    }
}

/// Adds user `name` to the project at `root` and returns its new token (to show once).
pub fn add_user(root: &Path, name: &str) -> Result<String, UsersError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(UsersError::BadName(name.to_owned()));
    }
    let mut users = Users::load(root)?;
    if users.users.iter().any(|u| u.name == name) {
        return Err(UsersError::Exists(name.to_owned()));
    }
    let token = new_token()?;
    users.users.push(User {
        name: name.to_owned(),
        token_sha256: sha256_hex(token.as_bytes()),
    });
    let path = users_path(root);
    let json = serde_json::to_string_pretty(&users).map_err(|source| UsersError::Parse {
        path: path.clone(),
        source,
    })?;
    write_private(&path, json.as_bytes()).map_err(|source| UsersError::Write { path, source })?;
    Ok(token)
}

/// A new random token: 32 bytes from the OS, hex.
pub fn new_token() -> Result<String, UsersError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(UsersError::Random)?;
    Ok(hex(&bytes))
}

/// Writes `data` to `path` readable by the owner only, replacing it atomically (a reader
/// never sees half a file).
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
