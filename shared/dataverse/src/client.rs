//! The client: authentication, the common headers, and the single-row and query operations.

use std::sync::Arc;

use cosell_transport::{ApiError, Call, Http, Secret, TokenCache, read_json, request_token};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::SERVICE;
use crate::config::DataverseConfig;
use crate::error::DataverseError;
use crate::filter::check_column;
use crate::query::{NextLink, Page, Query, encode_params};
use crate::types::{Id, Key, Precondition, Record, Row};

/// A Dataverse Web API client. Cheap to clone; clones share the token and the rate limiter.
#[derive(Clone)]
pub struct DataverseClient {
    pub(crate) http: Http,
    pub(crate) config: Arc<DataverseConfig>,
    tokens: Arc<TokenCache>,
    /// `api_base_url` with a trailing `/`.
    pub(crate) base: String,
    origin: url::Url,
}

/// The code of a 404 for an unknown entity set or path segment.
const UNKNOWN_SEGMENT: &str = "0x80060888";

pub(crate) fn call(operation: &'static str, idempotent: bool) -> Call {
    Call {
        service: SERVICE,
        operation,
        idempotent,
    }
}

impl DataverseClient {
    pub fn new(config: DataverseConfig) -> Result<Self, DataverseError> {
        let http = Http::new(config.http.clone())?;
        let mut base = config.api_base_url.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let origin = url::Url::parse(&base)
            .map_err(|e| DataverseError::InvalidInput(format!("api_base_url '{base}': {e}")))?;
        Ok(Self {
            http,
            tokens: Arc::new(TokenCache::new(config.token_margin)),
            config: Arc::new(config),
            base,
            origin,
        })
    }

    /// `https://{org}.api.crm.dynamics.com/api/data/v9.2/`.
    /// The `429`s this client met, by the limit's code (`0x80072321` execution time, `0x80072322`
    /// requests, `0x80072326` concurrency).
    pub fn throttles(&self) -> cosell_transport::throttled::Throttles {
        self.http.throttles()
    }

    /// How long one attempt of a request may take (connect to last byte).
    pub fn attempt_timeout(&self) -> std::time::Duration {
        self.config.http.timeout
    }

    pub fn api_base_url(&self) -> &str {
        &self.base
    }

    /// This client acting as a signed-in person, with their access token, instead of the app.
    pub fn acting_as(&self, access_token: Secret) -> Result<DataverseClient, DataverseError> {
        let mut config = DataverseConfig::clone(&self.config);
        config.user_access_token = Some(access_token);
        DataverseClient::new(config)
    }

    /// The scope a person signs in to this environment with ([`DataverseConfig::user_scope`]).
    pub fn user_scope(&self) -> String {
        self.config.user_scope()
    }

    /// The tenant and app id this client signs in with.
    pub fn app(&self) -> (&str, &str) {
        (&self.config.tenant, &self.config.client_id)
    }

