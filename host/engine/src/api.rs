//! The commands transports call.

use crate::error::{EngineError, Result};
pub use crate::reads::{ChainReport, LogEntry, Status};
use crate::{project, Config, Engine, Observer, UNCERTAIN_PREFIX};
use loom_kernel::{
    Decider, Gate, KernelError, NewRun, Run, RunStatus, Store, Task, TickKind, TickMeta,
    ViolationRow,
};
use loom_providers::Chain;
use loom_runtime::{Bundle, Limits, Runtime};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// Where a run stands after a command drove it.
#[derive(Debug, Serialize)]
pub struct DriveReport {
    pub run: Run,
    pub task: Task,
    /// Gates waiting for a human.
    pub waiting_on: Vec<Gate>,
    pub violations: Vec<ViolationRow>,
    /// Why the run stopped, typed, when it stopped (format 2 on).
    pub stop: Option<crate::Stop>,
}

/// The newest format of what a run records; kept in each run's options. Runs recorded
/// before formats were numbered have none and are format 1. Format 2 records stops as typed
/// codes and freezes the budget caps; format 3 records nothing of a gate decision the
/// bundle's `apply` refuses (format 2 recorded the decision and stopped the run); format 4
/// words what it records for people ("an agent", "rule approved", a budget refusal's dollars
/// with the digits that tell spend and cap apart). Each run replays under the rules of its
/// own format.
pub const RUN_FORMAT: u32 = 4;

fn format_v1() -> u32 {
    1
}

/// How the engine drives one run, frozen when it starts (and changed only by recorded ticks),
/// so a resume in another process, or a replay, drives it the same way.
#[derive(Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct RunOptions {
    /// One provider spec for every role, from `--provider`.
    pub provider: Option<String>,
    /// The record's format version.
    #[serde(default = "format_v1")]
    pub format: u32,
    /// The spending caps in force (format 2 on). Raising them in the config takes effect at
    /// the next resume, recorded in that resume's tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::Caps>,
}

impl RunOptions {
    /// The options of a stored run. Corrupt options are an error, never a silent default.
    pub(crate) fn parse(text: &str, run: u64) -> Result<RunOptions> {
        serde_json::from_str(text).map_err(|e| {
            EngineError::Kernel(KernelError::Corrupt(format!(
                "the options of run #{run} do not parse: {e}"
            )))
        })
    }

    pub(crate) fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| EngineError::Effect(e.to_string()))
    }
}

/// What the start tick of a run says.
pub(crate) fn start_summary(new: &NewRun) -> String {
    format!(
        "task started: \"{}\" with bundle {} {}",
        new.title, new.bundle_name, new.bundle_version
    )
}

