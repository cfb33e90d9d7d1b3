//! The Dataverse webhook's registration, written through the Web API instead of the Plug-in
//! Registration Tool: a `serviceendpoint` (contract Webhook) and `sdkmessageprocessingstep`s on
//! it. Columns and option values from Microsoft's entity references (powerapps-docs
//! `developer/data-platform/reference/entities/serviceendpoint.md` and
//! `sdkmessageprocessingstep.md`, `sdkmessageprocessingstepimage.md`); every write is
//! found-or-made by name, so a rerun changes nothing.
//!
//! Authentication is **WebhookKey** (`authtype` 4): its `authvalue` is the key alone and Dataverse
//! adds `?code=<key>` to the URL ("Register a web hook": "you enter only the value"). The
//! HttpHeader form's `authvalue` encoding is not documented by Microsoft, so it is not used; the
//! receiver accepts both forms.

use cosell_transport::Secret;
use serde_json::{Value, json};

use crate::client::DataverseClient;
use crate::error::DataverseError;
use crate::filter::Filter;
use crate::query::Query;
use crate::types::{Id, Key, Precondition, Row, bind};

/// `serviceendpoint.contract`: 8 Webhook.
pub const CONTRACT_WEBHOOK: i64 = 8;
/// `serviceendpoint.authtype`: 4 Webhook Key (5 Http Header, 6 Http Query String).
pub const AUTH_WEBHOOK_KEY: i64 = 4;
/// `serviceendpoint.messageformat`: 2 Json.
const MESSAGE_FORMAT_JSON: i64 = 2;
/// `serviceendpoint.userclaim`: 1 None.
const USER_CLAIM_NONE: i64 = 1;
/// `serviceendpoint.connectionmode`: 1 Normal.
const CONNECTION_NORMAL: i64 = 1;
/// `sdkmessageprocessingstep.mode`: 1 Asynchronous — a failing or slow receiver never rolls
/// back the seller's own save, as a synchronous step would.
pub const MODE_ASYNC: i64 = 1;
/// `sdkmessageprocessingstep.stage`: 40 Post-operation.
pub const STAGE_POST_OPERATION: i64 = 40;
/// `sdkmessageprocessingstep.supporteddeployment`: 0 Server Only.
const DEPLOYMENT_SERVER: i64 = 0;

/// Whether a found-or-made write writes, or only says what it would do (`setup --dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    Write,
    Plan,
}

/// What a found-or-made write did (or, planned, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Created,
    /// Changed in place; `was` says what it held (the endpoint's URL, the step's filter).
    Updated {
        was: String,
    },
    Unchanged,
}

/// A step cosell wants on its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    /// Unique among steps: how a rerun finds it.
    pub name: String,
    /// `Create`, `Update`, `Delete`, `Associate`, `Disassociate`.
    pub message: String,
    /// The table's logical name; `None`: no filter, every table (`Associate` and
    /// `Disassociate` are not registered per table: `sdkmessagefilterid` is optional).
    pub table: Option<String>,
    /// Comma-separated columns whose change fires an `Update` step; `None`: every change.
    pub filtering_attributes: Option<String>,
    /// Comma-separated columns of the row as it was before the operation, sent with the
    /// context as the pre-image `before` (`Update`, `Delete`): what a deleted row pointed at.
    pub pre_image: Option<String>,
}

/// `sdkmessageprocessingstepimage.imagetype`: 0 PreImage.
const IMAGE_PRE: i64 = 0;
/// The alias the pre-image goes by in the context's `PreEntityImages`.
pub const PRE_IMAGE_ALIAS: &str = "before";

impl DataverseClient {
    /// The webhook service endpoint named `name`, made or brought to `url` and `key`. Its key
    /// cannot be read back (`authvalue` is write-only), so it is written whenever anything
    /// else changes, or when `key_is_new`.
    pub async fn ensure_webhook_endpoint(
        &self,
        name: &str,
        url: &str,
        key: &Secret,
        key_is_new: bool,
        apply: Apply,
    ) -> Result<(Id, Written), DataverseError> {
        let found = self
            .query(
                "serviceendpoints",
                &Query::new()
                    .select(["serviceendpointid", "url", "contract", "authtype"])
                    .filter(Filter::eq("name", name))
                    .top(1),
            )
            .await?
            .records
            .into_iter()
            .next();
        let mut row = Row::new();
        row.insert("contract".into(), CONTRACT_WEBHOOK.into());
        row.insert("url".into(), url.into());
        row.insert("authtype".into(), AUTH_WEBHOOK_KEY.into());
        row.insert("authvalue".into(), key.expose().into());
        let Some(found) = found else {
            row.insert("name".into(), name.into());
            row.insert("messageformat".into(), MESSAGE_FORMAT_JSON.into());
            row.insert("userclaim".into(), USER_CLAIM_NONE.into());
            row.insert("connectionmode".into(), CONNECTION_NORMAL.into());
            if apply == Apply::Plan {
                return Ok((Id(uuid::Uuid::nil()), Written::Created));
            }
            let id = self.create("serviceendpoints", &row).await?;
            return Ok((id, Written::Created));
        };
        let id = id_of(&found.row, "serviceendpointid")?;
        let was = text(&found.row, "url");
        let same = was == url
            && found.row.get("contract").and_then(Value::as_i64) == Some(CONTRACT_WEBHOOK)
            && found.row.get("authtype").and_then(Value::as_i64) == Some(AUTH_WEBHOOK_KEY);
        if same && !key_is_new {
            return Ok((id, Written::Unchanged));
        }
        let written = self
            .correct("serviceendpoints", id, &row, was, apply)
            .await?;
        Ok((id, written))
    }

