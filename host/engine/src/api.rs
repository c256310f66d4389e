//! The commands transports call.

use crate::error::{EngineError, Result};
use crate::{project, Config, Engine, Observer, UNCERTAIN_PREFIX};
use loom_kernel::{
    Decider, Fact, Gate, GateStatus, KernelError, LedgerRow, LedgerStatus, NewRun, Run, RunStatus,
    Store, Task, TickKind, TickMeta, TickRow, ViolationRow,
};
use loom_providers::Chain;
use loom_runtime::{Bundle, Limits, Runtime};
use serde::Serialize;
use std::path::Path;
use std::rc::Rc;

/// Where a run stands after a command drove it.
#[derive(Debug, Serialize)]
pub struct DriveReport {
    pub run: Run,
    pub task: Task,
    /// Gates waiting for a human.
    pub waiting_on: Vec<Gate>,
    pub violations: Vec<ViolationRow>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub task: Option<Task>,
    pub run: Option<Run>,
    pub pending_gates: Vec<Gate>,
    /// Effects started but never recorded as finished, and not yet retried.
    pub uncertain: Vec<LedgerRow>,
    pub violations: Vec<ViolationRow>,
    pub facts: Vec<Fact>,
}

#[derive(Debug, Serialize)]
pub struct LogEntry {
    pub tick: TickRow,
    pub ledger: Vec<LedgerRow>,
}

#[derive(Default, Serialize, serde::Deserialize)]
struct RunOptions {
    /// One provider spec for every role, from `--provider`.
    provider: Option<String>,
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
        let budget = crate::budget::Budget::from_config(&config);
        Ok(Engine {
            root: root.to_path_buf(),
            config,
            store,
            runtime,
            bundles: Vec::new(),
            observer: std::cell::RefCell::new(observer),
            transport: transport.to_owned(),
            pending_fault: std::cell::RefCell::new(None),
            budget,
            recording: None,
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
            // Fail now, not halfway through the run.
            loom_providers::from_spec(spec, &self.root)
                .map_err(|e| EngineError::Usage(e.to_string()))?;
        }
        let bundle = Rc::new(self.runtime.load_bundle(bundle_wasm)?);
        // The bundle's bytes go into the database, so resume and replay use exactly this bundle.
        self.store.put_blob(bundle_wasm)?;
        let m = bundle.manifest();
        let options = serde_json::to_string(&RunOptions {
            provider: provider.map(str::to_owned),
        })
        .map_err(|e| EngineError::Effect(e.to_string()))?;
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
        self.drive(run)?;
        self.report(run)
    }

    /// The run of the open task (or, with none open, the newest run).
    pub fn current_run(&self) -> Result<Option<Run>> {
        if let Some(task) = self.store.open_task()? {
            return Ok(self.store.runs_of_task(task.id)?.pop());
        }
        Ok(self.store.runs()?.pop())
    }

