//! The referrals operations (contract §3): list (following the opaque `@odata.nextLink`), get,
//! create, replace (PUT + `If-Match`) and JSON-Patch PATCH (`If-Match` optional).

use cosell_mapping::Referral;
use cosell_transport::{Call, read_json};
use futures::{Stream, TryStreamExt};
use reqwest::header::{ETAG, IF_MATCH};

use crate::auth::Audience;
use crate::client::{PartnerCenter, call};
use crate::error::Error;
use crate::filter::{Field, Filter};
use crate::listing::{self, Listed, ListedPage, RawPage};

/// A resource and the version (`ETag`) it was read or written at; send the etag back as
/// `If-Match`.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    /// From the `ETag` header, else the body's `eTag`; quotes included, opaque.
    pub etag: Option<String>,
}

/// What to list: `$filter`, `$orderby`, `$top` (a cap on the whole result; pages hold at most
/// 100 regardless).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub order_by: Option<OrderBy>,
    pub top: Option<u32>,
}

impl ListQuery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = (!filter.is_empty()).then_some(filter);
        self
    }

    pub fn order_by(mut self, order_by: OrderBy) -> Self {
        self.order_by = Some(order_by);
        self
    }

    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(filter) = &self.filter {
            params.push(("$filter", filter.to_string()));
        }
        if let Some(order_by) = self.order_by {
            params.push(("$orderby", order_by.as_str().to_owned()));
        }
        if let Some(top) = self.top {
            params.push(("$top", top.to_string()));
        }
        params
    }
}

/// `$orderby`: the two sortable fields, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderBy {
    CreatedAsc,
    CreatedDesc,
    UpdatedAsc,
    UpdatedDesc,
}

impl OrderBy {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderBy::CreatedAsc => "createdDateTime asc",
            OrderBy::CreatedDesc => "createdDateTime desc",
            OrderBy::UpdatedAsc => "updatedDateTime asc",
            OrderBy::UpdatedDesc => "updatedDateTime desc",
        }
    }
}

/// The paths a referral's PATCH may name: the `UpdateReferralDetails` allow-list of Microsoft's
/// certified Power Platform connector for Partner Center Referrals (its Swagger's
/// `items.path.enum`). `/name` is not among them, nor whole objects such as `/details`: those
/// change by `PUT` of the whole referral.
pub const PATCHABLE: &[&str] = &[
    "/campaignId",
    "/consent/consentToShareReferralWithMicrosoftSellers",
    "/customerProfile/team",
    "/customerProfile/team/-",
    "/details/closingDateTime",
    "/details/currency",
    "/details/dealValue",
    "/details/notes",
    "/details/requirements/solutions",
    "/details/requirements/solutions/-",
    "/externalReferenceId",
    "/referralProgram",
    "/salesStage",
    "/status",
    "/substatus",
    "/statusReason",
    "/team",
    "/team/-",
];

/// The members the connector's Swagger marks `readOnly` (its Referral definition, the body of
/// both `POST` and `PUT`): the service sets them, so a create or replace never sends them —
/// whatever a read referral carried.
pub const READ_ONLY: &[&str] = &[
    "acceptedDateTime",
    "closedDateTime",
    "direction",
    "isSpam",
    "quality",
    "registrationStatus",
    "registrations",
    "tags",
];

/// `referral` as a create or replace body: without [`READ_ONLY`] members.
pub fn writable(referral: &Referral) -> serde_json::Value {
    let mut body = serde_json::to_value(referral).expect("a referral serializes");
    if let Some(members) = body.as_object_mut() {
        members.retain(|key, _| !READ_ONLY.contains(&key.as_str()));
    }
    body
}

/// Whether a PATCH may name `path` ([`PATCHABLE`]).
pub fn patchable(path: &str) -> bool {
    PATCHABLE.contains(&path)
}

/// One JSON Patch (RFC 6902) operation: the mapping's type, sent as it is.
pub use cosell_mapping::patch::{PatchOp, PatchOpKind};

