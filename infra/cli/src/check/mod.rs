//! `cosell check`: a preflight against the configured services, one line per check —
//! `✔ name — detail`, `⚠ name — detail — what to look at` (it stops nothing), or
//! `✖ name — what is wrong — the fix` — and a non-zero exit if any ✖.
//!
//! | check | how |
//! |---|---|
//! | clients | the credentials load and the clients and store build ([`Runtime::start`]) |
//! | co-sell schema | which one `cosell setup` recorded: Microsoft's solution's columns or cosell's own |
//! | Partner Center token | a one-referral list (the referrals audience) |
//! | MFA | the referrals access token's `amr` claim lists `mfa` (read, not verified: a diagnostic) |
//! | refresh token age | see [`token_age`] (read before any redemption) |
//! | Dataverse token | a one-row currency query |
//! | co-sell columns | `EntityDefinitions(…'opportunity')/Attributes` has the deal value and every co-sell column |
//! | country column | the same on account |
//! | help options | the help column's options from metadata (by value: labels are localised), each with its code, ✖ for one the settings do not map |
//! | solutions relationship | the navigation properties from opportunity to the solutions table, from metadata |
//! | services values | each Services co-sell column: a choice's options from metadata (the label sent, English when it has one), ⚠ for one outside `COSELL_SERVICES_TAXONOMY`'s values or a taxonomy not for the current fiscal year; a text column's values cannot be listed |
//! | mapping defaults, mapping fields, required columns, account rules | the mapping document against each table's `Attributes` (see [`mapping`]) |
//! | users, tasks, default owner, expiry column | what respond-by reads and writes (see [`respond`]) |
//! | change tracking | `EntityDefinitions?$filter=ChangeTrackingEnabled eq true` lists opportunity |
//! | currency | at least one `transactioncurrencies` row |
//! | webhook registration | points at `COSELL_WEBHOOK_URL`, for the four referral events |
//! | store | one read |

mod mapping;
mod respond;
pub mod token_age;

use std::process::ExitCode;

use cosell_dataverse::{DataverseClient, DataverseError, Query};
use cosell_mapping::CrmConfig;
use cosell_mapping::config::keys as crm;
use cosell_mapping::metadata::Discovered;
use cosell_partner_center::{ApiError, ListQuery, PartnerCenter, WebhookEvent};
use cosell_runtime::{Runtime, StoreSource};
use cosell_sync::metadata;
use cosell_sync::outbound::CURSOR;
use serde::Serialize;

use crate::config::{Config, keys};
use crate::context::Context;
use crate::output::{self, FAILED, OK, Report, WARNING};
use token_age::Age;

/// One line of the preflight.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, or what is wrong.
    pub detail: String,
    /// What to do about it (failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    /// Worth a look, but nothing fails for it.
    pub(crate) fn warn(
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check, in order; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report for Preflight {
    fn human(&self) -> String {
        self.checks
            .iter()
            .map(|check| match &check.fix {
                None if check.ok => format!("{OK} {} — {}\n", check.name, check.detail),
                Some(look) if check.ok => {
                    format!("{WARNING} {} — {} — {look}\n", check.name, check.detail)
                }
                fix => format!(
                    "{FAILED} {} — {} — {}\n",
                    check.name,
                    check.detail,
                    fix.as_deref().unwrap_or("")
                ),
            })
            .collect()
    }

    fn ok(&self) -> bool {
        self.ok
    }
}

pub fn main(ctx: &Context) -> ExitCode {
    // The checks wait on the services (seconds, more when one does not answer): a spinner on
    // stderr says so at a terminal; indicatif draws nothing elsewhere.
    let waiting = indicatif::ProgressBar::new_spinner().with_message("checking the services…");
    waiting.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        anyhow::Ok(preflight(&config).await?)
    });
    waiting.finish_and_clear();
    match result {
        Ok(preflight) => output::print(ctx.format, &preflight),
        Err(error) => output::fail(ctx.format, "check", &error),
    }
}

