//! The Audit column: the sync log a seller reads on the opportunity, newest line first, so the
//! latest outcome is what shows in a form. The lines are kept with the link (in the store), so
//! writing the whole log costs no read of the record. The log is cut to [`MAX_CHARS`] (the
//! default size of a Dataverse multi-line text column) by dropping the oldest lines.

use time::OffsetDateTime;

/// At most this many characters are written to the column.
pub const MAX_CHARS: usize = 2_000;

/// One line: `"2024-03-01T10:15:30Z <message>"`.
pub fn line(at: OffsetDateTime, message: &str) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    format!("{} {message}", crate::timestamp::format(at))
}

/// The log with `newest` in front of the `earlier` lines (newest first), as many of them as fit.
/// A newest line longer than the column is cut to fit.
pub fn prepend(newest: String, earlier: &[String]) -> Vec<String> {
    let newest: String = newest.chars().take(MAX_CHARS).collect();
    let mut used = newest.chars().count();
    let mut lines = vec![newest];
    for line in earlier {
        let cost = line.chars().count() + 1; // and its line break
        if used + cost > MAX_CHARS {
            break;
        }
        used += cost;
        lines.push(line.clone());
    }
    lines
}

/// The column's text.
pub fn render(lines: &[String]) -> String {
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_line_comes_first_and_old_ones_drop_off_to_fit() {
        let earlier: Vec<String> = (0..100).map(|n| format!("{n:0>50}")).collect();
        let lines = prepend("newest".into(), &earlier);
        assert_eq!(lines[0], "newest");
        assert_eq!(lines[1], earlier[0]);
        let text = render(&lines);
        assert!(text.chars().count() <= MAX_CHARS);
        // One more line would not have fitted.
        assert!(text.chars().count() + 51 > MAX_CHARS);
        assert_eq!(lines.len() - 1, (MAX_CHARS - "newest".len()) / 51);
    }

    #[test]
    fn an_overlong_newest_line_is_cut_and_nothing_else_fits() {
        let lines = prepend("é".repeat(MAX_CHARS + 10), &["older".to_owned()]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].chars().count(), MAX_CHARS);
    }

    #[test]
    fn a_line_carries_the_time_to_the_second() {
        let at = time::macros::datetime!(2024-03-01 10:15:30.987 UTC);
        assert_eq!(line(at, "✔ Synced"), "2024-03-01T10:15:30Z ✔ Synced");
    }
}