impl PartnerCenter {
    /// The first page of `query`, each entry read on its own ([`listing`]); continue with
    /// [`Self::next_referral_page`].
    pub async fn list_referral_page(&self, query: &ListQuery) -> Result<ListedPage, Error> {
        let call = call("list referrals", true);
        let url = &self.inner.config.referrals_base_url;
        let params = query.params();
        let response = self
            .send(Audience::Referrals, call, |c| {
                json_get(c, url).query(&params)
            })
            .await?;
        Ok(read_json::<RawPage>(call, response).await?.read())
    }

    /// The page `next_link` (a page's `@odata.nextLink`) points at. Its path and query are opaque
    /// and kept as given; it must name the referrals host, and is requested with the scheme and
    /// port of the configured referrals base — Microsoft's documented sample is
    /// `http://api.partner.microsoft.com/v1.0/referrals?$skiptoken=…`, plain http and another
    /// path. Relative links resolve against the referrals base URL.
    pub async fn next_referral_page(&self, next_link: &str) -> Result<ListedPage, Error> {
        let url = self.on_referrals_host(next_link)?;
        let call = call("list referrals (next page)", true);
        let response = self
            .send(Audience::Referrals, call, |c| json_get(c, url.clone()))
            .await?;
        Ok(read_json::<RawPage>(call, response).await?.read())
    }

