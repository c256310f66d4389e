//! Read queries shared by [`crate::Store`] (committed state) and [`crate::View`] (state inside an
//! open tick). Every statement is `prepare_cached`: a tick runs the same few many times.

pub(crate) use crate::blobs::{blob, put_blob, put_blob_compressed};
use crate::error::{KernelError, Result};
use crate::model::*;
use crate::texts::{self, text_col};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// Runs a parameterless statement (BEGIN, COMMIT, a PRAGMA) from the statement cache:
/// `execute_batch` would parse it again on every tick.
pub(crate) fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

fn bad(what: &str, value: &str) -> KernelError {
    KernelError::Corrupt(format!("unknown {what} \"{value}\""))
}

fn parse<T>(what: &str, s: String, f: fn(&str) -> Option<T>) -> Result<T> {
    f(&s).ok_or_else(|| bad(what, &s))
}

fn u(v: i64) -> u64 {
    v as u64
}

pub(crate) fn task(conn: &Connection, id: u64) -> Result<Option<Task>> {
    let mut st =
        conn.prepare_cached("SELECT id, title, status, created_ms FROM tasks WHERE id = ?1")?;
    let row = st
        .query_row([id as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(id, title, status, created)| {
        Ok(Task {
            id: u(id),
            title,
            status: parse("task status", status, TaskStatus::parse)?,
            created_ms: u(created),
        })
    })
    .transpose()
}

pub(crate) fn open_task(conn: &Connection) -> Result<Option<Task>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM tasks WHERE status = 'open'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => task(conn, u(id)),
        None => Ok(None),
    }
}

// A run's last seq is its newest tick's, read by one seek to the end of the run's id range:
// `max(seq)` over that range read every tick of the run, so reading a run (which every tick
// does) cost more the longer the run.
const RUN_COLS: &str = "id, task_id, bundle_name, bundle_version, bundle_hash, status, phase, \
                        settings, stop_reason, created_ms, options, \
                        coalesce((SELECT seq FROM ticks WHERE id BETWEEN runs.id * 4294967296 \
                         AND runs.id * 4294967296 + 4294967295 ORDER BY id DESC LIMIT 1), 0)";

fn run_row(r: &Row<'_>) -> rusqlite::Result<(Run, String)> {
    let status: String = r.get(5)?;
    Ok((
        Run {
            id: u(r.get(0)?),
            task_id: u(r.get(1)?),
            bundle_name: r.get(2)?,
            bundle_version: r.get(3)?,
            bundle_hash: r.get(4)?,
            status: RunStatus::Running,
            phase: r.get(6)?,
            settings: r.get(7)?,
            stop_reason: r.get(8)?,
            created_ms: u(r.get(9)?),
            options: r.get(10)?,
            last_seq: u(r.get(11)?),
        },
        status,
    ))
}

fn finish_run((mut run, status): (Run, String)) -> Result<Run> {
    run.status = parse("run status", status, RunStatus::parse)?;
    Ok(run)
}

pub(crate) fn run(conn: &Connection, id: u64) -> Result<Option<Run>> {
    let mut st = conn.prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"))?;
    st.query_row([id as i64], run_row)
        .optional()?
        .map(finish_run)
        .transpose()
}

pub(crate) fn runs(conn: &Connection) -> Result<Vec<Run>> {
    let mut st = conn.prepare_cached(&format!("SELECT {RUN_COLS} FROM runs ORDER BY id"))?;
    let rows = st
        .query_map([], run_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_run).collect()
}

/// The newest run, or the newest of `task`'s: one row by the key, however many runs there are.
pub(crate) fn last_run(conn: &Connection, task: Option<u64>) -> Result<Option<Run>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM runs WHERE ?1 IS NULL OR task_id = ?1 ORDER BY id DESC LIMIT 1"
    ))?;
    let row = st
        .query_map([task.map(|t| t as i64)], run_row)?
        .next()
        .transpose()?;
    row.map(finish_run).transpose()
}

