//! `cargo bench -p loom-cli --bench tick [-- --n-full N --n-normal N --rounds R --dir DIR --cpu-dir DIR]`
//! (`-- --profile N [--cache DIR]`: only N ticks on tmpfs, for a profiler)
//!
//! FULL runs on a disk directory (`--dir`, default the system temp dir): its ratio is about
//! durability. NORMAL runs on tmpfs (`--cpu-dir`, default `/dev/shm` when it exists), where a
//! write costs almost nothing, so it measures the CPU a tick costs: the method of the peers'
//! CPU figure (`bench/peers/run` runs them beside this bench).
//!
//! A durable loom tick against a bare SQLite commit of the same durability, side by side in one
//! process, in interleaved rounds so disk drift falls on both alike; every ratio is the median
//! of the rounds' ratios, printed with their min and max. The bare commit is the peers'
//! workload (insert one 200-byte ledger row + update one state row); the loom tick is what the
//! engine does for every effect: an intent row, then one transaction with the effect's 200-byte
//! result, a state write, the tick row with its hash, and the `code` bundle's invariants run in
//! wasm inside the transaction.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use loom_kernel::{Durability, Intent, NewRun, Store, TickKind, TickMeta};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "support/cpu.rs"]
mod cpu;
use cpu::thread_cpu_ns as cpu_ns;

fn payload(i: usize) -> String {
    let head = format!("step {i:06}: ");
    head.clone() + &"x".repeat(200 - head.len())
}

struct Sample {
    wall_s: f64,
    cpu_s: f64,
    n: usize,
}

impl Sample {
    fn us(&self) -> f64 {
        self.wall_s / self.n as f64 * 1e6
    }
    fn cpu_us(&self) -> f64 {
        self.cpu_s / self.n as f64 * 1e6
    }
}

fn timed(n: usize, mut f: impl FnMut(usize)) -> Sample {
    let (t0, c0) = (Instant::now(), cpu_ns());
    for i in 0..n {
        f(i);
    }
    Sample {
        wall_s: t0.elapsed().as_secs_f64(),
        cpu_s: (cpu_ns() - c0) as f64 / 1e9,
        n,
    }
}

fn raw_open(path: &Path, sync: &str) -> Connection {
    let c = Connection::open(path).expect("open raw db");
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    c.execute_batch(&format!(
        "PRAGMA synchronous={sync};
         CREATE TABLE IF NOT EXISTS ledger(step INTEGER PRIMARY KEY, result TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS state(id INTEGER PRIMARY KEY, step INTEGER, last TEXT);
         INSERT OR IGNORE INTO state VALUES (1, 0, '');"
    ))
    .expect("schema");
    c
}

fn raw_round(c: &Connection, from: usize, n: usize) -> Sample {
    timed(n, |i| {
        let i = from + i;
        let r = payload(i);
        c.execute_batch("BEGIN IMMEDIATE").expect("begin");
        c.prepare_cached("INSERT INTO ledger VALUES (?1, ?2)")
            .expect("p")
            .execute(params![i as i64, r])
            .expect("insert");
        c.prepare_cached("UPDATE state SET step = ?1, last = ?2 WHERE id = 1")
            .expect("p")
            .execute(params![(i + 1) as i64, r])
            .expect("update");
        c.execute_batch("COMMIT").expect("commit");
    })
}

fn loom_round(
    store: &Store,
    bundle: Option<&loom_runtime::Bundle>,
    run: u64,
    n: usize,
    key_base: &str,
) -> Sample {
    timed(n, |i| {
        let r = payload(i);
        let token = store.next_token(run).expect("token");
        let key = format!("{key_base}{}", token.seq);
        store
            .record_intent(
                &token,
                &Intent {
                    key: &key,
                    step: "work",
                    kind: "agent",
                    retry_safe: true,
                    request: None,
                },
            )
            .expect("intent");
        let mut tick = store.begin(token).expect("begin");
        tick.record_result(&key, 1, Some(r.as_bytes()), "ok", "{}")
            .expect("result");
        tick.put_fact("bench", "state", &r).expect("fact");
        tick.commit(
            TickMeta::new(TickKind::Effect, "work").step("work"),
            bundle.map(|b| b as &dyn loom_kernel::Rules),
        )
        .expect("commit");
    })
}

fn file_size(p: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            std::fs::metadata(format!("{}{s}", p.display()))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

/// Per-round figures of one mode: (bare commit, loom tick, loom tick without rules).
struct Rounds {
    raw: Vec<Sample>,
    loom: Vec<Sample>,
    bare_kernel: Vec<Sample>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median, min and max of `v`.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v.to_vec()), min, max)
}

