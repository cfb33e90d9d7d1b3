//! The referrals operations (contract §3): list (following the opaque `@odata.nextLink`), get,
//! create, replace (PUT + `If-Match`) and JSON-Patch PATCH (`If-Match` optional).

use cosell_mapping::{Referral, ReferralPage};
use cosell_transport::{Call, read_json};
use futures::{Stream, TryStreamExt};
use reqwest::header::{ETAG, IF_MATCH};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Audience;
use crate::client::{PartnerCenter, call};
use crate::error::Error;
use crate::filter::Filter;

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

/// One JSON Patch (RFC 6902) operation; Partner Center takes only `replace` and `add`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: PatchOpKind,
    /// A JSON pointer, e.g. `/status` or `/details/notes`.
    pub path: String,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    Replace,
    Add,
}

impl PatchOp {
    pub fn replace(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            op: PatchOpKind::Replace,
            path: path.into(),
            value: value.into(),
        }
    }

    pub fn add(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            op: PatchOpKind::Add,
            path: path.into(),
            value: value.into(),
        }
    }
}

impl PartnerCenter {
    /// The first page of `query`; continue with [`Self::next_referral_page`].
    pub async fn list_referral_page(&self, query: &ListQuery) -> Result<ReferralPage, Error> {
        let call = call("list referrals", true);
        let url = &self.inner.config.referrals_base_url;
        let params = query.params();
        let response = self
            .send(Audience::Referrals, call, |c| c.get(url).query(&params))
            .await?;
        Ok(read_json(call, response).await?)
    }

    /// The page `next_link` (a page's `@odata.nextLink`) points at, requested exactly as given:
    /// the link is opaque. It must be on the referrals host's origin; relative links resolve
    /// against the referrals base URL.
    pub async fn next_referral_page(&self, next_link: &str) -> Result<ReferralPage, Error> {
        let url = self.same_origin(next_link)?;
        let call = call("list referrals (next page)", true);
        let response = self
            .send(Audience::Referrals, call, |c| c.get(url.clone()))
            .await?;
        Ok(read_json(call, response).await?)
    }

    /// Every page of `query`, lazily, following each `@odata.nextLink`.
    pub fn list_referrals(
        &self,
        query: ListQuery,
    ) -> impl Stream<Item = Result<ReferralPage, Error>> + Send + 'static {
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
    pub async fn list_all_referrals(&self, query: ListQuery) -> Result<Vec<Referral>, Error> {
        let pages: Vec<ReferralPage> = self.list_referrals(query).try_collect().await?;
        Ok(pages.into_iter().flat_map(|page| page.value).collect())
    }

    pub async fn get_referral(&self, id: &str) -> Result<Versioned<Referral>, Error> {
        let call = call("get referral", true);
        let url = self.referral_url(id);
        let response = self
            .send(Audience::Referrals, call, |c| c.get(&url))
            .await?;
        versioned(call, response).await
    }

    /// Creates a referral; the answer has the server's `id`, `engagementId`, dates and eTag.
    /// Give `engagement_id` to connect it to an existing engagement (a co-sell deal's second POST).
    /// Not retried once it may have reached the service (a POST is not idempotent).
    pub async fn create_referral(&self, referral: &Referral) -> Result<Versioned<Referral>, Error> {
        let call = call("create referral", false);
        let url = &self.inner.config.referrals_base_url;
        let response = self
            .send(Audience::Referrals, call, |c| c.post(url).json(referral))
            .await?;
        versioned(call, response).await
    }

    /// Replaces a referral if it is still at `etag`; a stale one fails with 412
    /// ([`Error::is_precondition_failed`]): re-read, merge, try again.
    pub async fn replace_referral(
        &self,
        id: &str,
        referral: &Referral,
        etag: &str,
    ) -> Result<Versioned<Referral>, Error> {
        let call = call("replace referral", true);
        let url = self.referral_url(id);
        let response = self
            .send(Audience::Referrals, call, |c| {
                c.put(&url).header(IF_MATCH, etag).json(referral)
            })
            .await?;
        versioned(call, response).await
    }

    /// Applies `ops`, only if the referral is still at `if_match` when given. The service answers
    /// 204; the new eTag comes from the `ETag` header when it sends one.
    pub async fn patch_referral(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Versioned<()>, Error> {
        let response = self.send_patch(id, ops, if_match, false).await?;
        Ok(Versioned {
            etag: etag_header(&response),
            value: (),
        })
    }

    /// Like [`Self::patch_referral`], asking for the patched referral back
    /// (`Prefer: return=representation`).
    pub async fn patch_referral_returning(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Versioned<Referral>, Error> {
        let response = self.send_patch(id, ops, if_match, true).await?;
        versioned(call("patch referral", true), response).await
    }

    async fn send_patch(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
        representation: bool,
    ) -> Result<reqwest::Response, Error> {
        // Conditional, it is safe to repeat; unconditional, an `add` to a list could apply twice.
        let call = call("patch referral", if_match.is_some());
        let url = self.referral_url(id);
        self.send(Audience::Referrals, call, |c| {
            let mut request = c
                .patch(&url)
                // The documented samples send JSON Patch as plain `application/json`.
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(ops).expect("patch operations serialize"));
            if let Some(etag) = if_match {
                request = request.header(IF_MATCH, etag);
            }
            if representation {
                request = request.header("Prefer", "return=representation");
            }
            request
        })
        .await
    }

    fn referral_url(&self, id: &str) -> String {
        let base = self.inner.config.referrals_base_url.trim_end_matches('/');
        let mut url = url::Url::parse(base).expect("referrals_base_url is a URL");
        url.path_segments_mut()
            .expect("referrals_base_url is an http(s) URL")
            .push(id);
        url.into()
    }

    fn same_origin(&self, link: &str) -> Result<url::Url, Error> {
        let base = url::Url::parse(&self.inner.config.referrals_base_url)
            .map_err(|_| Error::ForeignNextLink(link.to_owned()))?;
        match base.join(link) {
            Ok(url) if url.origin() == base.origin() => Ok(url),
            _ => Err(Error::ForeignNextLink(link.to_owned())),
        }
    }
}

fn etag_header(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn versioned(call: Call, response: reqwest::Response) -> Result<Versioned<Referral>, Error> {
    let header = etag_header(&response);
    let value: Referral = read_json(call, response).await?;
    let etag = header.or_else(|| value.etag.clone());
    Ok(Versioned { value, etag })
}
