//! Currency ids by ISO code. They never change in practice, so each is asked for once per
//! process: a warm cache costs no Dataverse request.

use std::collections::HashMap;
use std::sync::Mutex;

use cosell_dataverse::{Filter, Query};
use uuid::Uuid;

use super::failure::InboundError;
use crate::ports::Crm;

pub const SET: &str = "transactioncurrencies";
const KEY: &str = "transactioncurrencyid";

#[derive(Default)]
pub struct CurrencyCache(Mutex<HashMap<String, Uuid>>);

impl CurrencyCache {
    /// The `transactioncurrencies` row of an ISO 4217 code (upper case).
    pub async fn id(&self, crm: &dyn Crm, code: &str) -> Result<Uuid, InboundError> {
        if let Some(id) = self.0.lock().expect("currency cache").get(code) {
            return Ok(*id);
        }
        let query = Query::new()
            .select([KEY, "isocurrencycode"])
            .filter(Filter::eq("isocurrencycode", code))
            .top(1);
        let records = crm.query(SET, &query).await?;
        let record = records
            .first()
            .ok_or_else(|| InboundError::NoCurrency(code.to_owned()))?;
        let id = record
            .id(KEY)
            .ok_or_else(|| InboundError::CurrencyWithoutId(code.to_owned()))?
            .0;
        self.0
            .lock()
            .expect("currency cache")
            .insert(code.to_owned(), id);
        Ok(id)
    }
}
