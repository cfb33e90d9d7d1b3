//! `contact`: the customer's contact person on a referral.

use uuid::Uuid;

use super::row::{Reader, Writer, lookup_column};
use super::{CrmRow, Customer, Row};
use crate::config::CrmConfig;
use crate::error::MappingError;

/// A contact row. No column of it is a setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contact {
    /// `contactid`.
    pub id: Option<Uuid>,
    /// `@odata.etag`.
    pub etag: Option<String>,
    /// `firstname`.
    pub first_name: Option<String>,
    /// `lastname`.
    pub last_name: Option<String>,
    /// `emailaddress1`.
    pub email: Option<String>,
    /// `telephone1`.
    pub telephone: Option<String>,
    /// `parentcustomerid`: the contact's company, normally an account.
    pub parent_customer: Option<Customer>,
}

impl CrmRow for Contact {
    const ENTITY_SET: &'static str = "contacts";
    const KEY: &'static str = "contactid";

    fn columns(_config: &CrmConfig) -> Vec<String> {
        vec![
            Self::KEY.to_owned(),
            "firstname".to_owned(),
            "lastname".to_owned(),
            "emailaddress1".to_owned(),
            "telephone1".to_owned(),
            lookup_column("parentcustomerid"),
        ]
    }

    fn from_row(row: &Row, _config: &CrmConfig) -> Result<Self, MappingError> {
        let read = Reader(row);
        Ok(Self {
            id: read.guid(Self::KEY)?,
            etag: read.etag()?,
            first_name: read.text("firstname")?,
            last_name: read.text("lastname")?,
            email: read.text("emailaddress1")?,
            telephone: read.text("telephone1")?,
            parent_customer: read.customer("parentcustomerid")?,
        })
    }

    fn to_row(&self, _config: &CrmConfig) -> Result<Row, MappingError> {
        let mut row = Writer::default();
        row.put("firstname", self.first_name.clone());
        row.put("lastname", self.last_name.clone());
        row.put("emailaddress1", self.email.clone());
        row.put("telephone1", self.telephone.clone());
        row.customer("parentcustomerid", self.parent_customer);
        Ok(row.finish())
    }
}
