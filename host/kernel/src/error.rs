use crate::model::Violation;

/// Everything the kernel can refuse or fail at, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),

    #[error(
        "this .loom/loom.db has schema version {found}, newer than this loom understands \
         (up to {supported}); upgrade loom"
    )]
    SchemaTooNew { found: i64, supported: i64 },

    #[error(
        "task #{id} \"{title}\" is still open (one task at a time per project); finish it with \
         `loom resume`, or drop it with `loom abandon`"
    )]
    TaskOpen { id: u64, title: String },

    #[error("no run #{0} in this project; `loom runs` lists the runs")]
    NoSuchRun(u64),

    #[error("no pending gate matches \"{0}\"; `loom gates` lists the pending ones")]
    NoSuchGate(String),

    #[error("gate \"{name}\" is for {} to decide, not {}", article(.expected), article(.got))]
    WrongDecider {
        name: String,
        expected: String,
        got: String,
    },

    #[error("run #{run} is {status}; {hint}")]
    RunNotActive {
        run: u64,
        status: String,
        hint: &'static str,
    },

    #[error(
        "tick {seq} of run #{run} was already written by another loom process; run \
         `loom status` and try again"
    )]
    Conflict { run: u64, seq: u64 },

    #[error("the bundle's rules could not be checked, so the tick was rolled back: {0}")]
    Rules(String),

    #[error("{}", refused(.0))]
    Violated(Vec<Violation>),

    #[error("gate {0}: only an approval can carry edits; reject it with a reason instead")]
    EditedRejection(String),

    #[error("stored data is damaged: {0}")]
    Corrupt(String),

    #[error("{0} is a project's database, not a scratch one; it is never emptied")]
    NotScratch(String),

    #[error("{path} cannot be read: {why}")]
    Unreadable { path: String, why: String },

    #[error(
        "this is not a loom database: {why}. loom keeps its record in .loom/loom.db; point it at \
         that file (or at a copy of it)"
    )]
    NotLoom { why: String },
}

pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// "a human", "an agent": a decider's name with its article, for messages.
fn article(word: &str) -> String {
    let a = if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{a} {word}")
}

/// "rule R refused it: …", naming the first of several.
fn refused(v: &[crate::Violation]) -> String {
    match v {
        [] => "the rules refused the tick".to_owned(),
        [one] => format!("rule {} refused it: {}", one.rule, one.message),
        [first, ..] => format!(
            "{} rules refused it; the first, {}: {}",
            v.len(),
            first.rule,
            first.message
        ),
    }
}