/// Runs the checks. A setting that cannot be read is an error (one line naming it), not a check.
pub async fn preflight(config: &Config) -> anyhow::Result<Preflight> {
    let settings = config.runtime()?;
    let our_url = config.get(keys::WEBHOOK_URL);
    let token_secret = settings.refresh_token_secret.as_deref();
    let age = token_age::measure(&settings.credentials, token_secret).await;
    let mut checks = Vec::new();
    let runtime = match Runtime::start(settings).await {
        Ok(runtime) => runtime,
        Err(error) => {
            checks.push(Check::fail(
                "clients",
                error.to_string(),
                "fix the credentials document or the store setting named above",
            ));
            return Ok(finish(checks));
        }
    };
    let pc_token = partner_center_token(&runtime.partner_center).await;
    let pc_ok = pc_token.ok;
    checks.push(pc_token);
    checks.push(mfa(&runtime.partner_center).await);
    checks.push(refresh_token_age(age, pc_ok));
    let currencies = runtime
        .dataverse
        .query(
            "transactioncurrencies",
            &Query::new().select(["isocurrencycode"]).top(1),
        )
        .await;
    checks.push(dataverse_token(&currencies));
    checks.push(schema(&runtime).await);
    checks.extend(columns(&runtime.dataverse, &runtime.settings.crm).await);
    checks.extend(discovered(&runtime.dataverse, &runtime.settings.crm).await);
    checks.extend(mapping::checks(&runtime.dataverse, &runtime.settings.crm).await);
    checks.extend(respond::checks(&runtime.dataverse, &runtime.settings.crm).await);
    checks.push(change_tracking(&runtime.dataverse).await);
    checks.push(currency(&currencies));
    checks.push(webhook(&runtime.partner_center, our_url.as_deref()).await);
    checks.push(store(&runtime).await);
    Ok(finish(checks))
}

