//! What changed (or was created) after a time, page by page, read whichever way the service
//! honours. Microsoft promises no order and no range: partner-rest's list page names
//! `updatedDateTime` among the filter parameters without an operator and documents `$orderby`
//! on `createdDateTime` only; the connector's Swagger takes any `$orderby`; nothing says what
//! order a listing has without one. So a listing tries, in order ([`Reading`]):
//!
//! 1. [`Reading::Range`]: `$filter=updatedDateTime gt <after>` — only what changed is listed.
//!    Refused (400), the next reading is tried; answered with older entries (the filter ignored),
//!    this pass reads every page and the next one starts at 2.
//! 2. [`Reading::Ordered`]: `$orderby=<date> desc`, stopped after the first page that reaches
//!    back to `after` — but only while every entry read so far is verifiably non-increasing in
//!    that date. One out of order, and this pass reads every page (3). Refused, 3.
//! 3. [`Reading::Full`]: every page, the changes picked out here.
//!
//! Each client remembers per date what worked, so a process pays for a refusal once. Whatever
//! the reading, a pass yields every entry whose date is after `after` (and every entry whose
//! date cannot be read): the readings differ only in how many pages that takes.
//! For N referrals of which c changed, a pass costs ⌈c/100⌉ pages (at least 1) under Range,
//! ⌈(c+1)/100⌉ under Ordered, and ⌈N/100⌉ under Full — 200 for 20,000 referrals, which is why a
//! pass can stop between pages and go on later from [`Changes::resume`].

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::client::PartnerCenter;
use crate::error::Error;
use crate::filter::{Field, Filter};
use crate::listing::Listed;
use crate::reading::{Reading, Stamp};
use crate::referrals::{ListQuery, OrderBy};

/// Where an interrupted pass goes on: the next page's link and what the pass knew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub reading: Reading,
    /// The `@odata.nextLink` of the last page read.
    pub link: String,
    /// The oldest date an ordered pass had read (the next page must not go above it).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub floor: Option<OffsetDateTime>,
    /// Pages read so far.
    pub pages: usize,
}

enum Next {
    First,
    Link(String),
}

/// One pass over what changed after a time: [`PartnerCenter::changes`].
pub struct Changes {
    client: PartnerCenter,
    stamp: Stamp,
    after: OffsetDateTime,
    reading: Reading,
    next: Option<Next>,
    floor: Option<OffsetDateTime>,
    seen: HashSet<String>,
    pages: usize,
}

impl PartnerCenter {
    /// The referrals whose `stamp` is after `after`, starting with the reading this process
    /// found to work, or going on from `resume`. `after` is taken to the whole second before it:
    /// a filter's literal needs no fraction, and a little more listed is harmless.
    pub fn changes(&self, stamp: Stamp, after: OffsetDateTime, resume: Option<Resume>) -> Changes {
        let after = after.replace_nanosecond(0).unwrap_or(after);
        let (reading, next, floor, pages) = match resume {
            Some(r) => (r.reading, Next::Link(r.link), r.floor, r.pages),
            None => (self.inner.readings.get(stamp), Next::First, None, 0),
        };
        Changes {
            client: self.clone(),
            stamp,
            after,
            reading,
            next: Some(next),
            floor,
            seen: HashSet::new(),
            pages,
        }
    }

    /// What the next listing of `stamp` starts with in this process.
    pub fn reading(&self, stamp: Stamp) -> Reading {
        self.inner.readings.get(stamp)
    }
}

impl Changes {
    /// The next page's entries after `after` (each referral once per pass), or `None` when the
    /// pass is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Listed>>, Error> {
        let page = loop {
            let result = match self.next.take() {
                None => return Ok(None),
                Some(Next::Link(link)) => self
                    .client
                    .next_referral_page(&link)
                    .await
                    .map_err(|e| (Next::Link(link), e)),
                Some(Next::First) => self
                    .client
                    .list_referral_page(&self.query())
                    .await
                    .map_err(|e| (Next::First, e)),
            };
            match result {
                Ok(page) => break page,
                Err((Next::First, error))
                    if error.is_refused() && self.reading != Reading::Full =>
                {
                    tracing::warn!(reading = ?self.reading, date = self.stamp.name(), %error, "listing refused; trying the next reading");
                    self.client.inner.readings.give_up(self.stamp, self.reading);
                    self.reading = self.reading.fallback();
                    self.next = Some(Next::First);
                }
                Err((next, error)) => {
                    self.next = Some(next);
                    return Err(error);
                }
            }
        };
        self.pages += 1;
        let mut reached = false;
        let mut entries = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            let at = self.stamp.of(&entry);
            if let Some(at) = at {
                self.check(at);
                reached |= at <= self.after;
            }
            let new = entry.id().is_none_or(|id| self.seen.insert(id.to_owned()));
            if new && at.is_none_or(|at| at > self.after) {
                entries.push(entry);
            }
        }
        self.next = match page.next_link {
            Some(_) if reached && self.reading == Reading::Ordered => None,
            Some(link) => Some(Next::Link(link)),
            None => None,
        };
        Ok(Some(entries))
    }

    /// Whether an entry dated `at` keeps this pass's reading honest; if not, the pass reads
    /// every page and the process gives the reading up.
    fn check(&mut self, at: OffsetDateTime) {
        let broken = match self.reading {
            // The range filter's only promise: nothing older.
            Reading::Range => at < self.after,
            Reading::Ordered => self.floor.is_some_and(|floor| at > floor),
            Reading::Full => false,
        };
        if broken {
            tracing::warn!(reading = ?self.reading, date = self.stamp.name(), "the listing does not honour its reading; reading every page");
            self.client.inner.readings.give_up(self.stamp, self.reading);
            self.reading = Reading::Full;
        }
        if self.reading == Reading::Ordered {
            self.floor = Some(at);
        }
    }

    fn query(&self) -> ListQuery {
        let order = match self.stamp {
            Stamp::Updated => OrderBy::UpdatedDesc,
            Stamp::Created => OrderBy::CreatedDesc,
        };
        match self.reading {
            Reading::Range => {
                ListQuery::new().filter(Filter::new().after(Field::UpdatedDateTime, self.after))
            }
            Reading::Ordered => ListQuery::new().order_by(order),
            Reading::Full => ListQuery::new(),
        }
    }

    /// Every remaining page's entries.
    pub async fn all(mut self) -> Result<Vec<Listed>, Error> {
        let mut entries = Vec::new();
        while let Some(page) = self.next_page().await? {
            entries.extend(page);
        }
        Ok(entries)
    }

    /// The reading this pass uses now.
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// Pages read so far (counting those before a resume).
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Where to go on if this pass stops now: `None` before its first page or after its last.
    pub fn resume(&self) -> Option<Resume> {
        match &self.next {
            Some(Next::Link(link)) => Some(Resume {
                reading: self.reading,
                link: link.clone(),
                floor: self.floor,
                pages: self.pages,
            }),
            _ => None,
        }
    }
}
