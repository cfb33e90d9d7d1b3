//! Every `COSELL_*` name anything in this repository reads, so a misspelt one is refused with
//! the name it was probably meant to be — `COSELL_DATAVERSE_ULR` would otherwise pass silently,
//! and the error would then say `COSELL_DATAVERSE_URL is not set`.
//!
//! The functions check their environment at start ([`crate::Settings::from_env`]); the CLI
//! checks the environment and `cosell.toml` alike, adding the names only it reads.

use cosell_mapping::config::keys as crm;

/// The settings a process reads through [`crate::Settings`] (and so every function).
pub const SETTINGS: &[&str] = &[
    "COSELL_DATAVERSE_URL",
    "COSELL_PARTNER_CENTER_TENANT",
    "COSELL_CREDENTIALS_SECRET",
    "COSELL_CREDENTIALS_FILE",
    "COSELL_REFRESH_TOKEN_SECRET",
    "COSELL_TABLE",
    "COSELL_SQLITE_PATH",
    "COSELL_LOGIN_URL",
    "COSELL_PARTNER_CENTER_URL",
    "COSELL_PARTNER_CENTER_WEBHOOKS_URL",
    "COSELL_DYNAMICS_APP_URL",
    "COSELL_PARTNER_CENTER_REFERRAL_URL",
    "COSELL_MAPPING_VERSION",
    cosell_partner_center::webhook::config::ENV_CERT_HOSTS,
    cosell_partner_center::webhook::config::ENV_TRUST_ROOTS,
    crate::settings::WEBHOOK_HEADER,
    crate::settings::OVERLAP,
    "COSELL_RETRY_BASE_SECS",
    "COSELL_RETRY_CAP_SECS",
    "COSELL_RETRY_MAX_ATTEMPTS",
    cosell_sync::jobs::POLL_SCHEDULE,
    cosell_sync::jobs::RETRY_SCHEDULE,
    cosell_sync::jobs::RECONCILE_SCHEDULE,
    // The CRM's columns and options (`CrmConfig::from_lookup`).
    crm::SHOW_CHECKMARK,
    crm::DEAL_VALUE_COLUMN,
    crm::COUNTRY_COLUMN,
    crm::COLUMN_SYNC,
    crm::COLUMN_REFERRAL_ID,
    crm::COLUMN_REFERRAL_LINK,
    crm::COLUMN_HELP,
    crm::COLUMN_VISIBILITY,
    crm::COLUMN_MSX_ID,
    crm::COLUMN_AUDIT,
    crm::SOLUTIONS_TABLE,
    crm::SOLUTIONS_RELATIONSHIP,
    crm::SOLUTION_ID_COLUMN,
    crm::SOLUTION_NAME_COLUMN,
    crm::HELP_OPTIONS,
    crm::SOLUTION_PUBLISHER_COLUMN,
    crm::SOLUTION_TYPE_COLUMN,
    crm::PARTNER_ROLE_COLUMN,
    crm::SOLUTION_AREA_COLUMN,
    crm::SOLUTION_PLAY_COLUMN,
    crm::MARKETPLACE_INTENT_COLUMN,
    crm::CUSTOMER_SIZE_COLUMN,
    crm::CONSENT_TO_CONTACT,
    crm::CONSENT_TO_SHARE_INFO,
    crm::SERVICES_TAXONOMY,
    crm::MAPPING,
    crm::RESPOND_TASKS,
    crm::RESPOND_DAYS_BEFORE,
    crm::COLUMN_EXPIRES,
];

/// Names the tools around the product read, never a deployment: the tests, the simulator, the
/// chaos run. Known so that having one set is not taken for a typo.
pub const TOOLING: &[&str] = &[
    "COSELL_CONFIG",
    "COSELL_TEST_DYNAMODB_URL",
    "COSELL_SIM_BIND",
    "COSELL_CHAOS",
    "COSELL_CHAOS_SEED",
    "COSELL_CHAOS_STORE",
    "COSELL_CHAOS_CONVERGE_SECS",
];

/// `COSELL_*` names that are none of the known ones, each with the known name it is closest to
/// (when one is close enough to be the one meant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.sentences())]
pub struct Unknown {
    /// Where the names were found: "the environment", "cosell.toml".
    pub place: String,
    pub names: Vec<(String, Option<&'static str>)>,
}

impl Unknown {
    fn sentences(&self) -> String {
        let each = self.names.iter().map(|(name, meant)| match meant {
            Some(meant) => format!("{name} (did you mean {meant}?)"),
            None => name.clone(),
        });
        let list = each.collect::<Vec<_>>().join(", ");
        let them = if self.names.len() == 1 { "it" } else { "them" };
        format!("{} sets {list}: no part of cosell reads {them}", self.place)
    }
}

/// Checks the `COSELL_*` names among `names` against [`SETTINGS`], [`TOOLING`] and `also`
/// (a caller's own), found in `source`.
pub fn check<'a>(
    source: &str,
    names: impl IntoIterator<Item = &'a str>,
    also: &[&'static str],
) -> Result<(), Unknown> {
    let known = || SETTINGS.iter().chain(TOOLING).chain(also).copied();
    let mut unknown: Vec<_> = names
        .into_iter()
        .filter(|name| name.starts_with("COSELL_"))
        .filter(|name| !known().any(|k| k == *name))
        .map(|name| (name.to_owned(), closest(name, known())))
        .collect();
    unknown.sort();
    unknown.dedup();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Unknown {
        place: source.to_owned(),
        names: unknown,
    })
}

/// The known name `name` most likely misspells: a few letters off, swapped or missing.
fn closest(name: &str, known: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    let scored = known.map(|k| (strsim::normalized_damerau_levenshtein(name, k), k));
    let best = scored.max_by(|a, b| a.0.total_cmp(&b.0))?;
    (best.0 >= 0.8).then_some(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_setting_is_refused_with_the_one_meant() {
        let error = check("the environment", ["COSELL_DATAVERSE_ULR"], &[]).unwrap_err();
        assert_eq!(
            error.names,
            vec![(
                "COSELL_DATAVERSE_ULR".to_owned(),
                Some("COSELL_DATAVERSE_URL")
            )]
        );
        let text = error.to_string();
        assert!(
            text.contains("COSELL_DATAVERSE_ULR (did you mean COSELL_DATAVERSE_URL?)"),
            "{text}"
        );
        assert!(text.starts_with("the environment sets"), "{text}");
    }

    #[test]
    fn every_unknown_name_is_named_at_once_and_a_far_one_gets_no_guess() {
        let names = [
            "COSELL_TABEL",
            "COSELL_WHATEVER_ELSE",
            "HOME",
            "COSELL_TABLE",
        ];
        let error = check("cosell.toml", names, &[]).unwrap_err();
        assert_eq!(
            error.names,
            vec![
                ("COSELL_TABEL".to_owned(), Some("COSELL_TABLE")),
                ("COSELL_WHATEVER_ELSE".to_owned(), None),
            ]
        );
    }

    #[test]
    fn known_settings_tooling_and_a_callers_own_pass() {
        let names = [
            "COSELL_TABLE",
            "COSELL_TEST_DYNAMODB_URL",
            "COSELL_POLL_INTERVAL",
        ];
        assert!(check("x", names, &[]).is_err());
        assert_eq!(check("x", names, &["COSELL_POLL_INTERVAL"]), Ok(()));
    }
}