fn finish(checks: Vec<Check>) -> Preflight {
    Preflight {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// Whether an error came from the token endpoint rather than the API behind it.
fn from_token_endpoint(error: &ApiError) -> bool {
    match error {
        ApiError::Service { service, .. }
        | ApiError::Transport { service, .. }
        | ApiError::Decode { service, .. }
        | ApiError::OutOfTime { service, .. } => *service == "token",
        ApiError::Config(_) => false,
    }
}

async fn partner_center_token(pc: &PartnerCenter) -> Check {
    const NAME: &str = "Partner Center token";
    let error = match pc.list_referral_page(&ListQuery::new().top(1)).await {
        Ok(_) => return Check::pass(NAME, "obtained; the referrals API answers"),
        Err(error) => error,
    };
    if error.is_mfa_required() {
        return Check::fail(NAME, error.to_string(), LOGIN_WITH_MFA);
    }
    match error.api() {
        Some(api) if from_token_endpoint(api) => {
            let fix = match api.code() {
                Some("invalid_grant") => {
                    "the refresh token is expired or revoked: run `cosell login` as a Referrals admin"
                }
                Some("invalid_client" | "unauthorized_client") => {
                    "check partner_center.client_id and client_secret in the credentials"
                }
                _ => {
                    "check COSELL_LOGIN_URL, COSELL_PARTNER_CENTER_TENANT and the partner_center credentials"
                }
            };
            Check::fail(NAME, error.to_string(), fix)
        }
        Some(api) if matches!(api.status(), Some(401 | 403)) => Check::fail(
            NAME,
            format!("obtained, but the referrals API refused it: {error}"),
            "the signed-in user needs the Referrals admin role: give it to them in Partner Center, or run `cosell login` as a user who has it",
        ),
        Some(_) => Check::fail(
            NAME,
            format!("obtained, but the referrals API failed: {error}"),
            "check COSELL_PARTNER_CENTER_URL",
        ),
        None => Check::fail(
            NAME,
            error.to_string(),
            "make the credentials file or secret writable: a rotated refresh token must be stored",
        ),
    }
}

const LOGIN_WITH_MFA: &str =
    "run `cosell login` as a Referrals admin and complete the multi-factor authentication prompt";

/// Whether the sign-in behind the refresh token did MFA, from the access token's `amr`.
async fn mfa(pc: &PartnerCenter) -> Check {
    const NAME: &str = "MFA";
    match pc.sign_in().await {
        Ok(Some(sign_in)) if sign_in.mfa() => Check::pass(
            NAME,
            format!(
                "{} signed in with multi-factor authentication (amr: {})",
                sign_in.who(),
                sign_in.methods_text()
            ),
        ),
        Ok(Some(sign_in)) => Check::fail(
            NAME,
            format!(
                "{} signed in without multi-factor authentication (amr: {}); Partner Center \
                 refuses App+User calls without it since 1 April 2026",
                sign_in.who(),
                sign_in.methods_text()
            ),
            LOGIN_WITH_MFA,
        ),
        Ok(None) => Check::pass(
            NAME,
            "unknown (the access token is not a JWT, so its amr claim cannot be read)",
        ),
        Err(error) => Check::fail(
            NAME,
            format!("no access token to read: {error}"),
            "see the Partner Center token line",
        ),
    }
}

fn refresh_token_age(age: Age, token_ok: bool) -> Check {
    const NAME: &str = "refresh token age";
    let limit = token_age::days(token_age::LIFETIME);
    match age {
        Age::Unknown(why) => Check::pass(NAME, format!("unknown ({why})")),
        Age::Known { age, source } => {
            let days = token_age::days(age);
            let detail = format!(
                "{source} {days} day{} ago; Entra ID revokes a refresh token unused for {limit} days",
                if days == 1 { "" } else { "s" }
            );
            if age >= token_age::LIFETIME && !token_ok {
                Check::fail(NAME, detail, "run `cosell login` as a Referrals admin")
            } else {
                Check::pass(NAME, detail)
            }
        }
    }
}

fn dataverse_token(currencies: &Result<cosell_dataverse::Page, DataverseError>) -> Check {
    const NAME: &str = "Dataverse token";
    match currencies {
        Ok(_) => Check::pass(NAME, "obtained; the Web API answers"),
        Err(DataverseError::Api(api)) if from_token_endpoint(api) => Check::fail(
            NAME,
            api.to_string(),
            "check dataverse.tenant_id, client_id and client_secret in the credentials",
        ),
        Err(error) if matches!(error.status(), Some(401 | 403)) => Check::fail(
            NAME,
            format!("obtained, but the Web API refused it: {error}"),
            "add the app as an application user of the environment, with a security role",
        ),
        Err(error) => Check::fail(
            NAME,
            format!("obtained, but the Web API failed: {error}"),
            "check COSELL_DATAVERSE_URL",
        ),
    }
}

/// The opportunity columns the sync reads and writes, with the setting naming each.
fn opportunity_columns(config: &CrmConfig) -> Vec<(&str, &'static str)> {
    let mut columns = vec![(config.deal_value_column.as_str(), crm::DEAL_VALUE_COLUMN)];
    columns.extend(config.cosell_columns());
    columns
}

async fn columns(dataverse: &DataverseClient, config: &CrmConfig) -> Vec<Check> {
    let country = [(config.country_code_column.as_str(), crm::COUNTRY_COLUMN)];
    vec![
        table_columns(
            dataverse,
            "co-sell columns",
            "opportunity",
            &opportunity_columns(config),
        )
        .await,
        table_columns(dataverse, "country column", "account", &country).await,
    ]
}

/// What metadata says of the help column and the solutions relationship, read afresh.
async fn discovered(dataverse: &DataverseClient, config: &CrmConfig) -> Vec<Check> {
    const HELP: &str = "help options";
    const SOLUTIONS: &str = "solutions relationship";
    let found = match metadata::discover(dataverse, config).await {
        Ok(found) => found,
        Err(error) => {
            let fix = "the help column must be a choice column and the application user needs read \
                       access to table metadata; until then the settings are used";
            return vec![
                Check::fail(HELP, error.to_string(), fix),
                Check::fail(SOLUTIONS, "not read (see the line above)", fix),
            ];
        }
    };
    let today = time::OffsetDateTime::now_utc().date();
    vec![
        help_options(&found, config),
        solutions(&found, config),
        services(&found, config, today),
    ]
}

/// Microsoft's fiscal year of `day` (FY27 runs from July 2026 to June 2027).
fn fiscal_year(day: time::Date) -> String {
    let year = day.year() + i32::from(u8::from(day.month()) >= 7);
    format!("FY{:02}", year % 100)
}

/// The Services co-sell columns: a choice's options as sent (the English label when there is
/// one), ⚠ for any outside the configured taxonomy; a text column's values cannot be listed.
fn services(found: &Discovered, config: &CrmConfig, today: time::Date) -> Check {
    const NAME: &str = "services values";
    let mut held = Vec::new();
    let mut outside = Vec::new();
    let taxonomy = config.services_taxonomy.as_ref();
    for (field, _, column) in config.services.fields() {
        let Some(column) = column else {
            continue;
        };
        let Some(options) = found.services_choices.get(column) else {
            held.push(format!(
                "{column} ({field}): text, its values cannot be listed"
            ));
            continue;
        };
        let labels: Vec<String> = options
            .iter()
            .map(|o| {
                format!(
                    "{} \"{}\"",
                    o.value,
                    o.label.as_deref().unwrap_or("no label")
                )
            })
            .collect();
        held.push(format!("{column} ({field}): {}", labels.join(", ")));
        let listed = |label: &str| {
            taxonomy.is_none_or(|t| {
                t.values(field)
                    .iter()
                    .any(|v| v.trim().eq_ignore_ascii_case(label.trim()))
            })
        };
        outside.extend(
            options
                .iter()
                .filter(|o| !listed(o.label.as_deref().unwrap_or_default()))
                .map(|o| {
                    format!(
                        "{field} {} \"{}\"",
                        o.value,
                        o.label.as_deref().unwrap_or("no label")
                    )
                }),
        );
    }
    if held.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "no Services column set ({}, {}, {})",
                crm::PARTNER_ROLE_COLUMN,
                crm::SOLUTION_AREA_COLUMN,
                crm::SOLUTION_PLAY_COLUMN
            ),
        );
    }
    let detail = held.join("; ");
    let current = fiscal_year(today);
    let Some(taxonomy) = taxonomy else {
        return Check::pass(
            NAME,
            format!(
                "{detail} (set {} to check them against {current}'s values)",
                crm::SERVICES_TAXONOMY
            ),
        );
    };
    let mut look = Vec::new();
    if !taxonomy.fiscal_year.trim().eq_ignore_ascii_case(&current) {
        look.push(format!(
            "{} lists {}'s values and it is {current} now: Microsoft changes them each July",
            crm::SERVICES_TAXONOMY,
            taxonomy.fiscal_year
        ));
    }
    if !outside.is_empty() {
        look.push(format!(
            "not among {}'s values in {}: {} — Partner Center may refuse a referral carrying one",
            taxonomy.fiscal_year,
            crm::SERVICES_TAXONOMY,
            outside.join(", ")
        ));
    }
    if look.is_empty() {
        Check::pass(
            NAME,
            format!("{detail}; all {}'s values", taxonomy.fiscal_year),
        )
    } else {
        Check::warn(NAME, detail, look.join("; "))
    }
}