    /// The step `spec` on `endpoint`: asynchronous, post-operation, made or corrected.
    pub async fn ensure_step(
        &self,
        spec: &StepSpec,
        endpoint: Id,
        apply: Apply,
    ) -> Result<Written, DataverseError> {
        let message = self.message_id(&spec.message).await?;
        let filter = match &spec.table {
            Some(table) => Some(self.filter_id(message, &spec.message, table).await?),
            None => None,
        };
        let mut row = Row::new();
        row.insert("mode".into(), MODE_ASYNC.into());
        row.insert("stage".into(), STAGE_POST_OPERATION.into());
        row.insert(
            "filteringattributes".into(),
            spec.filtering_attributes.clone().into(),
        );
        row.insert(
            "eventhandler_serviceendpoint@odata.bind".into(),
            bind("serviceendpoints", endpoint),
        );
        row.insert(
            "sdkmessagefilterid@odata.bind".into(),
            filter.map_or(Value::Null, |filter| bind("sdkmessagefilters", filter)),
        );
        let found = self
            .query(
                "sdkmessageprocessingsteps",
                &Query::new()
                    .select([
                        "sdkmessageprocessingstepid",
                        "mode",
                        "stage",
                        "filteringattributes",
                        "_eventhandler_value",
                        "_sdkmessagefilterid_value",
                    ])
                    .filter(Filter::eq("name", spec.name.as_str()))
                    .top(1),
            )
            .await?
            .records
            .into_iter()
            .next();
        let Some(found) = found else {
            row.insert("name".into(), spec.name.clone().into());
            row.insert("rank".into(), 1.into());
            row.insert("supporteddeployment".into(), DEPLOYMENT_SERVER.into());
            row.insert("asyncautodelete".into(), false.into());
            row.insert(
                "sdkmessageid@odata.bind".into(),
                bind("sdkmessages", message),
            );
            if apply == Apply::Write {
                let step = self.create("sdkmessageprocessingsteps", &row).await?;
                self.ensure_pre_image(step, spec, apply).await?;
            }
            return Ok(Written::Created);
        };
        let id = id_of(&found.row, "sdkmessageprocessingstepid")?;
        let is =
            |column: &str, value: &Value| found.row.get(column).unwrap_or(&Value::Null) == value;
        let same_id = |column: &str, id: Option<Id>| {
            let held = text(&found.row, column);
            id.map_or(held.is_empty(), |id| {
                held.eq_ignore_ascii_case(&id.to_string())
            })
        };
        let was = text(&found.row, "filteringattributes");
        let same = is("mode", &json!(MODE_ASYNC))
            && is("stage", &json!(STAGE_POST_OPERATION))
            && was == spec.filtering_attributes.clone().unwrap_or_default()
            && same_id("_eventhandler_value", Some(endpoint))
            && same_id("_sdkmessagefilterid_value", filter);
        let image = self.ensure_pre_image(id, spec, apply).await?;
        if same {
            return Ok(image);
        }
        self.correct("sdkmessageprocessingsteps", id, &row, was, apply)
            .await
    }

    /// Brings an existing row to `row` (unless only planning): what it held was `was`.
    async fn correct(
        &self,
        set: &str,
        id: Id,
        row: &Row,
        was: String,
        apply: Apply,
    ) -> Result<Written, DataverseError> {
        if apply == Apply::Write {
            self.update(set, &Key::from(id), row, Precondition::MustExist)
                .await?;
        }
        Ok(Written::Updated { was })
    }

