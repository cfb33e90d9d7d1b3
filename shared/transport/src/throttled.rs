//! How many `429`s each service answered this process, for the functions' metrics: a handler
//! takes the counts after each invocation ([`take`]) and reports them as `Throttled`. And the
//! `429`s one client met, by the service's error code ([`Throttles`]): a bulk caller slows down
//! for the limit it reached.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

static COUNTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn record(service: &'static str) {
    let mut counts = COUNTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *counts.entry(service).or_default() += 1;
}

/// The `429`s per service since the last call, and resets them.
pub fn take() -> Vec<(&'static str, u64)> {
    let mut counts = COUNTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut *counts).into_iter().collect()
}

/// The `429`s one [`crate::Http`] client was answered since it was made, by the error code the
/// answer carried (`""` when none): Dataverse names the limit reached (`0x80072321` execution
/// time, `0x80072322` requests, `0x80072326` concurrency). Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Throttles(Arc<Mutex<BTreeMap<String, u64>>>);

impl Throttles {
    /// The counts so far; compare two to learn what one piece of work met.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn record(&self, code: Option<&str>) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts
            .entry(code.unwrap_or_default().to_owned())
            .or_default() += 1;
    }
}
