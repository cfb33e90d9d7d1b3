//! Table metadata a preflight checks: which tables track changes, which columns a table has.

use cosell_transport::read_json;
use serde_json::Value;

use crate::client::{DataverseClient, call, values};
use crate::error::DataverseError;
use crate::filter::{Filter, check_column};
use crate::query::encode_params;

impl DataverseClient {
    /// Logical names of the tables with change tracking on
    /// (`EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true`).
    pub async fn change_tracked_tables(&self) -> Result<Vec<String>, DataverseError> {
        let filter = Filter::eq("ChangeTrackingEnabled", true).to_odata()?;
        let url = format!(
            "{}EntityDefinitions?{}",
            self.base,
            encode_params(&[("$select", "LogicalName".into()), ("$filter", filter)])
        );
        self.logical_names(&url).await
    }

    /// Logical names of a table's columns
    /// (`EntityDefinitions(LogicalName='opportunity')/Attributes?$select=LogicalName`).
    pub async fn attribute_names(&self, table: &str) -> Result<Vec<String>, DataverseError> {
        check_column(table)?;
        let url = format!(
            "{}EntityDefinitions(LogicalName='{table}')/Attributes?{}",
            self.base,
            encode_params(&[("$select", "LogicalName".into())])
        );
        self.logical_names(&url).await
    }

    async fn logical_names(&self, url: &str) -> Result<Vec<String>, DataverseError> {
        let call = call("metadata", true);
        let response = self.send(call, |c| c.get(url)).await?;
        let body: Value = read_json(call, response).await?;
        Ok(values(&body)
            .filter_map(|v| v.get("LogicalName")?.as_str().map(str::to_owned))
            .collect())
    }
}