fn help_options(found: &Discovered, config: &CrmConfig) -> Check {
    const NAME: &str = "help options";
    let column = &config.columns.help;
    let described: Vec<String> = found
        .help_options
        .iter()
        .map(|option| {
            let label = option.label.as_deref().unwrap_or("no label");
            match config.help_options.code(option.value) {
                Some(code) => format!("{} \"{label}\" → {code:?}", option.value),
                None => format!("{} \"{label}\" → none", option.value),
            }
        })
        .collect();
    let unmapped = found.unmapped_help_options(config);
    if found.help_options.is_empty() {
        return Check::fail(
            NAME,
            format!("{column} has no options"),
            format!(
                "check {} names the \"How can Microsoft help?\" column",
                crm::COLUMN_HELP
            ),
        );
    }
    let detail = format!("{column}: {}", described.join(", "));
    if unmapped.is_empty() {
        return Check::pass(NAME, detail);
    }
    let values: Vec<String> = unmapped.iter().map(|o| o.value.to_string()).collect();
    Check::fail(
        NAME,
        detail,
        format!(
            "set {} to map {} (e.g. {}=GeneralOrOther); a deal choosing one fails until then",
            crm::HELP_OPTIONS,
            values.join(", "),
            values[0]
        ),
    )
}

fn solutions(found: &Discovered, config: &CrmConfig) -> Check {
    const NAME: &str = "solutions relationship";
    let table = &config.solutions_table;
    let configured = &config.solutions.relationship;
    let names = &found.solutions_relationships;
    if names.iter().any(|n| n.eq_ignore_ascii_case(configured)) {
        return Check::pass(
            NAME,
            format!("opportunity reaches {table} through {configured}"),
        );
    }
    if let Some(only) = found.solutions_relationship(config) {
        return Check::pass(
            NAME,
            format!(
                "opportunity reaches {table} through {only} (from metadata; {} names {configured}, \
                 which does not exist)",
                crm::SOLUTIONS_RELATIONSHIP
            ),
        );
    }
    if names.is_empty() {
        return Check::fail(
            NAME,
            format!("opportunity has no relationship to {table}"),
            format!(
                "install Microsoft's co-sell solution, or set {} to the table of the solutions to share",
                crm::SOLUTIONS_TABLE
            ),
        );
    }
    Check::fail(
        NAME,
        format!(
            "opportunity reaches {table} through {}, not {configured}",
            names.join(", ")
        ),
        format!("set {} to one of them", crm::SOLUTIONS_RELATIONSHIP),
    )
}