impl Engine {
    /// Opens the project at `root` (which must have been initialised).
    pub fn open(root: &Path, observer: Box<dyn Observer>, transport: &str) -> Result<Engine> {
        let config = Config::load(root)?;
        let store = Store::open(&project::db_path(root), config.durability)?;
        let runtime = Runtime::new(
            Limits::default(),
            Some(root.join(project::DIR).join("cache")),
        )?;
        Ok(Engine {
            root: root.to_path_buf(),
            config,
            store,
            runtime,
            bundles: Vec::new(),
            observer: std::cell::RefCell::new(observer),
            transport: transport.to_owned(),
            pending_fault: std::cell::RefCell::new(None),
            budget: std::cell::RefCell::new(None),
            tally: std::cell::RefCell::new(None),
            recording: None,
            lock: None,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts a new task with `bundle_wasm` and drives it as far as it goes.
    pub fn start(
        &mut self,
        title: &str,
        bundle_wasm: &[u8],
        provider: Option<&str>,
    ) -> Result<DriveReport> {
        let run = self.begin_task(title, bundle_wasm, provider)?;
        self.drive(run)?;
        self.report(run)
    }

    /// Opens a new task and commits its run's first tick, without driving it: a transport
    /// that answers at once (HTTP's 202, an MCP tool call) then drives it with [`Engine::drive_run`].
    pub fn begin_task(
        &mut self,
        title: &str,
        bundle_wasm: &[u8],
        provider: Option<&str>,
    ) -> Result<u64> {
        if title.trim().is_empty() {
            return Err(EngineError::Usage("the task is empty; say what should be done, e.g. loom run \"fix the median of even-length lists\"".into()));
        }
        if let Some(open) = self.store.open_task()? {
            return Err(KernelError::TaskOpen {
                id: open.id,
                title: open.title,
            }
            .into());
        }
        if let Some(spec) = provider {
            // Fail now, not halfway through the run, and before anything is stored: a spec
            // holding a secret must never reach the database.
            loom_providers::validate_spec(spec)?;
            loom_providers::from_spec(spec, &self.root)
                .map_err(|e| EngineError::Usage(e.to_string()))?;
        }
        self.ensure_driver()?;
        // Checked again under the lock: another process may have opened one meanwhile.
        if let Some(open) = self.store.open_task()? {
            return Err(KernelError::TaskOpen {
                id: open.id,
                title: open.title,
            }
            .into());
        }
        let bundle = Arc::new(self.runtime.load_bundle(bundle_wasm)?);
        self.preflight(bundle.manifest(), provider)?;
        // The bundle's bytes go into the database, so resume and replay use exactly this bundle.
        self.store.put_blob_compressed(bundle_wasm)?;
        let m = bundle.manifest();
        let options = RunOptions {
            provider: provider.map(str::to_owned),
            format: RUN_FORMAT,
            budget: Some(crate::budget::Caps::from_config(&self.config)),
        }
        .to_json()?;
        let new = NewRun {
            title: title.trim().to_owned(),
            bundle_name: m.name.clone(),
            bundle_version: m.version.clone(),
            bundle_hash: bundle.hash().to_owned(),
            phase: m.phases.first().cloned().unwrap_or_else(|| "start".into()),
            settings: self.config.bundle_settings(),
            options,
        };
        let tick = self.store.begin_run(&new, None)?;
        let run = tick.token().run;
        let summary = start_summary(&new);
        self.bundles.push(bundle.clone());
        // The start tick holds only what loom wrote, so there is nothing for rules to judge
        // yet; the bundle's first call is `next`, in the following tick.
        self.commit(tick, TickMeta::new(TickKind::Start, summary), None)?;
        Ok(run)
    }

    /// Drives `run` (the open task's) as far as it goes, under the driver lock.
    pub fn drive_run(&mut self, run: u64) -> Result<DriveReport> {
        self.ensure_driver()?;
        self.drive(run)?;
        self.report(run)
    }

    pub(crate) fn open_run(&self) -> Result<Run> {
        match self.store.open_task()? {
            Some(task) => self.store.runs_of_task(task.id)?.pop().ok_or_else(|| {
                EngineError::Kernel(KernelError::Corrupt(format!(
                    "task #{} has no run",
                    task.id
                )))
            }),
            None => Err(EngineError::Usage(
                "no task is open; start one with `loom run \"…\"`".into(),
            )),
        }
    }

    /// Continues the open task's run after a crash, a stop or a fix to the config.
    pub fn resume(&mut self) -> Result<DriveReport> {
        self.resume_on(None)
    }

    /// [`Engine::resume`], and with `provider`, every agent role of the run uses that
    /// provider from now on (`loom resume --provider SPEC`): it is checked first as a run's
    /// providers are, and recorded in the resume's tick, so a replay follows the switch.
    pub fn resume_on(&mut self, provider: Option<&str>) -> Result<DriveReport> {
        let run = self.record_resume_on(provider)?;
        self.drive(run)?;
        self.report(run)
    }

    /// [`Engine::resume`] without driving on: a stopped run is set running again (recorded),
    /// and left for [`Engine::drive_run`]. Returns the run.
    pub fn record_resume(&mut self) -> Result<u64> {
        self.record_resume_on(None)
    }

    fn record_resume_on(&mut self, provider: Option<&str>) -> Result<u64> {
        // A fork a crash cut short is finished as the driver lock is taken: that is what
        // this resume does, wherever the fork then stands.
        let fork_to_finish = self.lock.is_none() && self.unfinished_fork()?;
        self.ensure_driver()?;
        let run = self.open_run()?;
        if fork_to_finish && run.status == RunStatus::Waiting {
            return Ok(run.id);
        }
        if let Some(spec) = provider {
            loom_providers::validate_spec(spec)?;
            let bundle = self.bundle_for(run.id)?;
            self.preflight(bundle.manifest(), Some(spec))?;
        }
        // A crashed run is running still; a switch of provider is recorded in a resume tick
        // all the same (a replay finds it there and makes the same tick).
        let switching = match &self.recording {
            Some(rec) => rec
                .tick(run.last_seq + 1)
                .is_some_and(|t| t.kind == TickKind::Resume),
            None => provider.is_some(),
        };
        match run.status {
            RunStatus::Waiting => {
                let gates = self.pending_human_gates(run.id)?;
                let names: Vec<String> = gates.iter().map(|g| g.name.clone()).collect();
                return Err(EngineError::Usage(format!(
                    "run #{} is waiting for a human to decide gate {}: `loom gates` shows it; \
                     `loom approve GATE` or `loom reject GATE --reason …`",
                    run.id,
                    names.join(", ")
                )));
            }
            RunStatus::Stopped | RunStatus::Running
                if run.status == RunStatus::Stopped || switching =>
            {
                let bundle = self.bundle_for(run.id)?;
                let token = self.token(run.id)?;
                let mut tick = self.store.begin(token)?;
                if run.status != RunStatus::Running {
                    tick.set_status(RunStatus::Running, None)?;
                }
                // Caps raised (or lowered) in the config since the run started take effect
                // now, recorded in this tick so a replay applies them at the same point.
                let changed = match &self.recording {
                    Some(rec) => rec.options_written(token.seq),
                    None => {
                        let mut options = RunOptions::parse(&run.options, run.id)?;
                        let mut changed = false;
                        let caps = crate::budget::Caps::from_config(&self.config);
                        if options.format >= 2 && options.budget.as_ref() != Some(&caps) {
                            options.budget = Some(caps);
                            changed = true;
                        }
                        if let Some(p) =
                            provider.filter(|p| options.provider.as_deref() != Some(*p))
                        {
                            options.provider = Some(p.to_owned());
                            changed = true;
                        }
                        match changed {
                            true => Some(options.to_json()?),
                            false => None,
                        }
                    }
                };
                let mut switched = String::new();
                if let Some(options) = changed {
                    let before = RunOptions::parse(&run.options, run.id)?.provider;
                    if let Some(p) = RunOptions::parse(&options, run.id)?.provider {
                        if before.as_deref() != Some(p.as_str()) {
                            switched = format!("; every agent role now calls {p}");
                        }
                    }
                    tick.set_options(&options)?;
                    self.budget.replace(None);
                }
                let why = match run.stop_reason.as_deref() {
                    Some(why) => why,
                    None if run.status == RunStatus::Running => "a crash",
                    None => "",
                };
                let meta = TickMeta::new(
                    TickKind::Resume,
                    format!("resumed via {} after: {why}{switched}", self.transport),
                );
                self.commit(tick, meta, Some(&bundle))?;
            }
            _ => {}
        }
        Ok(run.id)
    }

    fn pending_human_gates(&self, run: u64) -> Result<Vec<Gate>> {
        Ok(self
            .store
            .pending_gates(run)?
            .into_iter()
            .filter(|g| g.decider == Decider::Human)
            .collect())
    }

    /// The run of the open task (or, with none open, the newest run).
    pub fn current_run(&self) -> Result<Option<Run>> {
        crate::reads::current_run(&self.store)
    }

    /// Pending gates of the open run (all gates with `all`).
    pub fn gates(&self, all: bool) -> Result<Vec<Gate>> {
        crate::reads::gates(&self.store, all)
    }

    pub fn status(&self) -> Result<Status> {
        let mut s = crate::reads::status(&self.store)?;
        if self.lock.is_none() {
            crate::reads::with_driver(&mut s, &self.root);
        }
        Ok(s)
    }

    /// The tick timeline of `run` (default: the current one) with each tick's ledger rows.
    pub fn log(&self, run: Option<u64>) -> Result<Vec<LogEntry>> {
        crate::reads::log(&self.store, run)
    }

    /// Walks the hash chain of `run`, or of every run in the project.
    pub fn verify(&self, run: Option<u64>) -> Result<Vec<ChainReport>> {
        crate::reads::verify(&self.store, run)
    }

    /// Where `run` stands: its status, task, the gates waiting for a human, violations.
    pub fn report(&self, run: u64) -> Result<DriveReport> {
        let run = self.store.run(run)?;
        let task = self
            .store
            .task(run.task_id)?
            .ok_or_else(|| KernelError::Corrupt(format!("run #{} has no task", run.id)))?;
        let stop = match run.status {
            RunStatus::Stopped => crate::reads::last_stop(&self.store, &run)?,
            _ => None,
        };
        Ok(DriveReport {
            stop,
            waiting_on: self.pending_human_gates(run.id)?,
            violations: self.store.violations(run.id)?,
            run,
            task,
        })
    }

    /// The bundle `run` was started with, loaded from the database itself.
    pub(crate) fn bundle_for(&mut self, run: u64) -> Result<Arc<Bundle>> {
        if self.recording.is_some() {
            // A replay runs the one bundle it was given, whatever the run recorded.
            if let Some(b) = self.bundles.first() {
                return Ok(b.clone());
            }
        }
        let hash = self.store.run(run)?.bundle_hash;
        if let Some(b) = self.bundles.iter().find(|b| b.hash() == hash) {
            return Ok(b.clone());
        }
        let wasm = self.store.blob(&hash)?.ok_or_else(|| {
            KernelError::Corrupt(format!(
                "the bundle of run #{run} ({hash}) is missing from the database"
            ))
        })?;
        let b = Arc::new(self.runtime.load_bundle(&wasm)?);
        self.bundles.push(b.clone());
        Ok(b)
    }

    /// Every provider a run of `manifest` would call, built and checked before the task
    /// opens: a missing key, an unknown backend, a `claude` that is not installed, a role
    /// with no provider at all, or a dollar budget that could not count a provider's calls
    /// is a config error now (exit 3, nothing recorded), not a run stopped at its first
    /// agent step. The project's commands and settings are checked against what the bundle
    /// declares it needs first (see `needs.rs`), all problems at once.
    pub(crate) fn preflight(
        &self,
        manifest: &loom_runtime::Manifest,
        provider: Option<&str>,
    ) -> Result<()> {
        let roles: std::collections::BTreeSet<&str> = manifest
            .steps
            .iter()
            .filter_map(|s| s.role.as_deref())
            .collect();
        let path = Config::locate(&self.root)
            .unwrap_or_else(|| self.root.join(crate::project::DIR).join("config.toml"));
        let unmet = crate::needs::problems(manifest, &self.config);
        if !unmet.is_empty() {
            let list: String = unmet.iter().map(|p| format!("\n  - {p}")).collect();
            return Err(EngineError::Config {
                path,
                message: format!(
                    "the project does not give bundle {} {} what it needs:{list}\nno task was \
                     opened",
                    manifest.name, manifest.version
                ),
            });
        }
        for role in roles {
            let specs: Vec<String> = match provider {
                Some(p) => vec![p.to_owned()],
                None => self.config.chain_for(role).to_vec(),
            };
            if specs.is_empty() {
                return Err(EngineError::Config {
                    path,
                    message: format!(
                        "no provider is configured for the agent role {role}; set \
                         default_chain (or [agents.{role}] chain), or pass --provider; \
                         no task was opened"
                    ),
                });
            }
            for spec in &specs {
                let problem = match loom_providers::from_spec(spec, &self.root) {
                    Ok(p) => match p.preflight() {
                        Ok(()) => crate::cost_check::unbounded(&self.config, Some(role), spec, &*p),
                        Err(e) => Some(format!("cannot be used: {e}{}", hint(&e))),
                    },
                    Err(e) => Some(format!("cannot be used: {e}{}", hint(&e))),
                };
                if let Some(problem) = problem {
                    return Err(EngineError::Config {
                        path,
                        message: format!(
                            "the provider `{spec}` of role {role} {}; no task was opened",
                            problem
                                .strip_prefix(&format!("`{spec}` "))
                                .unwrap_or(&problem)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The provider chain of `role` in `run`: the run's `--provider` if it had one, else config.
    pub(crate) fn chain_for(&self, run: u64, role: &str) -> Result<Option<Chain>> {
        let options = RunOptions::parse(&self.store.run(run)?.options, run)?;
        let specs: Vec<String> = match options.provider {
            Some(p) => vec![p],
            None => self.config.chain_for(role).to_vec(),
        };
        if specs.is_empty() {
            return Ok(None);
        }
        let mut providers = Vec::with_capacity(specs.len());
        for s in &specs {
            providers.push(
                loom_providers::from_spec(s, &self.root)
                    .map_err(|e| EngineError::Usage(e.to_string()))?,
            );
        }
        Ok(Some(Chain::new(providers, self.config.max_retries)))
    }

    /// Whether a pending gate is one loom opened for an uncertain effect.
    pub fn is_uncertain_gate(gate: &Gate) -> bool {
        gate.name.starts_with(UNCERTAIN_PREFIX)
    }
}

/// A provider error's fix-it hint, as a parenthesis.
fn hint(e: &loom_providers::ProviderError) -> String {
    e.hint().map(|h| format!(" ({h})")).unwrap_or_default()
}
