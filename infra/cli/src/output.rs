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
    match format {
        Format::Human => print!("{}", report.human()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).expect("a report serialises")
        ),
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
        println!("{}", serde_json::json!({ "error": format!("{error:#}") }));
    }
    ExitCode::FAILURE
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
}