async fn table_columns(
    dataverse: &DataverseClient,
    name: &'static str,
    table: &str,
    wanted: &[(&str, &'static str)],
) -> Check {
    let present = match dataverse.attribute_names(table).await {
        Ok(present) => present,
        Err(error) => {
            return Check::fail(
                name,
                format!("the {table} metadata could not be read: {error}"),
                "the application user needs read access to table metadata",
            );
        }
    };
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(column, _)| !present.iter().any(|p| p.eq_ignore_ascii_case(column)))
        .collect();
    if missing.is_empty() {
        let names: Vec<_> = wanted.iter().map(|(column, _)| *column).collect();
        return Check::pass(name, format!("{table} has {}", names.join(", ")));
    }
    let described: Vec<_> = missing
        .iter()
        .map(|(column, key)| format!("{column} ({key})"))
        .collect();
    let settings: Vec<_> = missing.iter().map(|(_, key)| *key).collect();
    Check::fail(
        name,
        format!("{table} has no column {}", described.join(", ")),
        format!(
            "install Microsoft's co-sell solution, or set {} to the column's logical name",
            settings.join(", ")
        ),
    )
}

/// Change tracking is on for opportunity, and the application user may read its changes: a
/// one-row baseline is asked for, since a role reading opportunities at business-unit level
/// passes every other read and fails only this one.
pub(crate) async fn change_tracking(dataverse: &DataverseClient) -> Check {
    const NAME: &str = "change tracking";
    match dataverse.change_tracked_tables().await {
        Ok(tables) if tables.iter().any(|t| t == "opportunity") => {}
        Ok(_) => {
            return Check::fail(
                NAME,
                "not enabled on opportunity: the outbound poll cannot see changes",
                "run cosell setup, or Power Apps → Tables → Opportunity → Properties → \
                 Advanced options → Track changes",
            );
        }
        Err(error) => {
            return Check::fail(
                NAME,
                format!("the table metadata could not be read: {error}"),
                "the application user needs read access to table metadata",
            );
        }
    }
    match dataverse
        .try_change_read("opportunities", "opportunityid")
        .await
    {
        Ok(()) => Check::pass(NAME, "enabled on opportunity; a delta read works"),
        Err(error) if error.is_privilege_denied() => Check::fail(
            NAME,
            format!("enabled on opportunity, but a delta read is refused: {error}"),
            ORG_READ_FIX,
        ),
        Err(error) => Check::fail(
            NAME,
            format!("enabled on opportunity, but a delta read failed: {error}"),
            "see the Dataverse token line",
        ),
    }
}

/// What a privilege refusal of a delta read needs (Dataverse's change-tracking page: "the calling
/// user must have organization level read access to the table").
pub(crate) const ORG_READ_FIX: &str = "the application user needs Organization-level Read on \
     Opportunity: in its security role, set Opportunity's Read to Organization";

/// Which co-sell schema the processes run with, as `cosell setup` recorded it (the start read
/// it already: a record that does not read stopped it).
async fn schema(runtime: &Runtime) -> Check {
    const NAME: &str = "co-sell schema";
    match cosell_sync::schema::in_use(runtime.store.as_ref()).await {
        Ok(cosell_mapping::schema::Schema::Microsoft) => {
            Check::pass(NAME, "Microsoft's co-sell solution's columns")
        }
        Ok(cosell_mapping::schema::Schema::Cosell) => Check::pass(
            NAME,
            "cosell's own columns (cosell_…), made by cosell setup",
        ),
        Err(error) => Check::fail(NAME, error.to_string(), "run cosell setup"),
    }
}

fn currency(currencies: &Result<cosell_dataverse::Page, DataverseError>) -> Check {
    const NAME: &str = "currency";
    match currencies {
        Ok(page) => match page.records.first() {
            Some(record) => {
                let code = record
                    .row
                    .get("isocurrencycode")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                Check::pass(NAME, format!("at least one exists ({code})"))
            }
            None => Check::fail(
                NAME,
                "transactioncurrencies is empty: no referral can get a currency",
                "add the currencies your deals use in Settings → Business Management → Currencies",
            ),
        },
        Err(error) => Check::fail(
            NAME,
            format!("not read: {error}"),
            "see the Dataverse token line",
        ),
    }
}

async fn webhook(pc: &PartnerCenter, ours: Option<&str>) -> Check {
    const NAME: &str = "webhook registration";
    let registration = match pc.view_webhook().await {
        Ok(Some(registration)) => registration,
        Ok(None) => {
            return Check::fail(
                NAME,
                "no webhook is registered: referral changes reach cosell only through reconciliation",
                format!(
                    "cosell webhooks register {}",
                    ours.unwrap_or("<serve's or the function's URL>/webhooks/partner-center")
                ),
            );
        }
        Err(error) => {
            return Check::fail(
                NAME,
                format!("not read: {error}"),
                "check COSELL_PARTNER_CENTER_WEBHOOKS_URL and the partner_center credentials",
            );
        }
    };
    let registered = &registration.webhook_url;
    let Some(ours) = ours else {
        return Check::fail(
            NAME,
            format!(
                "points at {registered}, but {} is not set",
                keys::WEBHOOK_URL
            ),
            format!(
                "set {} to the URL Partner Center should call",
                keys::WEBHOOK_URL
            ),
        );
    };
    if !same_url(registered, ours) {
        return Check::fail(
            NAME,
            format!(
                "points at {registered}, not at {ours} ({})",
                keys::WEBHOOK_URL
            ),
            format!("cosell webhooks register {ours} (the current URL is saved for rollback)"),
        );
    }
    let missing: Vec<_> = WebhookEvent::REFERRALS
        .iter()
        .filter(|event| !registration.webhook_events.contains(event))
        .map(WebhookEvent::as_str)
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            NAME,
            format!("points at {ours} but lacks {}", missing.join(", ")),
            format!("cosell webhooks register {ours}"),
        );
    }
    Check::pass(NAME, format!("{ours}, the four referral events"))
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

