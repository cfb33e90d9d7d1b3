//! Setup's Dataverse webhook step: what the Plug-in Registration Tool would otherwise be needed
//! for. A service endpoint (contract Webhook, WebhookKey authentication) at
//! `COSELL_DATAVERSE_WEBHOOK_URL`, carrying the key from the credentials (made and stored there
//! when absent, never printed), and asynchronous post-operation steps on it:
//!
//! | table | message | fires on | pre-image |
//! |---|---|---|---|
//! | opportunity | Create | every create | |
//! | opportunity | Update | the columns the outbound sync reads | |
//! | the solutions table (one-to-many) | Create | every create | |
//! | the solutions table | Update | its lookup to opportunity | that lookup |
//! | the solutions table | Delete | every delete | that lookup |
//! | (a many-to-many solutions relationship instead) | Associate, Disassociate | every link | |
//!
//! so adding, moving or removing a solution triggers its opportunity's sync. The handler finds
//! the opportunity in the context (the row, or an opportunity reference in the target or the
//! pre-image) without a read.

use cosell_dataverse::pipeline::{Apply, StepSpec, Written};
use cosell_dataverse::{DataverseError, Relationship};
use cosell_mapping::CrmConfig;
use cosell_mapping::outbound::OutboundInput;
use cosell_runtime::Runtime;
use cosell_transport::Secret;

use crate::check::Check;

const NAME: &str = "dataverse webhook";
/// The service endpoint's name: how a rerun finds it.
pub const ENDPOINT: &str = "cosell outbound sync";

/// Fix for a refused registration.
const CUSTOMIZER_FIX: &str = "registering a webhook needs Create and Write on Service Endpoint and \
     Sdk Message Processing Step (System Customizer or System Administrator): run cosell setup \
     as a user who holds them";

/// The steps cosell wants for `solutions` (the relationship from opportunity to the solutions
/// table, as metadata gives it).
pub fn steps(crm: &CrmConfig, solutions: Option<&Relationship>) -> Vec<StepSpec> {
    let step =
        |message: &str, table: Option<&str>, filtering: Option<String>, pre: Option<String>| {
            StepSpec {
                name: format!("cosell: {message} of {}", table.unwrap_or("any table")),
                message: message.into(),
                table: table.map(str::to_owned),
                filtering_attributes: filtering,
                pre_image: pre,
            }
        };
    let read = OutboundInput::select(crm).join(",");
    let mut steps = vec![
        step("Create", Some("opportunity"), None, None),
        step("Update", Some("opportunity"), Some(read), None),
    ];
    match solutions {
        Some(Relationship::OneToMany { table, lookup }) => {
            let lookup = Some(lookup.clone());
            steps.push(step("Create", Some(table), None, None));
            steps.push(step("Update", Some(table), lookup.clone(), lookup.clone()));
            steps.push(step("Delete", Some(table), None, lookup));
        }
        // Linking rows of a many-to-many relationship is its own message, registered for every
        // table (there are no per-table filters for it); the handler keeps the opportunities.
        Some(Relationship::ManyToMany { .. }) => {
            steps.push(step("Associate", None, None, None));
            steps.push(step("Disassociate", None, None, None));
        }
        None => {}
    }
    steps
}

/// The line when the schema step could not tell which columns the steps watch.
pub fn undecided() -> Check {
    Check::fail(
        NAME,
        "not registered: which co-sell columns to watch depends on the schema line above",
        "fix the co-sell schema, then run cosell setup again",
    )
}

/// Registers (or corrects) the endpoint and its steps, watching `crm`'s columns.
pub async fn step(runtime: &Runtime, crm: &CrmConfig, url: Option<&str>, apply: Apply) -> Check {
    let Some(url) = url else {
        return Check::fail(
            NAME,
            "COSELL_DATAVERSE_WEBHOOK_URL is not set: a seller's edit waits for the minute poll",
            "set it to the template's DataverseWebhookUrl output (serve: <its URL>/webhooks/dataverse)",
        );
    };
    match register(runtime, crm, url, apply).await {
        Ok(detail) => Check::pass(NAME, detail),
        Err(error) if error.is_privilege_denied() => {
            Check::fail(NAME, format!("not registered: {error}"), CUSTOMIZER_FIX)
        }
        Err(error) => Check::fail(
            NAME,
            format!("not registered: {error}"),
            "run cosell setup again; it continues where it stopped",
        ),
    }
}

#[derive(Debug, thiserror::Error)]
enum RegisterError {
    #[error(transparent)]
    Dataverse(#[from] DataverseError),
    #[error("the webhook key could not be stored: {0}")]
    Key(#[from] cosell_secrets::SecretsError),
}

impl RegisterError {
    fn is_privilege_denied(&self) -> bool {
        matches!(self, RegisterError::Dataverse(e) if e.is_privilege_denied())
    }
}

async fn register(
    runtime: &Runtime,
    crm: &CrmConfig,
    url: &str,
    apply: Apply,
) -> Result<String, RegisterError> {
    let (key, key_is_new) = match apply {
        Apply::Write => runtime.credentials.ensure_webhook_key(new_key).await?,
        // A plan reads the stored key (if any); nothing is made.
        Apply::Plan => match runtime.credentials.load().await?.dataverse.webhook_key {
            Some(key) => (key, false),
            None => (Secret::new(""), true),
        },
    };
    let dataverse = &runtime.dataverse;
    let (endpoint, written) = dataverse
        .ensure_webhook_endpoint(ENDPOINT, url, &key, key_is_new, apply)
        .await?;
    let (did, key_made) = match apply {
        Apply::Write => ("", "made and stored"),
        Apply::Plan => ("would be ", "would be made"),
    };
    let mut said = Vec::new();
    if key_is_new {
        said.push(format!("the key {key_made} in the credentials"));
    }
    said.push(match written {
        Written::Created => format!("endpoint '{ENDPOINT}' {did}created at {url}"),
        Written::Updated { was } if was != url => {
            format!("endpoint '{ENDPOINT}' {did}moved from {was} to {url}")
        }
        Written::Updated { .. } => format!("endpoint '{ENDPOINT}' {did}given the new key"),
        Written::Unchanged => format!("endpoint '{ENDPOINT}' unchanged"),
    });
    let relationship = dataverse
        .relationship("opportunity", &crm.solutions.relationship)
        .await?;
    let wanted = steps(crm, relationship.as_ref());
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for spec in &wanted {
        match dataverse.ensure_step(spec, endpoint, apply).await? {
            Written::Created => created += 1,
            Written::Updated { .. } => updated += 1,
            Written::Unchanged => unchanged += 1,
        }
    }
    said.push(if created + updated == 0 {
        format!("{unchanged} steps unchanged")
    } else {
        let would = if apply == Apply::Plan {
            "would be "
        } else {
            ""
        };
        format!("steps: {created} {would}created, {updated} {would}updated, {unchanged} unchanged")
    });
    if relationship.is_none() {
        said.push(format!(
            "opportunity has no relationship '{}' (COSELL_SOLUTIONS_RELATIONSHIP): a solution's \
             change reaches cosell with the opportunity's next change or poll",
            crm.solutions.relationship
        ));
    }
    Ok(said.join("; "))
}

/// Two version-4 UUIDs' random bits (244) from the operating system's generator, as 64 hex
/// digits.
fn new_key() -> Secret {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    Secret::new(format!("{}{}", a.simple(), b.simple()))
}