struct Mode {
    store: Store,
    raw: Connection,
    bundle: loom_runtime::Bundle,
    run: u64,
    loom_path: PathBuf,
}

/// Where compiled bundles are cached (`--cache DIR`; none by default): a profiler run then
/// skips compiling the bundle under the profiler.
fn cache_dir() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--cache")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}

fn open_mode(dir: &Path, durability: Durability) -> Mode {
    let sync = if durability == Durability::Full {
        "FULL"
    } else {
        "NORMAL"
    };
    let raw_path = dir.join(format!("raw-{sync}.db"));
    let loom_path = dir.join(format!("loom-{sync}.db"));
    for p in [&raw_path, &loom_path] {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", p.display()));
        }
    }
    let raw = raw_open(&raw_path, sync);
    let store = Store::open(&loom_path, durability).expect("open loom db");
    let runtime =
        loom_runtime::Runtime::new(loom_runtime::Limits::default(), cache_dir()).expect("runtime");
    let bundle = runtime
        .load_bundle(loom_guests::CODE_BUNDLE)
        .expect("code bundle");
    let m = bundle.manifest();
    let new = NewRun {
        title: "bench".into(),
        bundle_name: m.name.clone(),
        bundle_version: m.version.clone(),
        bundle_hash: bundle.hash().into(),
        phase: "implement".into(),
        settings: "{}".into(),
        options: "{}".into(),
    };
    let tick = store.begin_run(&new, None).expect("run");
    let run = tick.token().run;
    tick.commit(TickMeta::new(TickKind::Start, "start"), Some(&bundle))
        .expect("start");
    Mode {
        store,
        raw,
        bundle,
        run,
        loom_path,
    }
}

/// `rounds` interleaved rounds of `per` bare commits, `per` loom ticks and `per / 4` loom
/// ticks with no rules to check (what the kernel costs on its own).
fn run_rounds(m: &Mode, per: usize, rounds: usize, sizes: &mut Vec<(usize, u64)>) -> Rounds {
    let mut r = Rounds {
        raw: Vec::new(),
        loom: Vec::new(),
        bare_kernel: Vec::new(),
    };
    let mut done = 0;
    for round in 0..rounds {
        r.raw.push(raw_round(&m.raw, round * per, per));
        r.loom
            .push(loom_round(&m.store, Some(&m.bundle), m.run, per, "k"));
        r.bare_kernel
            .push(loom_round(&m.store, None, m.run, (per / 4).max(1), "k"));
        done += per + (per / 4).max(1);
        sizes.push((done, file_size(&m.loom_path)));
    }
    r
}

fn run_mode(dir: &Path, durability: Durability, n: usize, rounds: usize, label: &str) -> Rounds {
    let m = open_mode(dir, durability);
    let mut sizes = Vec::new();
    let r = run_rounds(&m, (n / rounds).max(1), rounds, &mut sizes);
    let ratios: Vec<f64> = r
        .loom
        .iter()
        .zip(&r.raw)
        .map(|(l, a)| l.us() / a.us())
        .collect();
    let cpu_ratios: Vec<f64> = r
        .loom
        .iter()
        .zip(&r.raw)
        .map(|(l, a)| l.cpu_us() / a.cpu_us())
        .collect();
    let med = |f: fn(&Sample) -> f64, v: &[Sample]| median(v.iter().map(f).collect());
    let (ratio, rmin, rmax) = spread(&ratios);
    let (cratio, cmin, cmax) = spread(&cpu_ratios);
    println!(
        "{:<13} {:>6} {:>10.1} {:>10.1} {:>7.3}x [{:.3}–{:.3}] {:>9.1} {:>9.1} {:>6.2}x [{:.2}–{:.2}] {:>9.1}",
        label,
        n,
        med(Sample::us, &r.raw),
        med(Sample::us, &r.loom),
        ratio,
        rmin,
        rmax,
        med(Sample::cpu_us, &r.raw),
        med(Sample::cpu_us, &r.loom),
        cratio,
        cmin,
        cmax,
        med(Sample::cpu_us, &r.bare_kernel),
    );
    if label.ends_with("tmpfs") {
        replay_and_verify(&m.store, &m.bundle, m.run);
    }
    let (n1, s1) = sizes[sizes.len() / 2 - 1];
    let (n2, s2) = sizes[sizes.len() - 1];
    println!(
        "        storage: {:.0} bytes/tick between tick {n1} and {n2} ({} KiB at {n1}, {} KiB at {n2}; WAL included)",
        (s2 as f64 - s1 as f64) / (n2 - n1) as f64,
        s1 / 1024,
        s2 / 1024
    );
    r
}

