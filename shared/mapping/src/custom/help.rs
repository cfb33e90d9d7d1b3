//! [`HelpOptions`]: the option values of the "How can Microsoft help?" choice column.

use crate::config::keys;
use crate::enums::AssistanceRequestCode;
use crate::error::ConfigError;

/// The option values of the "How can Microsoft help?" choice column. They are not public, so
/// the table is a setting (`COSELL_HELP_OPTIONS`); each value and each code appears at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpOptions {
    entries: Vec<(i64, AssistanceRequestCode)>,
}

impl Default for HelpOptions {
    /// The values seen in exported environments of the Microsoft solution.
    fn default() -> Self {
        use AssistanceRequestCode::*;
        Self {
            entries: vec![
                (100_000_000, WorkloadSpecificValueProposition),
                (100_000_001, CustomerTechnicalArchitecture),
                (100_000_002, ProofOfConceptOrDemo),
                (100_000_003, QuotesOrLicensing),
                (100_000_004, PostSalesCustomerSuccess),
                (100_000_005, GeneralOrOther),
            ],
        }
    }
}

impl HelpOptions {
    /// Reads `"<option value>=<code>,…"`, e.g. `"100000000=WorkloadSpecificValueProposition"`.
    /// Codes must be ones this version knows (a typo is an error, not a new code).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let bad = |entry: &str, problem: String| ConfigError::InvalidHelpOption {
            key: keys::HELP_OPTIONS,
            entry: entry.to_owned(),
            problem,
        };
        let mut entries: Vec<(i64, AssistanceRequestCode)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (value, code) = entry
                .split_once('=')
                .ok_or_else(|| bad(entry, "must be <option value>=<code>".into()))?;
            let value: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad(entry, format!("has '{}', not a number", value.trim())))?;
            let code = AssistanceRequestCode::from(code.trim());
            if !code.is_known() {
                let known: Vec<&str> = AssistanceRequestCode::KNOWN
                    .iter()
                    .map(AssistanceRequestCode::as_str)
                    .collect();
                return Err(bad(
                    entry,
                    format!("names no known code (one of {})", known.join(", ")),
                ));
            }
            if entries.iter().any(|(v, c)| *v == value || *c == code) {
                return Err(bad(entry, "repeats an option value or code".into()));
            }
            entries.push((value, code));
        }
        if entries.is_empty() {
            return Err(bad(
                text,
                "lists no option; give at least one <option value>=<code>".into(),
            ));
        }
        Ok(Self { entries })
    }

    /// The code an option value stands for.
    pub fn code(&self, value: i64) -> Option<&AssistanceRequestCode> {
        self.entries
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, c)| c)
    }

    /// The option value of a code.
    pub fn value(&self, code: &AssistanceRequestCode) -> Option<i64> {
        self.entries
            .iter()
            .find(|(_, c)| c == code)
            .map(|(v, _)| *v)
    }

    /// Every `(option value, code)` pair, in the order configured.
    pub fn entries(&self) -> &[(i64, AssistanceRequestCode)] {
        &self.entries
    }
}
