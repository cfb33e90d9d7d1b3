//! Requests the simulators counted, per service, and the 429s the Dataverse simulator answered:
//! taken before and after a measured step, the difference is what that step cost.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stack::Stack;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub partner_center: f64,
    pub dataverse: f64,
    pub token: f64,
    /// Dataverse requests refused by its service-protection limits (429).
    pub dataverse_throttled: f64,
    /// Requests per `"<service> <METHOD> <route>"`.
    pub routes: BTreeMap<String, f64>,
}

impl Counts {
    pub fn now(stack: &Stack) -> Counts {
        let snapshot = stack.sim.state.counters.snapshot();
        let service = |name: &str| snapshot.services.get(name).copied().unwrap_or(0) as f64;
        Counts {
            partner_center: service("partner-center"),
            dataverse: service("dataverse"),
            token: service("token"),
            dataverse_throttled: snapshot
                .events
                .get("dataverse throttled")
                .copied()
                .unwrap_or(0) as f64,
            routes: snapshot
                .routes
                .iter()
                .map(|(route, n)| (route.clone(), *n as f64))
                .collect(),
        }
    }

    pub fn minus(&self, before: &Counts) -> Counts {
        let routes = self
            .routes
            .iter()
            .map(|(route, n)| (route.clone(), n - before.routes.get(route).unwrap_or(&0.0)))
            .filter(|(_, n)| *n != 0.0)
            .collect();
        Counts {
            partner_center: self.partner_center - before.partner_center,
            dataverse: self.dataverse - before.dataverse,
            token: self.token - before.token,
            dataverse_throttled: self.dataverse_throttled - before.dataverse_throttled,
            routes,
        }
    }

    /// Each count divided by `operations`.
    pub fn per(&self, operations: usize) -> Counts {
        let n = operations.max(1) as f64;
        Counts {
            partner_center: self.partner_center / n,
            dataverse: self.dataverse / n,
            token: self.token / n,
            dataverse_throttled: self.dataverse_throttled / n,
            routes: self
                .routes
                .iter()
                .map(|(r, v)| (r.clone(), v / n))
                .collect(),
        }
    }
}