/// How fast the recorded run is checked: the hash chain alone, and the replay that re-derives
/// every tick and evaluates the bundle's rules at each commit point.
fn replay_and_verify(store: &Store, bundle: &loom_runtime::Bundle, run: u64) {
    let ticks = store.ticks(run).expect("ticks");
    let t0 = Instant::now();
    loom_kernel::verify_chain(&ticks).expect("the chain verifies");
    let verify = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut replay = loom_kernel::Replay::new(store, run).expect("replay");
    let mut n = 0usize;
    while let Some(r) = replay.step(&[bundle]).expect("replay step") {
        assert_eq!(
            r.recorded.hash, r.replayed.hash,
            "tick {} replays",
            r.recorded.seq
        );
        n += 1;
    }
    let replayed = t0.elapsed().as_secs_f64();
    println!(
        "        verify: {:.1} µs/tick; replay (re-derive each tick, code rules at each commit): \
         {:.1} µs/tick ({n} ticks, all identical)",
        verify / ticks.len() as f64 * 1e6,
        replayed / n as f64 * 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n_full = arg("--n-full", 630);
    let n_normal = arg("--n-normal", 6300);
    let rounds = arg("--rounds", 9).max(1);
    let dir_arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let scratch = format!("loom-bench-{}", std::process::id());
    let dir = dir_arg("--dir")
        .unwrap_or_else(std::env::temp_dir)
        .join(&scratch);
    let shm = Path::new("/dev/shm");
    let cpu_dir = dir_arg("--cpu-dir")
        .or_else(|| shm.is_dir().then(|| shm.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir)
        .join(&scratch);
    std::fs::create_dir_all(&dir).expect("bench dir");
    std::fs::create_dir_all(&cpu_dir).expect("cpu bench dir");
    if let Some(n) = args
        .iter()
        .position(|a| a == "--profile")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
    {
        // Only loom ticks on tmpfs, for a profiler (`valgrind --tool=callgrind
        // --toggle-collect='*loom_round*'`): no bare commits, no disk, no replay.
        let m = open_mode(&cpu_dir, Durability::Normal);
        let s = loom_round(&m.store, Some(&m.bundle), m.run, n, "k");
        println!("{n} ticks, {:.1} µs CPU per tick", s.cpu_us());
        let _ = std::fs::remove_dir_all(&cpu_dir);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    println!(
        "loom tick vs bare SQLite commit (WAL), same process, {rounds} interleaved rounds; FULL in {}, NORMAL in {}",
        dir.display(),
        cpu_dir.display()
    );
    println!("loom tick = intent commit + one transaction (200-byte result, state write, chained tick row, code-bundle invariants in wasm)");
    println!("µs are medians of round means; ratios are medians of the rounds' ratios [min–max]");
    println!(
        "{:<13} {:>6} {:>10} {:>10} {:>23} {:>9} {:>9} {:>20} {:>9}",
        "sync",
        "n",
        "raw µs",
        "loom µs",
        "loom/raw",
        "raw CPU",
        "loom CPU",
        "CPU loom/raw",
        "no rules"
    );
    let full = run_mode(&dir, Durability::Full, n_full, rounds, "FULL/disk");
    let tmpfs = run_mode(
        &cpu_dir,
        Durability::Normal,
        n_normal,
        rounds,
        "NORMAL/tmpfs",
    );
    // The same on the disk: the CPU a tick costs there includes the file system's own work
    // for the pages it writes.
    run_mode(
        &dir,
        Durability::Normal,
        n_normal / 2,
        rounds,
        "NORMAL/disk",
    );
    println!();
    let ratios: Vec<f64> = full
        .loom
        .iter()
        .zip(&full.raw)
        .map(|(l, a)| l.us() / a.us())
        .collect();
    let (r, rmin, rmax) = spread(&ratios);
    let cpu: Vec<f64> = tmpfs.loom.iter().map(Sample::cpu_us).collect();
    let raw_cpu: Vec<f64> = tmpfs.raw.iter().map(Sample::cpu_us).collect();
    let (c, cmin, cmax) = spread(&cpu);
    println!(
        "FULL ratio (disk): median {r:.3}x of {rounds} rounds (min {rmin:.3}x, max {rmax:.3}x); target ≤ 1.10x"
    );
    println!(
        "CPU per effect tick (tmpfs): median {c:.1} µs (min {cmin:.1}, max {cmax:.1}); bare commit of the same run {:.1} µs; {:.2}x; target ≤ 35 µs (≤ 2.5x)",
        median(raw_cpu.clone()),
        c / median(raw_cpu)
    );
    println!("peers on this machine class (`bench/peers/run` measures them beside this bench):");
    println!("  LangGraph ~1,041 µs · DBOS ~1,264 µs · Restate ~2,071 µs CPU per step on tmpfs (2026-11-24)");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cpu_dir);
}