    /// Every page of `query`, lazily, following each `@odata.nextLink`.
    pub fn list_referrals(
        &self,
        query: ListQuery,
    ) -> impl Stream<Item = Result<ListedPage, Error>> + Send + 'static {
        enum Next {
            First(ListQuery),
            Link(String),
        }
        let client = self.clone();
        futures::stream::try_unfold(Some(Next::First(query)), move |next| {
            let client = client.clone();
            async move {
                let page = match next {
                    None => return Ok(None),
                    Some(Next::First(query)) => client.list_referral_page(&query).await?,
                    Some(Next::Link(link)) => client.next_referral_page(&link).await?,
                };
                let next = page.next_link.clone().map(Next::Link);
                Ok(Some((page, next)))
            }
        })
    }

    /// Every referral `query` matches, all pages read.
    pub async fn list_all_referrals(&self, query: ListQuery) -> Result<Vec<Listed>, Error> {
        let pages: Vec<ListedPage> = self.list_referrals(query).try_collect().await?;
        Ok(pages.into_iter().flat_map(|page| page.entries).collect())
    }

    /// The referrals still open (status New or Active): one documented `status eq` listing each,
    /// since `ne` is not documented.
    pub async fn open_referrals(&self) -> Result<Vec<Listed>, Error> {
        let mut open = Vec::new();
        for status in [cosell_mapping::Status::New, cosell_mapping::Status::Active] {
            let query = ListQuery::new().filter(Filter::new().eq(Field::Status, status));
            open.extend(self.list_all_referrals(query).await?);
        }
        Ok(open)
    }

    /// The referrals sent to us and not yet answered: status New and direction Incoming, both
    /// documented `eq` filters, in one listing.
    pub async fn waiting_referrals(&self) -> Result<Vec<Listed>, Error> {
        let filter = Filter::new()
            .eq(Field::Status, cosell_mapping::Status::New)
            .eq(Field::Direction, cosell_mapping::Direction::Incoming);
        self.list_all_referrals(ListQuery::new().filter(filter))
            .await
    }

    pub async fn get_referral(&self, id: &str) -> Result<Versioned<Referral>, Error> {
        let call = call("get referral", true);
        let url = self.referral_url(id);
        let response = self
            .send(Audience::Referrals, call, |c| json_get(c, &url))
            .await?;
        versioned(call, response).await
    }

    /// Creates a referral ([`READ_ONLY`] members left out); the answer has the server's `id`,
    /// `engagementId`, dates and eTag.
    /// Give `engagement_id` to connect it to an existing engagement (a co-sell deal's second POST).
    /// Not retried once it may have reached the service (a POST is not idempotent).
    pub async fn create_referral(&self, referral: &Referral) -> Result<Versioned<Referral>, Error> {
        let call = call("create referral", false);
        let url = &self.inner.config.referrals_base_url;
        let body = writable(referral);
        let response = self
            .send(Audience::Referrals, call, |c| c.post(url).json(&body))
            .await?;
        versioned(call, response).await
    }

    /// Replaces a referral ([`READ_ONLY`] members left out) if it is still at `etag`; a stale
    /// one fails with 412
    /// ([`Error::is_precondition_failed`]): re-read, merge, try again.
    pub async fn replace_referral(
        &self,
        id: &str,
        referral: &Referral,
        etag: &str,
    ) -> Result<Versioned<Referral>, Error> {
        let call = call("replace referral", true);
        let url = self.referral_url(id);
        let body = writable(referral);
        let response = self
            .send(Audience::Referrals, call, |c| {
                c.put(&url).header(IF_MATCH, etag).json(&body)
            })
            .await?;
        versioned(call, response).await
    }

    /// Applies `ops`, only if the referral is still at `if_match` when given. Only the paths the
    /// connector allows may be patched ([`PATCHABLE`]). The connector declares a bare `204`: the
    /// eTag comes from an `ETag` header if the service sends one, and a caller that needs the new
    /// state reads it — no body is relied on, and none is asked for.
    pub async fn patch_referral(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Versioned<()>, Error> {
        // Conditional, it is safe to repeat; unconditional, an `add` to a list could apply twice.
        let call = call("patch referral", if_match.is_some());
        let url = self.referral_url(id);
        let response = self
            .send(Audience::Referrals, call, |c| {
                let mut request = c
                    .patch(&url)
                    // The documented samples send JSON Patch as plain `application/json`.
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(ops).expect("patch operations serialize"));
                if let Some(etag) = if_match {
                    request = request.header(IF_MATCH, etag);
                }
                request
            })
            .await?;
        Ok(Versioned {
            etag: etag_header(&response),
            value: (),
        })
    }

    fn referral_url(&self, id: &str) -> String {
        let base = self.inner.config.referrals_base_url.trim_end_matches('/');
        let mut url = url::Url::parse(base).expect("referrals_base_url is a URL");
        url.path_segments_mut()
            .expect("referrals_base_url is an http(s) URL")
            .push(id);
        url.into()
    }

    fn on_referrals_host(&self, link: &str) -> Result<url::Url, Error> {
        let foreign = || Error::ForeignNextLink(link.to_owned());
        let base = url::Url::parse(&self.inner.config.referrals_base_url).map_err(|_| foreign())?;
        let mut url = base.join(link).map_err(|_| foreign())?;
        let same_host = match (url.host_str(), base.host_str()) {
            (Some(host), Some(ours)) => host.eq_ignore_ascii_case(ours),
            _ => false,
        };
        if !same_host || !matches!(url.scheme(), "http" | "https") {
            return Err(foreign());
        }
        url.set_scheme(base.scheme()).map_err(|()| foreign())?;
        url.set_port(base.port()).map_err(|()| foreign())?;
        Ok(url)
    }
}

/// A `GET` with `Content-Type: application/json`, as the connector sends on every operation (its
/// Swagger declares the header required); requests with a body get it from `.json()`.
fn json_get(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
    client
        .get(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
}

fn etag_header(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The referral in an answer, read as a listing entry is: one that does not fit the documented
/// shape is [`Error::Unreadable`], naming the field and value.
async fn versioned(call: Call, response: reqwest::Response) -> Result<Versioned<Referral>, Error> {
    let header = etag_header(&response);
    let raw: serde_json::Value = read_json(call, response).await?;
    let value = listing::read(raw)?;
    let etag = header.or_else(|| value.etag.clone());
    Ok(Versioned { value, etag })
}