pub(crate) fn runs_of_task(conn: &Connection, task: u64) -> Result<Vec<Run>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM runs WHERE task_id = ?1 ORDER BY id"
    ))?;
    let rows = st
        .query_map([task as i64], run_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_run).collect()
}

pub(crate) fn facts(conn: &Connection, run: u64, kind: &str) -> Result<Vec<Fact>> {
    let mut st = conn.prepare_cached(concat!(
        "SELECT kind, key, ",
        text_col!("facts", "value"),
        ", tick FROM facts \
         WHERE run_id = ?1 AND kind = ?2 ORDER BY key"
    ))?;
    let rows = st
        .query_map(params![run as i64, kind], |r| {
            Ok(Fact {
                kind: r.get(0)?,
                key: r.get(1)?,
                value: r.get(2)?,
                tick: u(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(crate) fn all_facts(conn: &Connection, run: u64) -> Result<Vec<Fact>> {
    let mut st = conn.prepare_cached(concat!(
        "SELECT kind, key, ",
        text_col!("facts", "value"),
        ", tick FROM facts \
         WHERE run_id = ?1 ORDER BY kind, key"
    ))?;
    let rows = st
        .query_map(params![run as i64], |r| {
            Ok(Fact {
                kind: r.get(0)?,
                key: r.get(1)?,
                value: r.get(2)?,
                tick: u(r.get(3)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// How many facts `run` holds: one count over the run's range of the primary key, so a caller
/// can bound the total without reading any fact.
pub(crate) fn fact_count(conn: &Connection, run: u64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM facts WHERE run_id = ?1")?
        .query_row([run as i64], |r| r.get(0))?;
    Ok(u(n))
}

pub(crate) fn fact(conn: &Connection, run: u64, kind: &str, key: &str) -> Result<Option<Fact>> {
    let mut st = conn.prepare_cached(concat!(
        "SELECT ",
        text_col!("facts", "value"),
        ", tick FROM facts \
         WHERE run_id = ?1 AND kind = ?2 AND key = ?3"
    ))?;
    Ok(st
        .query_row(params![run as i64, kind, key], |r| {
            Ok(Fact {
                kind: kind.to_owned(),
                key: key.to_owned(),
                value: r.get(0)?,
                tick: u(r.get(1)?),
            })
        })
        .optional()?)
}

const GATE_COLS: &str = concat!(
    "id, run_id, name, status, decider, risk, ",
    text_col!("gates", "summary"),
    ", shown_hash, opened_tick, decided_tick, decided_by, transport, ",
    text_col!("gates", "note")
);

type RawGate = (Gate, String, String, String);

fn gate_row(r: &Row<'_>) -> rusqlite::Result<RawGate> {
    Ok((
        Gate {
            id: u(r.get(0)?),
            run_id: u(r.get(1)?),
            name: r.get(2)?,
            status: GateStatus::Pending,
            decider: Decider::Human,
            risk: Risk::High,
            summary: r.get(6)?,
            shown_hash: r.get(7)?,
            opened_tick: u(r.get(8)?),
            decided_tick: r.get::<_, Option<i64>>(9)?.map(u),
            decided_by: r.get(10)?,
            transport: r.get(11)?,
            note: r.get(12)?,
        },
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn finish_gate((mut g, status, decider, risk): RawGate) -> Result<Gate> {
    g.status = parse("gate status", status, GateStatus::parse)?;
    g.decider = parse("decider", decider, Decider::parse)?;
    g.risk = parse("risk", risk, Risk::parse)?;
    Ok(g)
}

pub(crate) fn gates(conn: &Connection, run: u64) -> Result<Vec<Gate>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {GATE_COLS} FROM gates WHERE run_id = ?1 ORDER BY id"
    ))?;
    let rows = st
        .query_map([run as i64], gate_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_gate).collect()
}

/// Gate `id` of `run`: one row by the primary key.
pub(crate) fn gate(conn: &Connection, run: u64, id: u64) -> Result<Option<Gate>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {GATE_COLS} FROM gates WHERE run_id = ?1 AND id = ?2"
    ))?;
    st.query_row(params![run as i64, id as i64], gate_row)
        .optional()?
        .map(finish_gate)
        .transpose()
}

/// The gates table read through the index of pending gates when the schema has it
/// (`indexed`): without statistics SQLite prefers the primary key, which reads every gate of
/// the run to find the pending ones.
pub(crate) fn pending_from(indexed: bool) -> &'static str {
    match indexed {
        true => "gates INDEXED BY gates_pending",
        false => "gates",
    }
}

/// The newest pending gate of `run` named `name`, read through the index of pending gates
/// (schema 4), so the lookup costs the same however many gates the run has decided.
pub(crate) fn pending_gate(
    conn: &Connection,
    run: u64,
    name: &str,
    indexed: bool,
) -> Result<Option<Gate>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {GATE_COLS} FROM {} WHERE run_id = ?1 AND name = ?2 AND status = 'pending' \
         ORDER BY id DESC LIMIT 1",
        pending_from(indexed)
    ))?;
    st.query_row(params![run as i64, name], gate_row)
        .optional()?
        .map(finish_gate)
        .transpose()
}

/// The pending gates of `run`, oldest first (through the same index).
pub(crate) fn pending_gates(conn: &Connection, run: u64, indexed: bool) -> Result<Vec<Gate>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {GATE_COLS} FROM {} WHERE run_id = ?1 AND status = 'pending' ORDER BY id",
        pending_from(indexed)
    ))?;
    let rows = st
        .query_map([run as i64], gate_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_gate).collect()
}

const LEDGER_COLS: &str = concat!(
    "key, attempt, run_id, seq, step, kind, retry_safe, status, request_hash, result_hash, ",
    text_col!("ledger", "summary"),
    ", ",
    text_col!("ledger", "meta"),
    ", intent_ms, result_ms"
);

fn ledger_row(r: &Row<'_>) -> rusqlite::Result<(LedgerRow, String)> {
    ledger_row_at(r, 0)
}

/// A ledger row whose [`LEDGER_COLS`] start at column `at`.
fn ledger_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<(LedgerRow, String)> {
    Ok((
        LedgerRow {
            key: r.get(at)?,
            attempt: r.get::<_, i64>(at + 1)? as u32,
            run_id: u(r.get(at + 2)?),
            seq: u(r.get(at + 3)?),
            step: r.get(at + 4)?,
            kind: r.get(at + 5)?,
            retry_safe: r.get(at + 6)?,
            status: LedgerStatus::Intent,
            request_hash: r.get(at + 8)?,
            result_hash: r.get(at + 9)?,
            summary: r.get(at + 10)?,
            meta: r.get(at + 11)?,
            intent_ms: u(r.get(at + 12)?),
            result_ms: r.get::<_, Option<i64>>(at + 13)?.map(u),
        },
        r.get(at + 7)?,
    ))
}

fn finish_ledger((mut l, status): (LedgerRow, String)) -> Result<LedgerRow> {
    l.status = parse("ledger status", status, LedgerStatus::parse)?;
    Ok(l)
}

pub(crate) fn ledger(conn: &Connection, run: u64) -> Result<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE run_id = ?1 ORDER BY seq, key, attempt"
    ))?;
    let rows = st
        .query_map([run as i64], ledger_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_ledger).collect()
}

