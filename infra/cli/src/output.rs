//! How commands print. A read command builds one value that is both its JSON document
//! (`--json`: exactly one document on stdout) and its human lines ([`Report`]); `status` and any
//! later read command follow the same shape.

use std::process::ExitCode;

use serde::Serialize;

/// Marks a line that is fine.
pub const OK: &str = "✔";
/// Marks a line that needs the operator.
pub const FAILED: &str = "✖";
/// Marks a line worth a look that stops nothing.
pub const WARNING: &str = "⚠";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// A read command's result.
pub trait Report: Serialize {
    /// The lines a person reads (each ending in a newline).
    fn human(&self) -> String;

    /// Whether the command did what was asked; decides the exit status.
    fn ok(&self) -> bool {
        true
    }
}

/// Prints `report` in `format` and turns it into the exit status (1 when not ok).
pub fn print(format: Format, report: &impl Report) -> ExitCode {
    let text = match format {
        Format::Human => colour(&report.human(), Colour::of_stdout()),
        Format::Json => {
            let json = serde_json::to_string_pretty(report).expect("a report serialises");
            format!("{json}\n")
        }
    };
    if let Err(status) = write(&text) {
        return ExitCode::from(status);
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A command that could not run: one line on stderr naming the command, and with `--json` also
/// `{"error": "…"}` on stdout so a script still gets one document.
pub fn fail(format: Format, command: &str, error: &anyhow::Error) -> ExitCode {
    eprintln!("cosell {command}: {error:#}");
    if format == Format::Json {
        let document = serde_json::json!({ "error": format!("{error:#}") });
        if let Err(status) = write(&format!("{document}\n")) {
            return ExitCode::from(status);
        }
    }
    ExitCode::FAILURE
}

/// The exit status of a command whose reader left (`cosell status | head`): what a Unix tool
/// killed by SIGPIPE ends with.
pub const CLOSED_PIPE: u8 = 141;

/// Writes `text` to stdout. A failed write is the exit status the command ends with, as a Unix
/// tool's: [`CLOSED_PIPE`], quietly, when the reader left; else 1, the error said on stderr (a
/// full disk) — never a panic (Rust ignores SIGPIPE, so `print!` would panic).
pub fn write(text: &str) -> Result<(), u8> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(CLOSED_PIPE),
        Err(error) => {
            eprintln!("cosell: writing the output failed: {error}");
            Err(1)
        }
    }
}

/// [`write`] for the commands that print as they go (sandbox, setup): a failed write ends the
/// process there, with the same status.
pub fn say_line(line: &str) {
    put_text(&format!("{line}\n"));
}

/// Writes `text` on stdout as [`say_line`] does, without adding a newline.
pub fn put_text(text: &str) {
    if let Err(status) = write(text) {
        std::process::exit(status.into());
    }
}

/// `println!` through [`say_line`].
macro_rules! say {
    () => { $crate::output::say_line("") };
    ($($arg:tt)*) => { $crate::output::say_line(&format!($($arg)*)) };
}
pub(crate) use say;

/// `print!` through [`put_text`].
macro_rules! put {
    ($($arg:tt)*) => { $crate::output::put_text(&format!($($arg)*)) };
}
pub(crate) use put;

/// Whether the ✔/✖/⚠ marks are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Always,
    Never,
}

impl Colour {
    /// Colour on a terminal, unless `NO_COLOR` is set (no-color.org) or the terminal is dumb;
    /// never into a pipe or a file.
    pub fn of_stdout() -> Self {
        use std::io::IsTerminal;
        let wanted = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |term| term != "dumb");
        if wanted && std::io::stdout().is_terminal() {
            Colour::Always
        } else {
            Colour::Never
        }
    }
}

/// `text` with its marks coloured: ✔ green, ✖ red, ⚠ yellow.
pub fn colour(text: &str, colour: Colour) -> String {
    if colour == Colour::Never {
        return text.to_owned();
    }
    let paint = |mark: &str, code: &str| format!("\x1b[{code}m{mark}\x1b[0m");
    text.replace(OK, &paint(OK, "32"))
        .replace(FAILED, &paint(FAILED, "31"))
        .replace(WARNING, &paint(WARNING, "33"))
}

/// The first 8 characters of an id and an ellipsis, as the narration shows ids.
pub fn short(id: &str) -> String {
    match id.char_indices().nth(8) {
        Some((end, _)) => format!("{}…", &id[..end]),
        None => id.to_owned(),
    }
}

/// `43 ms`, `1.2 s`.
pub fn millis(duration: std::time::Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_durations_read_short() {
        assert_eq!(short("7f3c2a10-0000-4000-8000-000000000000"), "7f3c2a10…");
        assert_eq!(short("abc"), "abc");
        assert_eq!(millis(std::time::Duration::from_millis(43)), "43 ms");
        assert_eq!(millis(std::time::Duration::from_millis(1234)), "1.2 s");
    }

    #[test]
    fn marks_are_coloured_only_when_asked() {
        let text = "✔ a\n✖ b\n⚠ c\n";
        assert_eq!(colour(text, Colour::Never), text);
        let coloured = colour(text, Colour::Always);
        assert!(coloured.contains("\x1b[32m✔\x1b[0m a"), "{coloured:?}");
        assert!(coloured.contains("\x1b[31m✖\x1b[0m b"), "{coloured:?}");
        assert!(coloured.contains("\x1b[33m⚠\x1b[0m c"), "{coloured:?}");
    }
}
