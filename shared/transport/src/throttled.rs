//! How many `429`s each service answered this process, for the functions' metrics: a handler
//! takes the counts after each invocation ([`take`]) and reports them as `Throttled`.

use std::collections::BTreeMap;
use std::sync::Mutex;

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