/// The ledger rows of `run`'s ticks `from < seq <= to`, in ledger order: one page of a log
/// reads its own rows, not the run's whole ledger.
pub(crate) fn ledger_between(
    conn: &Connection,
    run: u64,
    from: u64,
    to: u64,
) -> Result<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(&ledger_between_sql())?;
    let rows = st
        .query_map(params![run as i64, from as i64, to as i64], ledger_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_ledger).collect()
}

pub(crate) fn ledger_between_sql() -> String {
    format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE run_id = ?1 AND seq > ?2 AND seq <= ?3 \
         ORDER BY seq, key, attempt"
    )
}

/// The SQL of the bounded reads, which a test runs through `EXPLAIN QUERY PLAN`.
///
/// `latest_gate` finds the id in `gates_name` (a covering seek) and reads that one row by its
/// key: with `ORDER BY id DESC LIMIT 1` instead, SQLite would walk the run's gates backwards
/// through the primary key, filtering on the name.
pub(crate) fn latest_gate_sql() -> String {
    format!(
        "SELECT {GATE_COLS} FROM gates WHERE run_id = ?1 AND id = \
         (SELECT max(id) FROM gates WHERE run_id = ?1 AND name = ?2)"
    )
}

pub(crate) fn ledger_of_sql() -> String {
    format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE run_id = ?1 AND step = ?2 \
         ORDER BY seq, key, attempt"
    )
}