    /// The step's pre-image as `spec` wants it (or none wanted: nothing done).
    async fn ensure_pre_image(
        &self,
        step: Id,
        spec: &StepSpec,
        apply: Apply,
    ) -> Result<Written, DataverseError> {
        let Some(attributes) = &spec.pre_image else {
            return Ok(Written::Unchanged);
        };
        let found = self
            .query(
                "sdkmessageprocessingstepimages",
                &Query::new()
                    .select(["sdkmessageprocessingstepimageid", "attributes"])
                    .filter(
                        Filter::eq("_sdkmessageprocessingstepid_value", step.0)
                            .and(Filter::eq("entityalias", PRE_IMAGE_ALIAS)),
                    )
                    .top(1),
            )
            .await?
            .records
            .into_iter()
            .next();
        let mut row = Row::new();
        row.insert("attributes".into(), attributes.clone().into());
        match found {
            None => {
                row.insert("name".into(), PRE_IMAGE_ALIAS.into());
                row.insert("entityalias".into(), PRE_IMAGE_ALIAS.into());
                row.insert("imagetype".into(), IMAGE_PRE.into());
                row.insert("messagepropertyname".into(), "Target".into());
                row.insert(
                    "sdkmessageprocessingstepid@odata.bind".into(),
                    bind("sdkmessageprocessingsteps", step),
                );
                if apply == Apply::Write {
                    self.create("sdkmessageprocessingstepimages", &row).await?;
                }
                Ok(Written::Created)
            }
            Some(found) if text(&found.row, "attributes") == *attributes => Ok(Written::Unchanged),
            Some(found) => {
                let id = id_of(&found.row, "sdkmessageprocessingstepimageid")?;
                let was = text(&found.row, "attributes");
                self.correct("sdkmessageprocessingstepimages", id, &row, was, apply)
                    .await
            }
        }
    }

    /// Deletes the endpoint named `name` and every step on it (with the steps' images); the
    /// number of endpoints and steps deleted (0 when there is none).
    pub async fn remove_webhook_endpoint(&self, name: &str) -> Result<usize, DataverseError> {
        let mut deleted = 0;
        for endpoint in self
            .ids(
                "serviceendpoints",
                "serviceendpointid",
                Filter::eq("name", name),
            )
            .await?
        {
            let on_endpoint = Filter::eq("_eventhandler_value", endpoint.0);
            for step in self
                .ids(
                    "sdkmessageprocessingsteps",
                    "sdkmessageprocessingstepid",
                    on_endpoint,
                )
                .await?
            {
                // Its images first: Dataverse deletes them with the step; done here, not assumed.
                let of_step = Filter::eq("_sdkmessageprocessingstepid_value", step.0);
                for image in self
                    .ids(
                        "sdkmessageprocessingstepimages",
                        "sdkmessageprocessingstepimageid",
                        of_step,
                    )
                    .await?
                {
                    self.delete_row("sdkmessageprocessingstepimages", image)
                        .await?;
                }
                self.delete_row("sdkmessageprocessingsteps", step).await?;
                deleted += 1;
            }
            self.delete_row("serviceendpoints", endpoint).await?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// The ids (column `key`) of `set`'s rows matching `filter`, every page read.
    pub async fn ids(
        &self,
        set: &str,
        key: &str,
        filter: Filter,
    ) -> Result<Vec<Id>, DataverseError> {
        let rows = self
            .query_all(set, &Query::new().select([key]).filter(filter))
            .await?;
        rows.iter().map(|r| id_of(&r.row, key)).collect()
    }

    async fn delete_row(&self, set: &str, id: Id) -> Result<(), DataverseError> {
        self.delete(set, &Key::from(id), Precondition::None).await
    }

    async fn message_id(&self, message: &str) -> Result<Id, DataverseError> {
        let ids = self
            .ids("sdkmessages", "sdkmessageid", Filter::eq("name", message))
            .await?;
        ids.into_iter().next().ok_or_else(|| {
            DataverseError::protocol("sdkmessages", format!("no message named {message}"))
        })
    }

    async fn filter_id(&self, message: Id, name: &str, table: &str) -> Result<Id, DataverseError> {
        let filter = Filter::eq("primaryobjecttypecode", table)
            .and(Filter::eq("_sdkmessageid_value", message.0));
        let ids = self
            .ids("sdkmessagefilters", "sdkmessagefilterid", filter)
            .await?;
        ids.into_iter().next().ok_or_else(|| {
            DataverseError::protocol(
                "sdkmessagefilters",
                format!("no {name} filter for the table {table}"),
            )
        })
    }
}

fn text(row: &Row, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn id_of(row: &Row, column: &str) -> Result<Id, DataverseError> {
    text(row, column)
        .parse()
        .map_err(|_| DataverseError::protocol("pipeline", format!("a row without its {column}")))
}
