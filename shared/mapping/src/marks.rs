//! The ✔/✖ a sync puts at the end of an opportunity's name (`COSELL_SHOW_CHECKMARK`), and the
//! name without it: the name both sides compare never carries a mark.

use crate::config::CrmConfig;

/// The check mark shown in an opportunity's name after a sync.
pub const MARK_OK: char = '✔';
/// The mark shown after a failed sync.
pub const MARK_FAILED: char = '✖';

/// `"<name> ✔"` (or ✖) when the check-mark setting is on, else the name; a mark already at the
/// end of `name` is replaced, never doubled.
pub fn decorate_name(name: &str, mark: char, config: &CrmConfig) -> String {
    let base = base_name(name);
    if config.check_mark_in_name {
        format!("{base} {mark}")
    } else {
        base.to_owned()
    }
}

/// The name to write with ✔ (`ok`) or ✖ when the setting is on; `None` when there is nothing to
/// write (the setting is off, no name, or it already carries that mark).
pub fn marked(name: Option<&str>, ok: bool, config: &CrmConfig) -> Option<String> {
    let name = name.filter(|_| config.check_mark_in_name)?;
    let mark = if ok { MARK_OK } else { MARK_FAILED };
    let marked = decorate_name(name, mark, config);
    (marked != name).then_some(marked)
}

/// The name without a trailing ✔/✖.
pub fn base_name(name: &str) -> &str {
    name.trim_end()
        .trim_end_matches([MARK_OK, MARK_FAILED])
        .trim_end()
}
