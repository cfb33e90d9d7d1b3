//! A country kept as a lookup ([`Country::Lookup`]): the account holds a row of the partner's
//! country table, and Partner Center wants its ISO code. The code is read from that row once per
//! process (one request per country, then cached: the table changes rarely).

use std::collections::HashMap;
use std::sync::Mutex;

use cosell_dataverse::DataverseError;
use cosell_mapping::CrmConfig;
use cosell_mapping::custom::Country;
use cosell_mapping::outbound::OutboundInput;
use uuid::Uuid;

use crate::ports::Crm;

#[derive(Default)]
pub(super) struct CountryCodes(Mutex<HashMap<Uuid, Option<String>>>);

impl CountryCodes {
    /// `input` with the account's country code read through its lookup; as it is with a text
    /// country column or no country row. A row without a code leaves the code empty, which the
    /// create plan reports with the column it came from.
    pub async fn resolve(
        &self,
        crm: &dyn Crm,
        config: &CrmConfig,
        input: &OutboundInput,
    ) -> Result<OutboundInput, DataverseError> {
        let Country::Lookup(lookup) = config.country() else {
            return Ok(input.clone());
        };
        let Some(row) = input.account.as_ref().and_then(|a| a.country_row) else {
            return Ok(input.clone());
        };
        let cached = self.0.lock().expect("country cache").get(&row).cloned();
        let code = match cached {
            Some(code) => code,
            None => {
                let record = crm.read_row(&lookup.table, row, &[&lookup.code]).await?;
                let code = record.and_then(|r| r.get_str(&lookup.code).map(str::to_owned));
                self.0
                    .lock()
                    .expect("country cache")
                    .insert(row, code.clone());
                code
            }
        };
        let mut input = input.clone();
        if let Some(account) = input.account.as_mut() {
            account.country_code = code;
        }
        Ok(input)
    }
}
