//! `WinOpportunity` / `LoseOpportunity`: what the closing activity says.

use serde_json::Value;

use crate::types::{Id, Row, bind};

/// The `OpportunityClose` of a win or loss, and the status the opportunity closes with.
#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityClose {
    pub subject: String,
    /// Won: 3. Lost: 4 Canceled, 5 Out-Sold.
    pub status: i32,
    /// More columns of the `opportunityclose` row (e.g. `actualrevenue`, `description`).
    pub extra: Row,
}

impl OpportunityClose {
    pub fn won(subject: impl Into<String>) -> Self {
        Self::with_status(subject, 3)
    }

    pub fn canceled(subject: impl Into<String>) -> Self {
        Self::with_status(subject, 4)
    }

    pub fn out_sold(subject: impl Into<String>) -> Self {
        Self::with_status(subject, 5)
    }

    fn with_status(subject: impl Into<String>, status: i32) -> Self {
        Self {
            subject: subject.into(),
            status,
            extra: Row::new(),
        }
    }

    /// `{"Status": n, "OpportunityClose": {"subject": …, "opportunityid@odata.bind": …}}`
    pub(crate) fn body(&self, opportunity: Id) -> Value {
        let mut close = self.extra.clone();
        close.insert("subject".into(), Value::String(self.subject.clone()));
        close.insert(
            "opportunityid@odata.bind".into(),
            bind("opportunities", opportunity),
        );
        serde_json::json!({ "Status": self.status, "OpportunityClose": close })
    }
}
