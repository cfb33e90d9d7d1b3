//! `lead`: what a marketplace or qualified lead becomes (see [`crate::category`]).

use rust_decimal::Decimal;
use time::Date;
use uuid::Uuid;

use super::row::{Reader, Writer};
use super::{CrmRow, Row};
use crate::config::CrmConfig;
use crate::custom::MappedValues;
use crate::error::MappingError;

/// A lead row. Its columns are the platform's own: the deal-value and country-code settings
/// apply to opportunity and account only, so a lead always uses `estimatedamount` and
/// `address1_country`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lead {
    /// `leadid`.
    pub id: Option<Uuid>,
    /// `@odata.etag`.
    pub etag: Option<String>,
    /// `subject` (required on create).
    pub subject: Option<String>,
    /// `firstname`.
    pub first_name: Option<String>,
    /// `lastname`.
    pub last_name: Option<String>,
    /// `companyname`.
    pub company_name: Option<String>,
    /// `emailaddress1`.
    pub email: Option<String>,
    /// `telephone1`.
    pub telephone: Option<String>,
    /// `address1_line1`.
    pub address_line1: Option<String>,
    /// `address1_city`.
    pub city: Option<String>,
    /// `address1_stateorprovince`.
    pub state_or_province: Option<String>,
    /// `address1_postalcode`.
    pub postal_code: Option<String>,
    /// `address1_country` (free text).
    pub country: Option<String>,
    /// `estimatedamount`.
    pub estimated_amount: Option<Decimal>,
    /// `estimatedclosedate` (date only).
    pub estimated_close_date: Option<Date>,
    /// `description`.
    pub description: Option<String>,
    /// `statecode`.
    pub state: Option<LeadState>,
    /// Columns of the mapping document's lead fields, written as they are (`null` clears).
    pub mapped: MappedValues,
}

/// `statecode` of a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadState {
    Open,
    Qualified,
    Disqualified,
}

impl LeadState {
    /// The option value: 0 Open, 1 Qualified, 2 Disqualified.
    pub fn value(self) -> i64 {
        match self {
            Self::Open => 0,
            Self::Qualified => 1,
            Self::Disqualified => 2,
        }
    }

    /// The state of an option value; `None` for a value the platform does not define.
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::Open),
            1 => Some(Self::Qualified),
            2 => Some(Self::Disqualified),
            _ => None,
        }
    }
}

impl CrmRow for Lead {
    const ENTITY_SET: &'static str = "leads";
    const KEY: &'static str = "leadid";

    fn columns(_config: &CrmConfig) -> Vec<String> {
        [
            Self::KEY,
            "subject",
            "firstname",
            "lastname",
            "companyname",
            "emailaddress1",
            "telephone1",
            "address1_line1",
            "address1_city",
            "address1_stateorprovince",
            "address1_postalcode",
            "address1_country",
            "estimatedamount",
            "estimatedclosedate",
            "description",
            "statecode",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn from_row(row: &Row, _config: &CrmConfig) -> Result<Self, MappingError> {
        let read = Reader(row);
        let state =
            match read.int("statecode")? {
                None => None,
                Some(value) => Some(LeadState::from_value(value).ok_or_else(|| {
                    MappingError::InvalidColumn {
                        column: "statecode".into(),
                        expected: "a lead state (0 Open, 1 Qualified, 2 Disqualified)",
                        value: value.into(),
                    }
                })?),
            };
        Ok(Self {
            id: read.guid(Self::KEY)?,
            etag: read.etag()?,
            subject: read.text("subject")?,
            first_name: read.text("firstname")?,
            last_name: read.text("lastname")?,
            company_name: read.text("companyname")?,
            email: read.text("emailaddress1")?,
            telephone: read.text("telephone1")?,
            address_line1: read.text("address1_line1")?,
            city: read.text("address1_city")?,
            state_or_province: read.text("address1_stateorprovince")?,
            postal_code: read.text("address1_postalcode")?,
            country: read.text("address1_country")?,
            estimated_amount: read.decimal("estimatedamount")?,
            estimated_close_date: read.date("estimatedclosedate")?,
            description: read.text("description")?,
            state,
            mapped: MappedValues::new(),
        })
    }

    fn to_row(&self, _config: &CrmConfig) -> Result<Row, MappingError> {
        let mut row = Writer::default();
        row.put("subject", self.subject.clone());
        row.put("firstname", self.first_name.clone());
        row.put("lastname", self.last_name.clone());
        row.put("companyname", self.company_name.clone());
        row.put("emailaddress1", self.email.clone());
        row.put("telephone1", self.telephone.clone());
        row.put("address1_line1", self.address_line1.clone());
        row.put("address1_city", self.city.clone());
        row.put("address1_stateorprovince", self.state_or_province.clone());
        row.put("address1_postalcode", self.postal_code.clone());
        row.put("address1_country", self.country.clone());
        row.decimal("estimatedamount", self.estimated_amount);
        row.date("estimatedclosedate", self.estimated_close_date);
        row.put("description", self.description.clone());
        row.put("statecode", self.state.map(LeadState::value));
        row.mapped(&self.mapped);
        Ok(row.finish())
    }
}