async fn store(runtime: &Runtime) -> Check {
    const NAME: &str = "store";
    let place = match &runtime.settings.store {
        StoreSource::Sqlite { path } => format!("SQLite {}", path.display()),
        StoreSource::DynamoDb { table } => format!("DynamoDB table {table}"),
    };
    match runtime.store.cursor(CURSOR).await {
        Ok(_) => Check::pass(NAME, format!("{place} reads")),
        Err(error) => Check::fail(
            NAME,
            format!("{place}: {error}"),
            "check the table name, region and IAM permissions (or the SQLite path)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_the_issue_asks() {
        let preflight = finish(vec![
            Check::pass("store", "SQLite cosell.db reads"),
            Check::fail("currency", "none", "add one"),
        ]);
        assert!(!preflight.ok);
        assert_eq!(
            preflight.human(),
            "✔ store — SQLite cosell.db reads\n✖ currency — none — add one\n"
        );
        let json = serde_json::to_value(&preflight).unwrap();
        assert_eq!(json["checks"][0].get("fix"), None);
        assert_eq!(json["checks"][1]["fix"], "add one");
    }

    #[test]
    fn an_old_token_fails_only_when_it_no_longer_redeems() {
        let old = || Age::Known {
            age: token_age::LIFETIME,
            source: "f last written".into(),
        };
        assert!(refresh_token_age(old(), true).ok);
        let check = refresh_token_age(old(), false);
        assert!(!check.ok);
        assert!(check.detail.contains("90 days ago"), "{}", check.detail);
        assert!(refresh_token_age(Age::Unknown("why".into()), false).ok);
    }

    #[test]
    fn microsoft_s_fiscal_year_begins_in_july() {
        use time::macros::date;
        assert_eq!(fiscal_year(date!(2026 - 06 - 30)), "FY26");
        assert_eq!(fiscal_year(date!(2026 - 07 - 01)), "FY27");
        assert_eq!(fiscal_year(date!(2026 - 12 - 06)), "FY27");
    }

    #[test]
    fn services_options_outside_the_taxonomy_or_an_old_taxonomy_are_warned_about() {
        use cosell_mapping::config::ServicesTaxonomy;
        use cosell_mapping::metadata::DiscoveredOption;
        use time::macros::date;
        let mut config = CrmConfig::default();
        config.services.solution_play = Some("new_play".into());
        let mut found = Discovered::default();
        let option = |value, label: &str| DiscoveredOption {
            value,
            label: Some(label.into()),
        };
        found.services_choices.insert(
            "new_play".into(),
            vec![
                option(1, "Copilot and agents at work"),
                option(2, "Data estate"),
            ],
        );
        let today = date!(2026 - 12 - 06);
        assert!(
            services(&found, &config, today).fix.is_none(),
            "no taxonomy: nothing to warn"
        );
        config.services_taxonomy = Some(ServicesTaxonomy {
            fiscal_year: "FY27".into(),
            solution_play: vec![
                "Copilot and agents at work".into(),
                "Migrate and modernize".into(),
            ],
            ..ServicesTaxonomy::default()
        });
        let check = services(&found, &config, today);
        assert!(check.ok, "a warning stops nothing");
        let look = check.fix.unwrap();
        assert!(look.contains(r#"solutionPlay 2 "Data estate""#), "{look}");
        assert!(!look.contains("Copilot"), "{look}");
        assert!(!look.contains("it is FY27 now"), "{look}");

        found.services_choices.insert(
            "new_play".into(),
            vec![option(1, "copilot and agents at work ")],
        );
        assert!(
            services(&found, &config, today).fix.is_none(),
            "matched regardless of case and spaces"
        );
        let next_year = services(&found, &config, date!(2027 - 07 - 01));
        assert!(
            next_year
                .fix
                .unwrap()
                .contains("lists FY27's values and it is FY28 now")
        );
    }
}