pub(crate) fn ledger_last_sql() -> String {
    format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE run_id = ?1 \
         ORDER BY seq DESC, key DESC, attempt DESC LIMIT ?2"
    )
}

/// The latest opening of gate `name` (through index `gates_name`, see [`latest_gate_sql`]).
pub(crate) fn latest_gate(conn: &Connection, run: u64, name: &str) -> Result<Option<Gate>> {
    let mut st = conn.prepare_cached(&latest_gate_sql())?;
    let row = st
        .query_row(params![run as i64, name], gate_row)
        .optional()?;
    row.map(finish_gate).transpose()
}

/// The ledger rows of one step, in [`ledger`]'s order (through index `ledger_step`).
pub(crate) fn ledger_of(conn: &Connection, run: u64, step: &str) -> Result<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(&ledger_of_sql())?;
    let rows = st
        .query_map(params![run as i64, step], ledger_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_ledger).collect()
}

/// The last `limit` rows of [`ledger`], in its order: read newest first through index
/// `ledger_order`, so the cost is that of `limit` rows however long the run.
pub(crate) fn ledger_last(conn: &Connection, run: u64, limit: u32) -> Result<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(&ledger_last_sql())?;
    let mut rows = st
        .query_map(params![run as i64, i64::from(limit)], ledger_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.reverse();
    rows.into_iter().map(finish_ledger).collect()
}

/// The ledger rows of `run` stored after row `after` (its table id; 0 for all), in the order
/// they were stored, each with its id: how a reader keeps a summary of a run's ledger up to
/// date without reading it whole again.
pub(crate) fn ledger_after(
    conn: &Connection,
    run: u64,
    after: i64,
) -> Result<Vec<(i64, LedgerRow)>> {
    // From the start, the run's rows through the index on run_id; after a row, the rows stored
    // since then through the table's own key (`+run_id` keeps SQLite from choosing the index
    // and reading every row of the run to find the few new ones).
    let mut st = if after <= 0 {
        conn.prepare_cached(&format!(
            "SELECT id, {LEDGER_COLS} FROM ledger WHERE run_id = ?1 AND +id > ?2 ORDER BY id"
        ))?
    } else {
        conn.prepare_cached(&format!(
            "SELECT id, {LEDGER_COLS} FROM ledger WHERE id > ?2 AND +run_id = ?1 ORDER BY id"
        ))?
    };
    let rows = st
        .query_map(params![run as i64, after], |r| {
            let id: i64 = r.get(0)?;
            let (row, status) = ledger_row_at(r, 1)?;
            Ok((id, row, status))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, row, status)| Ok((id, finish_ledger((row, status))?)))
        .collect()
}

/// Ledger row `id` (its table id), if it belongs to `run`.
pub(crate) fn ledger_by_id(conn: &Connection, run: u64, id: i64) -> Result<Option<LedgerRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE id = ?2 AND run_id = ?1"
    ))?;
    st.query_row(params![run as i64, id], ledger_row)
        .optional()?
        .map(finish_ledger)
        .transpose()
}

/// Every attempt at one effect, oldest first.
pub(crate) fn attempts(conn: &Connection, run: u64, key: &str) -> Result<Vec<LedgerRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {LEDGER_COLS} FROM ledger WHERE run_id = ?1 AND key = ?2 ORDER BY attempt"
    ))?;
    let rows = st
        .query_map(params![run as i64, key], ledger_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_ledger).collect()
}