    fn open_run(&self) -> Result<Run> {
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
        let run = self.open_run()?;
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
            RunStatus::Stopped => {
                let bundle = self.bundle_for(run.id)?;
                let token = self.token(run.id)?;
                let mut tick = self.store.begin(token)?;
                tick.set_status(RunStatus::Running, None)?;
                let why = run.stop_reason.as_deref().unwrap_or("");
                let meta = TickMeta::new(
                    TickKind::Resume,
                    format!("resumed via {} after: {why}", self.transport),
                );
                self.commit(tick, meta, Some(&bundle))?;
            }
            _ => {}
        }
        self.drive(run.id)?;
        self.report(run.id)
    }

    fn pending_human_gates(&self, run: u64) -> Result<Vec<Gate>> {
        Ok(self
            .store
            .gates(run)?
            .into_iter()
            .filter(|g| g.status == GateStatus::Pending && g.decider == Decider::Human)
            .collect())
    }

    /// Pending gates of the open run (all gates with `all`).
    pub fn gates(&self, all: bool) -> Result<Vec<Gate>> {
        let Some(run) = self.current_run()? else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .gates(run.id)?
            .into_iter()
            .filter(|g| all || g.status == GateStatus::Pending)
            .collect())
    }

    /// A human decides gate `which` (its name or id) of the open run, then the run goes on.
    pub fn decide(
        &mut self,
        which: &str,
        approved: bool,
        note: Option<&str>,
        by: &str,
    ) -> Result<DriveReport> {
        let run = self.open_run()?;
        let gate = self
            .store
            .gates(run.id)?
            .into_iter()
            .rev()
            .find(|g| {
                g.status == GateStatus::Pending && (g.name == which || g.id.to_string() == which)
            })
            .ok_or_else(|| KernelError::NoSuchGate(which.to_owned()))?;
        if gate.decider != Decider::Human {
            return Err(KernelError::WrongDecider {
                name: gate.name,
                expected: gate.decider.to_string(),
                got: "human".into(),
            }
            .into());
        }
        if !approved && note.is_none_or(|n| n.trim().is_empty()) {
            return Err(EngineError::Usage(
                "a rejection needs a reason (--reason …): the agents read it".into(),
            ));
        }
        let bundle = self.bundle_for(run.id)?;
        let token = self.token(run.id)?;
        self.decide_tick(
            &bundle,
            token,
            &gate,
            approved,
            Decider::Human,
            by,
            note,
            None,
        )?;
        let after = self.store.run(run.id)?;
        if after.status == RunStatus::Waiting && after.last_seq == token.seq {
            // A rule refused the decision; the gate is still open.
            let v = self.store.violations(run.id)?.pop();
            let why = v
                .map(|v| format!("[{}] {}", v.rule, v.message))
                .unwrap_or_default();
            return Err(KernelError::Violated(vec![loom_kernel::Violation {
                rule: why.clone(),
                message: format!(
                    "the decision on gate {} was refused and not recorded; the gate stays open",
                    gate.name
                ),
                rows: Vec::new(),
            }])
            .into());
        }
        self.drive(run.id)?;
        self.report(run.id)
    }

    /// Ends the open task without finishing it.
    pub fn abandon(&mut self, reason: Option<&str>) -> Result<DriveReport> {
        let run = self.open_run()?;
        let token = self.token(run.id)?;
        let mut tick = self.store.begin(token)?;
        let reason = reason.unwrap_or("abandoned");
        tick.set_status(RunStatus::Abandoned, Some(reason))?;
        // Abandoning must always be possible, so no rule can refuse it.
        self.commit(
            tick,
            TickMeta::new(
                TickKind::Abandon,
                format!("abandoned via {}: {reason}", self.transport),
            ),
            None,
        )?;
        self.report(run.id)
    }

    pub fn status(&self) -> Result<Status> {
        let task = self.store.open_task()?;
        let run = self.current_run()?;
        let (pending_gates, uncertain, violations, facts) = match &run {
            Some(r) => {
                let ledger = self.store.ledger(r.id)?;
                let uncertain = ledger
                    .iter()
                    .filter(|l| l.status == LedgerStatus::Intent)
                    .filter(|l| {
                        !ledger
                            .iter()
                            .any(|o| o.key == l.key && o.attempt > l.attempt)
                    })
                    .cloned()
                    .collect();
                let pending = self
                    .store
                    .gates(r.id)?
                    .into_iter()
                    .filter(|g| g.status == GateStatus::Pending)
                    .collect();
                (
                    pending,
                    uncertain,
                    self.store.violations(r.id)?,
                    self.store.facts(r.id)?,
                )
            }
            None => Default::default(),
        };
        Ok(Status {
            task,
            run,
            pending_gates,
            uncertain,
            violations,
            facts,
        })
    }

    /// The tick timeline of `run` (default: the current one) with each tick's ledger rows.
    pub fn log(&self, run: Option<u64>) -> Result<Vec<LogEntry>> {
        let run = match run {
            Some(r) => self.store.run(r)?,
            None => self.current_run()?.ok_or_else(|| {
                EngineError::Usage("no runs yet; start one with `loom run \"…\"`".into())
            })?,
        };
        let ledger = self.store.ledger(run.id)?;
        Ok(self
            .store
            .ticks(run.id)?
            .into_iter()
            .map(|tick| LogEntry {
                ledger: ledger
                    .iter()
                    .filter(|l| l.seq == tick.seq)
                    .cloned()
                    .collect(),
                tick,
            })
            .collect())
    }

    pub(crate) fn report(&self, run: u64) -> Result<DriveReport> {
        let run = self.store.run(run)?;
        let task = self
            .store
            .task(run.task_id)?
            .ok_or_else(|| KernelError::Corrupt(format!("run #{} has no task", run.id)))?;
        Ok(DriveReport {
            waiting_on: self.pending_human_gates(run.id)?,
            violations: self.store.violations(run.id)?,
            run,
            task,
        })
    }

    /// The bundle `run` was started with, loaded from the database itself.
    pub(crate) fn bundle_for(&mut self, run: u64) -> Result<Rc<Bundle>> {
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
        let b = Rc::new(self.runtime.load_bundle(&wasm)?);
        self.bundles.push(b.clone());
        Ok(b)
    }

    /// The provider chain of `role` in `run`: the run's `--provider` if it had one, else config.
    pub(crate) fn chain_for(&self, run: u64, role: &str) -> Result<Option<Chain>> {
        let options: RunOptions =
            serde_json::from_str(&self.store.run(run)?.options).unwrap_or_default();
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

/// The result of walking one run's hash chain.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    pub run: u64,
    pub ticks: usize,
    pub broken: Option<loom_kernel::ChainBreak>,
}

impl Engine {
    /// Walks the hash chain of `run`, or of every run in the project.
    pub fn verify(&self, run: Option<u64>) -> Result<Vec<ChainReport>> {
        let runs = match run {
            Some(r) => vec![self.store.run(r)?],
            None => self.store.runs()?,
        };
        runs.into_iter()
            .map(|r| {
                let ticks = self.store.ticks(r.id)?;
                Ok(ChainReport {
                    run: r.id,
                    ticks: ticks.len(),
                    broken: loom_kernel::verify_chain(&ticks).err(),
                })
            })
            .collect()
    }
}
