//! [`Grouped`]: the CRM as a sync in a group sees it — its queries and change sets go with the
//! group's next batch ([`super::group`]); outside a group, and for every other call, straight to
//! the service.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cosell_dataverse::{
    Answer, Batch, BatchAnswer, ChangeSet, ChangesPage, DataverseError, Page, PartOutcome,
    Precondition, Query, Record, Row,
};
use cosell_mapping::outbound::Expansions;
use uuid::Uuid;

use super::group::{self, Entry};
use crate::ports::Crm;

pub struct Grouped(Arc<dyn Crm>);

impl Grouped {
    pub fn new(crm: Arc<dyn Crm>) -> Self {
        Self(crm)
    }
}

fn unexpected(what: &str) -> DataverseError {
    DataverseError::Protocol {
        operation: "batch",
        detail: format!("{what} answered as something else"),
    }
}

impl Grouped {
    /// A query's first page, sent with the group's next batch.
    async fn first_page(
        &self,
        group: &Arc<group::Group>,
        set: &str,
        query: &Query,
    ) -> Result<Page, DataverseError> {
        match group
            .send(&self.0, Entry::Query(set.into(), query.clone()))
            .await?
        {
            Answer::Page(page) => Ok(page),
            Answer::Applied(_) => Err(unexpected("a query")),
        }
    }
}

#[async_trait]
impl Crm for Grouped {
    async fn query(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        match group::current() {
            Some(group) => Ok(self.first_page(&group, set, query).await?.records),
            None => self.0.query(set, query).await,
        }
    }

    /// The first page with the group; a query with more (over 50 candidate accounts) is read
    /// whole again on its own, page by page.
    async fn query_all(&self, set: &str, query: &Query) -> Result<Vec<Record>, DataverseError> {
        let Some(group) = group::current() else {
            return self.0.query_all(set, query).await;
        };
        match self.first_page(&group, set, query).await? {
            page if page.next.is_none() => Ok(page.records),
            _ => self.0.query_all(set, query).await,
        }
    }

    async fn execute(&self, changes: &ChangeSet) -> Result<Vec<PartOutcome>, DataverseError> {
        let Some(group) = group::current() else {
            return self.0.execute(changes).await;
        };
        match group.send(&self.0, Entry::Changes(changes.clone())).await? {
            Answer::Applied(outcomes) => Ok(outcomes),
            Answer::Page(_) => Err(unexpected("a change set")),
        }
    }

    async fn batch(&self, batch: &Batch) -> Result<BatchAnswer, DataverseError> {
        self.0.batch(batch).await
    }

    fn throttles(&self) -> BTreeMap<String, u64> {
        self.0.throttles()
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        self.0.attempt_timeout()
    }

    async fn read_expanded(
        &self,
        set: &str,
        key_column: &str,
        id: Uuid,
        select: &[String],
        related: &Expansions,
    ) -> Result<Option<Record>, DataverseError> {
        self.0
            .read_expanded(set, key_column, id, select, related)
            .await
    }

    async fn read_row(
        &self,
        set: &str,
        id: Uuid,
        select: &[&str],
    ) -> Result<Option<Record>, DataverseError> {
        self.0.read_row(set, id, select).await
    }

    async fn update_row(
        &self,
        set: &str,
        id: Uuid,
        row: &Row,
        precondition: Precondition,
    ) -> Result<(), DataverseError> {
        self.0.update_row(set, id, row, precondition).await
    }

    async fn track_changes(
        &self,
        set: &str,
        select: &[String],
    ) -> Result<ChangesPage, DataverseError> {
        self.0.track_changes(set, select).await
    }

    async fn changes_since(&self, link: &str) -> Result<ChangesPage, DataverseError> {
        self.0.changes_since(link).await
    }
}
