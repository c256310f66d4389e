//! Shared helpers: a runtime, the testkit bundle, and a kernel store with one run started.

use loom_kernel::{NewRun, Store, TickKind, TickMeta, TickToken, View};
use loom_runtime::{Bundle, Limits, Runtime};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn runtime() -> Runtime {
    match Runtime::new(Limits::default(), None) {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    }
}

pub fn testkit(rt: &Runtime) -> Bundle {
    match rt.load_bundle(loom_guests::TESTKIT) {
        Ok(b) => b,
        Err(e) => panic!("testkit: {e}"),
    }
}

/// An in-memory store with a committed run whose task is titled `title` (which picks the
/// testkit's behaviour).
pub struct Run {
    pub store: Store,
    pub id: u64,
}

impl Run {
    pub fn start(title: &str) -> Result<Run, loom_kernel::KernelError> {
        Self::start_with(title, r#"{"depth": 2}"#)
    }

    /// A run whose project settings are `settings` (a JSON object).
    pub fn start_with(title: &str, settings: &str) -> Result<Run, loom_kernel::KernelError> {
        let store = Store::open_in_memory()?;
        let new = NewRun {
            title: title.to_owned(),
            bundle_name: "testkit".into(),
            bundle_version: "0.1.0".into(),
            bundle_hash: "0".repeat(64),
            phase: "work".into(),
            settings: settings.into(),
            options: "{}".into(),
        };
        let tick = store.begin_run(&new, None)?;
        let id = tick.token().run;
        tick.commit(TickMeta::new(TickKind::Start, "start"), None)?;
        Ok(Run { store, id })
    }

    pub fn view(&self) -> View {
        self.store.view(self.id)
    }

    pub fn token(&self) -> Result<TickToken, loom_kernel::KernelError> {
        self.store.next_token(self.id)
    }
}
