//! What the bot says, as Telegram HTML: everything that comes from a run is escaped, every
//! message fits Telegram's 4096 characters, and a button's callback data (at most 64 bytes)
//! names the run, the gate and a prefix of the hash of what the gate shows.

use loom_kernel::{Gate, GateStatus};

/// Telegram's limit on a message's text.
pub const TEXT_CHARS_MAX: usize = 4096;

/// Telegram's limit on a button's callback data.
pub const CALLBACK_BYTES_MAX: usize = 64;

/// Characters of a task title or gate name a message shows.
const TITLE_CHARS_MAX: usize = 200;

/// Telegram's limit on the note a button press is answered with.
pub const ANSWER_CHARS_MAX: usize = 200;

/// Hex digits of the shown hash a button carries: enough that another content colliding is
/// out of the question, well over the engine's minimum of 8.
pub const HASH_PREFIX_CHARS: usize = 16;

/// `&`, `<`, `>` and `"` as entities: the only ones Telegram's HTML mode needs.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(c, &mut out);
    }
    out
}

fn push_escaped(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        c => out.push(c),
    }
}

/// `text` escaped, cut so the result holds at most `chars_max` characters; whether it was cut.
/// Counting escaped characters over-counts what Telegram counts (after parsing entities), so
/// the result always fits.
fn escape_within(text: &str, chars_max: usize) -> (String, bool) {
    let mut out = String::new();
    let mut n = 0;
    let mut buf = String::new();
    for c in text.chars() {
        buf.clear();
        push_escaped(c, &mut buf);
        let len = buf.chars().count();
        if n + len > chars_max {
            return (out, true);
        }
        n += len;
        out.push_str(&buf);
    }
    (out, false)
}

/// A button press, as its callback data says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Press {
    pub approve: bool,
    pub run: u64,
    pub gate: u64,
    pub hash_prefix: String,
}

impl Press {
    /// `a:RUN:GATE:HASH` or `r:…`: at most 2 + 20 + 1 + 20 + 1 + 16 = 60 bytes.
    pub fn data(&self) -> String {
        let verb = if self.approve { "a" } else { "r" };
        format!("{verb}:{}:{}:{}", self.run, self.gate, self.hash_prefix)
    }

    pub fn parse(data: &str) -> Option<Press> {
        let mut parts = data.split(':');
        let approve = match parts.next()? {
            "a" => true,
            "r" => false,
            _ => return None,
        };
        let run = parts.next()?.parse().ok()?;
        let gate = parts.next()?.parse().ok()?;
        let hash_prefix = parts.next()?.to_owned();
        let hex = hash_prefix.len() >= 8 && hash_prefix.bytes().all(|b| b.is_ascii_hexdigit());
        (hex && parts.next().is_none()).then_some(Press {
            approve,
            run,
            gate,
            hash_prefix,
        })
    }
}

fn prefix(hash: &str) -> String {
    hash.chars().take(HASH_PREFIX_CHARS).collect()
}

/// The Approve / Reject keyboard of `gate`.
pub fn keyboard(gate: &Gate) -> serde_json::Value {
    let press = |approve| Press {
        approve,
        run: gate.run_id,
        gate: gate.id,
        hash_prefix: prefix(&gate.shown_hash),
    };
    serde_json::json!({"inline_keyboard": [[
        {"text": "Approve", "callback_data": press(true).data()},
        {"text": "Reject", "callback_data": press(false).data()},
    ]]})
}

/// The lines naming a gate, its run and its task.
fn header(gate: &Gate, task: Option<&str>) -> String {
    let mut s = format!(
        "<b>Gate {}</b> · run #{}",
        escape_cut(&gate.name, TITLE_CHARS_MAX),
        gate.run_id
    );
    if let Some(t) = task {
        // A title may be 4 KiB; the message has room for what the decider is shown.
        s.push_str(&format!(
            "\nTask: <i>{}</i>",
            escape_cut(t, TITLE_CHARS_MAX)
        ));
    }
    s
}

/// The message a human gate is sent as: its task, its name, and exactly what its decider is
/// shown, cut to fit with a pointer to where the whole text is.
pub fn gate_message(gate: &Gate, task: Option<&str>) -> String {
    let mut head = header(gate, task);
    if loom_engine::Engine::is_uncertain_gate(gate) {
        head.push_str(
            "\n⚠️ <b>Uncertain effect</b>: a step was started but loom stopped before its result \
             was recorded, so it may or may not have happened. Approve performs it again; reject \
             ends the run.",
        );
    }
    head.push_str("\n\n<pre>");
    let foot = format!(
        "</pre>\nshown {}… · or decide with <code>loom approve {}</code>",
        prefix(&gate.shown_hash),
        escape(&gate.name)
    );
    let cut_note = "\n… cut to fit Telegram: the whole text is on the dashboard and in \
                    <code>loom gates</code>.";
    let room = TEXT_CHARS_MAX
        .saturating_sub(head.chars().count() + foot.chars().count() + cut_note.chars().count());
    let (summary, cut) = escape_within(&gate.summary, room);
    let mut s = head + &summary + &foot;
    if cut {
        s.push_str(cut_note);
    }
    s
}

/// The gate message once decided: who decided, how, and where the run is now.
pub fn decided_message(gate: &Gate, task: Option<&str>, run_state: &str) -> String {
    let verdict = match gate.status {
        GateStatus::Approved => "✅ Approved",
        GateStatus::Rejected => "❌ Rejected",
        GateStatus::Pending => "⏳ Pending",
    };
    let mut s = header(gate, task);
    s.push_str(&format!(
        "\n\n{verdict} by <b>{}</b> via {}",
        escape(gate.decided_by.as_deref().unwrap_or("?")),
        escape(gate.transport.as_deref().unwrap_or("?"))
    ));
    if let Some(n) = gate.note.as_deref().filter(|n| !n.is_empty()) {
        let (note, cut) = escape_within(n, 1000);
        s.push_str(&format!(": {note}{}", if cut { "…" } else { "" }));
    }
    s.push_str(&format!("\nRun #{}: {}", gate.run_id, escape(run_state)));
    s
}

/// A button that no longer decides anything, and why.
pub fn stale_message(gate_name: &str, run: u64, why: &str) -> String {
    format!(
        "<b>Gate {}</b> · run #{run}\n\nThis button is stale: {}. Nothing was decided.",
        escape_cut(gate_name, TITLE_CHARS_MAX),
        escape_cut(why, 1000)
    )
}

/// Cuts an arbitrary reply to fit (for `/log` and `/status`), escaping it.
pub fn plain(text: &str) -> String {
    let note = "\n… (cut; see `loom log`)";
    let (s, cut) = escape_within(text, TEXT_CHARS_MAX - note.chars().count());
    if cut {
        s + note
    } else {
        s
    }
}

/// `text` escaped and cut to `chars_max` characters, with `…` where it was cut.
pub fn escape_cut(text: &str, chars_max: usize) -> String {
    let (s, cut) = escape_within(text, chars_max);
    if cut {
        s + "…"
    } else {
        s
    }
}

/// A button's answer cut to Telegram's limit (plain text: answers are not parsed as HTML).
pub fn answer_text(text: &str) -> String {
    if text.chars().count() <= ANSWER_CHARS_MAX {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(ANSWER_CHARS_MAX - 1).collect();
    s.push('…');
    s
}
