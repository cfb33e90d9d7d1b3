//! Request counters per service and per route, and injected faults per kind: what a benchmark reads
//! to say "a new referral costs N Dataverse requests".

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::Service;

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests per service, faulted ones included.
    pub services: BTreeMap<String, u64>,
    /// Requests per `"<service> <METHOD> <route>"`.
    pub routes: BTreeMap<String, u64>,
    /// Injected faults per `"<service> <kind>"` (429, 500, 503, timeout, drop) and the services'
    /// own events (throttled requests, webhook deliveries…).
    pub events: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Counters(Mutex<Snapshot>);

impl Counters {
    pub fn request(&self, service: Service, route: &str) {
        let mut s = self.0.lock().expect("counters lock");
        *s.services.entry(service.name().to_owned()).or_default() += 1;
        *s.routes
            .entry(format!("{} {route}", service.name()))
            .or_default() += 1;
    }

    pub fn fault(&self, service: Service, kind: &str) {
        self.event(service, kind);
    }

    /// Counts a named event of a service, e.g. `event(Dataverse, "throttled")`.
    pub fn event(&self, service: Service, name: &str) {
        let mut s = self.0.lock().expect("counters lock");
        *s.events
            .entry(format!("{} {name}", service.name()))
            .or_default() += 1;
    }

    /// How often the event `"<service> <name>"` was counted so far (0 when never).
    pub fn count(&self, key: &str) -> u64 {
        let s = self.0.lock().expect("counters lock");
        s.events.get(key).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.0.lock().expect("counters lock").clone()
    }

    pub fn reset(&self) {
        *self.0.lock().expect("counters lock") = Snapshot::default();
    }
}
