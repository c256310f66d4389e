//! Colour in loom's own output: `--color auto|always|never`. `auto` colours a stream only when
//! it is a terminal, `TERM` is not `dumb` and `NO_COLOR` is unset or empty (no-color.org);
//! `always` colours even into a pipe (`loom log --color always | less -R`). Colour never
//! carries meaning alone: the words (`REFUSED`, `pending`) are always there.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    Auto,
    Always,
    Never,
}

/// Bit 0: colour stdout; bit 1: colour stderr. Set once, at start.
static ON: AtomicU8 = AtomicU8::new(0);

/// Decides, from the flag and the environment, whether stdout and stderr get colour.
pub fn init(when: When) {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let decide = |terminal: bool| match when {
        When::Always => true,
        When::Never => false,
        When::Auto => {
            terminal && env("NO_COLOR").is_none() && env("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let bits = u8::from(decide(std::io::stdout().is_terminal()))
        | (u8::from(decide(std::io::stderr().is_terminal())) << 1);
    ON.store(bits, Ordering::Relaxed);
}

/// The `--color` a command line asks for, read before parsing it (a refused command line
/// is reported in colour, or not, as asked).
pub fn from_args(args: &[std::ffi::OsString]) -> When {
    let mut when = When::Auto;
    let mut it = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--color") {
            Some("") => it.next(),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        match value {
            Some("always") => when = When::Always,
            Some("never") => when = When::Never,
            Some("auto") => when = When::Auto,
            _ => {}
        }
    }
    when
}

#[derive(Clone, Copy)]
pub enum Style {
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "1;31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Blue => "34",
            Style::Magenta => "35",
            Style::Cyan => "36",
            Style::Bold => "1",
            Style::Dim => "2",
        }
    }
}

fn wrap(on: bool, style: Style, text: &str) -> String {
    if on && !text.is_empty() {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_owned()
    }
}

/// `text` in `style` on stdout, when stdout is coloured.
pub fn paint(style: Style, text: &str) -> String {
    wrap(ON.load(Ordering::Relaxed) & 1 != 0, style, text)
}

/// `text` in `style` on stderr, when stderr is coloured.
pub fn paint_err(style: Style, text: &str) -> String {
    wrap(ON.load(Ordering::Relaxed) & 2 != 0, style, text)
}

/// The colour of a tick kind's label.
pub fn of_kind(kind: loom_kernel::TickKind) -> Option<Style> {
    use loom_kernel::TickKind as K;
    match kind {
        K::Violation | K::Fault => Some(Style::Red),
        K::GateOpen => Some(Style::Yellow),
        K::Decision => Some(Style::Magenta),
        K::Finish => Some(Style::Green),
        K::Effect => Some(Style::Cyan),
        K::Hold | K::Abandon => Some(Style::Yellow),
        K::Start | K::Resume | K::Fork => Some(Style::Blue),
    }
}

/// The colour of a run or gate status word.
pub fn of_status(status: &str) -> Option<Style> {
    match status {
        "done" | "approved" => Some(Style::Green),
        "waiting" | "pending" | "running" => Some(Style::Yellow),
        "stopped" | "failed" | "rejected" | "refused" => Some(Style::Red),
        "abandoned" => Some(Style::Dim),
        _ => None,
    }
}

/// `text` padded to `width` and then painted, so colour codes never break the columns.
pub fn padded(style: Option<Style>, text: &str, width: usize) -> String {
    let pad = width.saturating_sub(text.chars().count());
    let body = match style {
        Some(s) => paint(s, text),
        None => text.to_owned(),
    };
    format!("{body}{}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn the_flag_is_read_in_both_spellings_and_the_last_wins() {
        assert_eq!(from_args(&args(&["loom", "log"])), When::Auto);
        assert_eq!(
            from_args(&args(&["loom", "--color", "never", "log"])),
            When::Never
        );
        assert_eq!(
            from_args(&args(&["loom", "log", "--color=always"])),
            When::Always
        );
        assert_eq!(
            from_args(&args(&["loom", "--color=never", "--color", "always"])),
            When::Always
        );
    }

    #[test]
    fn padding_counts_the_visible_text_only() {
        ON.store(1, Ordering::Relaxed);
        let s = padded(Some(Style::Red), "ab", 4);
        assert_eq!(s, "\x1b[1;31mab\x1b[0m  ");
        ON.store(0, Ordering::Relaxed);
        assert_eq!(padded(Some(Style::Red), "ab", 4), "ab  ");
    }
}