    async fn token(&self) -> Result<Secret, ApiError> {
        let config = &self.config;
        if let Some(token) = &config.user_access_token {
            return Ok(token.clone());
        }
        self.tokens
            .get(|| async {
                request_token(
                    &self.http,
                    &config.token_endpoint(),
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", &config.client_id),
                        ("client_secret", config.client_secret.expose()),
                        ("scope", &config.scope),
                    ],
                )
                .await
            })
            .await
    }

    /// Sends one logical call with the bearer token and OData headers; a 401 renews the token
    /// and tries once more.
    pub(crate) async fn send(
        &self,
        call: Call,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DataverseError> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .http
                .send(call, |client| {
                    build(client)
                        .bearer_auth(token.expose())
                        .header("Accept", "application/json")
                        .header("OData-MaxVersion", "4.0")
                        .header("OData-Version", "4.0")
                })
                .await;
            match result {
                Err(error) if error.is_unauthorized() && !renewed => {
                    tracing::info!(
                        operation = call.operation,
                        "dataverse token refused; renewing it"
                    );
                    self.tokens.invalidate().await;
                    renewed = true;
                }
                other => return other.map_err(DataverseError::from),
            }
        }
    }

    /// `<base><set>`, the set name checked.
    pub(crate) fn set_url(&self, set: &str) -> Result<String, DataverseError> {
        check_column(set)?;
        Ok(format!("{}{set}", self.base))
    }

    pub(crate) fn row_url(&self, set: &str, key: &Key) -> Result<String, DataverseError> {
        Ok(format!("{}{}", self.set_url(set)?, key.segment()?))
    }

    /// A link the service handed out (next page, delta) must point at the same organisation: the
    /// bearer token goes with it. Which of its hosts the service writes into a link
    /// (`{org}.api.crm.dynamics.com` or `{org}.crm.dynamics.com`) is not published; either is
    /// followed as given.
    pub(crate) fn check_link(
        &self,
        operation: &'static str,
        link: &str,
    ) -> Result<(), DataverseError> {
        let url = url::Url::parse(link)
            .map_err(|e| DataverseError::protocol(operation, format!("link '{link}': {e}")))?;
        if url.origin() == self.origin.origin() || same_organisation(&url, &self.origin) {
            Ok(())
        } else {
            Err(DataverseError::protocol(
                operation,
                format!(
                    "link to another host refused: {}",
                    url.origin().ascii_serialization()
                ),
            ))
        }
    }

    /// Creates a row (`POST`, answered 204 + `OData-EntityId`) and returns its id.
    ///
    /// Not retried after a timeout or dropped connection (it could create twice); to make a
    /// create safely repeatable, choose the id and use [`DataverseClient::update`] with
    /// [`Precondition::MustNotExist`].
    pub async fn create(&self, set: &str, row: &Row) -> Result<Id, DataverseError> {
        let url = self.set_url(set)?;
        let call = call("create", false);
        let response = self.send(call, |c| c.post(&url).json(row)).await?;
        entity_id(response.headers()).ok_or_else(|| {
            DataverseError::protocol("create", "no OData-EntityId header in the answer")
        })
    }

    /// Creates a row and returns it as stored (`Prefer: return=representation`, 201).
    pub async fn create_returning(
        &self,
        set: &str,
        row: &Row,
        select: &[&str],
    ) -> Result<Record, DataverseError> {
        let url = with_select(self.set_url(set)?, select)?;
        let call = call("create", false);
        let response = self
            .send(call, |c| {
                c.post(&url)
                    .header("Prefer", "return=representation")
                    .json(row)
            })
            .await?;
        let row: Row = read_json(call, response).await?;
        Ok(Record::from_row(row))
    }

    /// Reads one row; `None` when it does not exist.
    pub async fn read(
        &self,
        set: &str,
        key: &Key,
        select: &[&str],
    ) -> Result<Option<Record>, DataverseError> {
        let url = with_select(self.row_url(set, key)?, select)?;
        let call = call("read", true);
        match self.send(call, |c| c.get(&url)).await {
            Ok(response) => {
                let row: Row = read_json(call, response).await?;
                Ok(Some(Record::from_row(row)))
            }
            // A missing row (`0x80040217`), not a missing table or segment (`0x80060888`).
            Err(e) if e.is_not_found() && e.code() != Some(UNKNOWN_SEGMENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The first page of a query.
    pub async fn query(&self, set: &str, query: &Query) -> Result<Page, DataverseError> {
        let qs = query.query_string()?;
        let mut url = self.set_url(set)?;
        if !qs.is_empty() {
            url = format!("{url}?{qs}");
        }
        self.page(&url, query.prefer()).await
    }

    /// The page after `next`.
    pub async fn next_page(&self, next: &NextLink) -> Result<Page, DataverseError> {
        self.check_link("query", &next.url)?;
        self.page(&next.url, next.prefer.clone()).await
    }

    async fn page(&self, url: &str, prefer: Option<String>) -> Result<Page, DataverseError> {
        let call = call("query", true);
        let response = self
            .send(call, |c| {
                let request = c.get(url);
                match &prefer {
                    Some(p) => request.header("Prefer", p),
                    None => request,
                }
            })
            .await?;
        let body: Collection = read_json(call, response).await?;
        Ok(body.into_page(prefer))
    }

    /// Every row of a query, following `@odata.nextLink` to the end.
    pub async fn query_all(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        let mut page = self.query(set, query).await?;
        let mut records = std::mem::take(&mut page.records);
        while let Some(next) = page.next.take() {
            page = self.next_page(&next).await?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// `PATCH`: updates the row, or creates it when missing (upsert) unless the precondition
    /// says otherwise; returns the row's id (from `OData-EntityId`, so an alternate-key upsert
    /// learns the id it created).
    pub async fn update(
        &self,
        set: &str,
        key: &Key,
        row: &Row,
        precondition: Precondition,
    ) -> Result<Id, DataverseError> {
        let url = self.row_url(set, key)?;
        let header = precondition.header();
        let call = call("update", true);
        let response = self
            .send(call, |c| {
                let request = c.patch(&url).json(row);
                match &header {
                    Some((name, value)) => request.header(*name, value),
                    None => request,
                }
            })
            .await?;
        match (entity_id(response.headers()), key) {
            (Some(id), _) => Ok(id),
            (None, Key::Id(id)) => Ok(*id),
            (None, Key::Alternate(_)) => Err(DataverseError::protocol(
                "update",
                "no OData-EntityId header in the answer",
            )),
        }
    }

    /// `PATCH` with `Prefer: return=representation`: the row as stored after the write.
    pub async fn update_returning(
        &self,
        set: &str,
        key: &Key,
        row: &Row,
        precondition: Precondition,
        select: &[&str],
    ) -> Result<Record, DataverseError> {
        let url = with_select(self.row_url(set, key)?, select)?;
        let header = precondition.header();
        let call = call("update", true);
        let response = self
            .send(call, |c| {
                let request = c
                    .patch(&url)
                    .header("Prefer", "return=representation")
                    .json(row);
                match &header {
                    Some((name, value)) => request.header(*name, value),
                    None => request,
                }
            })
            .await?;
        let row: Row = read_json(call, response).await?;
        Ok(Record::from_row(row))
    }

    /// Deletes a row (404 when missing). Only [`Precondition::None`] and
    /// [`Precondition::IfMatch`] make sense here.
    pub async fn delete(
        &self,
        set: &str,
        key: &Key,
        precondition: Precondition,
    ) -> Result<(), DataverseError> {
        let url = self.row_url(set, key)?;
        let header = precondition.header();
        let call = call("delete", true);
        self.send(call, |c| {
            let request = c.delete(&url);
            match &header {
                Some((name, value)) => request.header(*name, value),
                None => request,
            }
        })
        .await?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct Collection {
    value: Vec<Row>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl Collection {
    /// The page, its next link resending `prefer`.
    pub(crate) fn into_page(self, prefer: Option<String>) -> Page {
        Page {
            records: self.value.into_iter().map(Record::from_row).collect(),
            next: self.next_link.map(|url| NextLink { url, prefer }),
        }
    }
}

/// The id at the end of `OData-EntityId: …/opportunities(<guid>)`.
pub(crate) fn entity_id(headers: &HeaderMap) -> Option<Id> {
    let value = headers.get("OData-EntityId")?.to_str().ok()?;
    id_of_entity_url(value)
}

pub(crate) fn id_of_entity_url(url: &str) -> Option<Id> {
    let inner = url.trim_end().strip_suffix(')')?;
    let open = inner.rfind('(')?;
    inner[open + 1..].parse().ok()
}

fn with_select(url: String, select: &[&str]) -> Result<String, DataverseError> {
    if select.is_empty() {
        return Ok(url);
    }
    let columns = crate::query::columns(select)?;
    Ok(format!("{url}?{}", encode_params(&[("$select", columns)])))
}

/// The `value` array of a JSON answer.
pub(crate) fn values(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `org.crm.dynamics.com` and `org.api.crm.dynamics.com` (any regional `crmN`), over https on
/// the default port: one organisation's two Web API hosts.
fn same_organisation(link: &url::Url, base: &url::Url) -> bool {
    let without_api = |url: &url::Url| {
        let host = url.host_str()?.to_ascii_lowercase();
        let (org, rest) = host.split_once('.')?;
        let rest = rest.strip_prefix("api.").unwrap_or(rest);
        rest.ends_with(".dynamics.com")
            .then(|| format!("{org}.{rest}"))
    };
    link.scheme() == "https"
        && link.scheme() == base.scheme()
        && link.port() == base.port()
        && without_api(link).is_some_and(|host| Some(host) == without_api(base))
}

#[cfg(test)]
mod link_tests {
    use super::same_organisation;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn either_host_of_one_organisation_is_followed_and_no_other() {
        let base = url("https://contoso.api.crm.dynamics.com/api/data/v9.2/");
        for same in [
            "https://contoso.crm.dynamics.com/api/data/v9.2/opportunities?$deltatoken=1",
            "https://CONTOSO.api.crm.dynamics.com/api/data/v9.2/opportunities",
        ] {
            assert!(same_organisation(&url(same), &base), "{same}");
        }
        let regional = url("https://contoso.api.crm4.dynamics.com/api/data/v9.2/");
        assert!(same_organisation(
            &url("https://contoso.crm4.dynamics.com/x"),
            &regional
        ));
        for other in [
            "https://fabrikam.crm.dynamics.com/api/data/v9.2/",
            "https://contoso.crm4.dynamics.com/api/data/v9.2/",
            "http://contoso.crm.dynamics.com/api/data/v9.2/",
            "https://contoso.crm.dynamics.com.evil.example/api/data/v9.2/",
            "https://contoso.crm.dynamics.com:8443/api/data/v9.2/",
        ] {
            assert!(!same_organisation(&url(other), &base), "{other}");
        }
    }
}
