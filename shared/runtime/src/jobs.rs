//! The scheduled jobs — the retry run and the reconciliation sweep — over the use cases they redo
//! work through. retry-scheduler runs them on EventBridge's schedules, `cosell serve` on its own,
//! `cosell backfill` and `replay` drive them directly.

use std::sync::Arc;

use cosell_store::SyncStore;
use cosell_sync::metadata::Schema;
use cosell_sync::{
    InboundSync, OutboundSync, ReconcileSettings, Reconciler, ReferralFeed, RetryScheduler,
    RetrySettings,
};

/// The two jobs; built once per process ([`crate::Runtime::jobs`]).
pub struct Jobs {
    pub retries: Arc<RetryScheduler>,
    pub reconciler: Arc<Reconciler>,
    /// The use cases the jobs redo work through.
    pub inbound: Arc<InboundSync>,
    pub outbound: Arc<OutboundSync>,
    /// For the gauges each run reports.
    pub store: Arc<dyn SyncStore>,
    /// Where the metadata cache is refreshed from after each sweep; `None` leaves it alone.
    pub schema: Option<Arc<dyn Schema>>,
}

impl Jobs {
    /// Wires both jobs over use cases the process already holds; `feed` lists the referrals the
    /// sweep reads.
    pub fn new(
        store: Arc<dyn SyncStore>,
        inbound: Arc<InboundSync>,
        outbound: Arc<OutboundSync>,
        feed: Arc<dyn ReferralFeed>,
        retry: RetrySettings,
        reconcile: ReconcileSettings,
    ) -> Self {
        Self {
            retries: Arc::new(RetryScheduler::new(
                store.clone(),
                inbound.clone(),
                outbound.clone(),
                retry,
            )),
            reconciler: Arc::new(Reconciler::new(
                store.clone(),
                inbound.clone(),
                feed,
                reconcile,
            )),
            inbound,
            outbound,
            store,
            schema: None,
        }
    }

    /// Refreshes the metadata cache from `schema` after each sweep.
    pub fn with_schema(mut self, schema: Arc<dyn Schema>) -> Self {
        self.schema = Some(schema);
        self
    }
}