/// The ticks of run `?1`: a range of the table's key (see the schema).
const RUN_TICKS: &str = "id BETWEEN ?1 * 4294967296 AND ?1 * 4294967296 + 4294967295";

/// The key of tick `seq` of run `run` in the ticks table.
pub(crate) fn tick_id(run: u64, seq: u64) -> i64 {
    ((run << 32) | seq) as i64
}

const TICK_COLS: &str = concat!(
    "run_id, seq, unix_ms, kind, step, decider, ",
    text_col!("ticks", "summary"),
    ", ",
    text_col!("ticks", "changes"),
    ", prev_hash, hash"
);

fn tick_row(r: &Row<'_>) -> rusqlite::Result<(TickRow, String)> {
    Ok((
        TickRow {
            run_id: u(r.get(0)?),
            seq: u(r.get(1)?),
            unix_ms: u(r.get(2)?),
            kind: TickKind::Start,
            step: r.get(4)?,
            decider: r.get(5)?,
            summary: r.get(6)?,
            changes: r.get(7)?,
            prev_hash: r.get(8)?,
            hash: r.get(9)?,
        },
        r.get(3)?,
    ))
}

pub(crate) fn ticks(conn: &Connection, run: u64) -> Result<Vec<TickRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TICK_COLS} FROM ticks WHERE {RUN_TICKS} ORDER BY id"
    ))?;
    let rows = st
        .query_map([run as i64], tick_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(t, kind)| finish_tick(conn, t, kind))
        .collect()
}

fn finish_tick(conn: &Connection, mut t: TickRow, kind: String) -> Result<TickRow> {
    t.kind = parse("tick kind", kind, TickKind::parse)?;
    t.changes = texts::expand_json(conn, std::mem::take(&mut t.changes))?;
    Ok(t)
}

/// Ticks of every run committed after tick id `after` (run·2³² + seq), oldest first.
pub(crate) fn ticks_after(conn: &Connection, after: i64, limit: u32) -> Result<Vec<TickRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TICK_COLS} FROM ticks WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![after, limit], tick_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(t, kind)| finish_tick(conn, t, kind))
        .collect()
}

/// Tick 1 of every run, in run order: how a run's forks are found (each names its parent
/// there). One primary-key lookup per run.
pub(crate) fn first_ticks(conn: &Connection) -> Result<Vec<TickRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TICK_COLS} FROM ticks WHERE id IN (SELECT id * 4294967296 + 1 FROM runs) \
         ORDER BY id"
    ))?;
    let rows = st
        .query_map([], tick_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(t, kind)| finish_tick(conn, t, kind))
        .collect()
}

pub(crate) fn last_hash(conn: &Connection, run: u64) -> Result<Option<(u64, String)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT seq, hash FROM ticks WHERE {RUN_TICKS} ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([run as i64], |r| Ok((u(r.get(0)?), r.get(1)?)))
        .optional()?)
}

pub(crate) fn violations(conn: &Connection, run: u64) -> Result<Vec<ViolationRow>> {
    let mut st = conn.prepare_cached(concat!(
        "SELECT run_id, seq, unix_ms, step, rule, ",
        text_col!("violations", "message"),
        ", ",
        text_col!("violations", "rows"),
        " FROM violations WHERE run_id = ?1 ORDER BY id"
    ))?;
    let raw = st
        .query_map([run as i64], |r| {
            Ok((
                u(r.get(0)?),
                u(r.get(1)?),
                u(r.get(2)?),
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raw.into_iter()
        .map(|(run_id, seq, unix_ms, step, rule, message, rows)| {
            let rows = serde_json::from_str(&rows)
                .map_err(|e| KernelError::Corrupt(format!("violation rows: {e}")))?;
            Ok(ViolationRow {
                run_id,
                seq,
                unix_ms,
                step,
                rule,
                message,
                rows,
            })
        })
        .collect()
}
