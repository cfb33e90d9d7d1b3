//! `account`: the customer company of a referral.

use uuid::Uuid;

use super::row::{Reader, Writer, lookup_column};
use super::{CrmRow, Row};
use crate::config::CrmConfig;
use crate::custom::Country;
use crate::custom::country::TextColumn;
use crate::error::MappingError;

/// An account row. Its country goes where [`CrmConfig::country`] says: a text column, or a
/// lookup bound by code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    /// `accountid`.
    pub id: Option<Uuid>,
    /// `@odata.etag`.
    pub etag: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `address1_line1`.
    pub address_line1: Option<String>,
    /// `address1_city`.
    pub city: Option<String>,
    /// `address1_stateorprovince`.
    pub state_or_province: Option<String>,
    /// `address1_postalcode`.
    pub postal_code: Option<String>,
    /// The *configured* country-code column (default `address1_country`), holding ISO 3166
    /// alpha-2 as Partner Center requires.
    pub country_code: Option<String>,
    /// With a lookup country ([`Country::Lookup`]): the country row the account points to (the
    /// code is read from it); `country_code` is then `None` when read.
    pub country_row: Option<Uuid>,
    /// `telephone1`.
    pub telephone: Option<String>,
    /// `emailaddress1`.
    pub email: Option<String>,
    /// The configured size column's value as a published `customerProfile.size`
    /// ([`crate::customer_size`]); read only.
    pub size: Option<&'static str>,
}

impl CrmRow for Account {
    const ENTITY_SET: &'static str = "accounts";
    const KEY: &'static str = "accountid";

    fn columns(config: &CrmConfig) -> Vec<String> {
        vec![
            Self::KEY.to_owned(),
            "name".to_owned(),
            "address1_line1".to_owned(),
            "address1_city".to_owned(),
            "address1_stateorprovince".to_owned(),
            "address1_postalcode".to_owned(),
            match config.country() {
                Country::Column(TextColumn { column }) => column,
                Country::Lookup(lookup) => lookup_column(&lookup.lookup.to_ascii_lowercase()),
            },
            "telephone1".to_owned(),
            "emailaddress1".to_owned(),
        ]
        .into_iter()
        .chain(config.customer_size_column.clone())
        .collect()
    }

    fn from_row(row: &Row, config: &CrmConfig) -> Result<Self, MappingError> {
        let read = Reader(row);
        Ok(Self {
            id: read.guid(Self::KEY)?,
            etag: read.etag()?,
            name: read.text("name")?,
            address_line1: read.text("address1_line1")?,
            city: read.text("address1_city")?,
            state_or_province: read.text("address1_stateorprovince")?,
            postal_code: read.text("address1_postalcode")?,
            country_code: match config.country() {
                Country::Column(TextColumn { column }) => read.text(&column)?,
                Country::Lookup(_) => None,
            },
            country_row: match config.country() {
                Country::Column(_) => None,
                Country::Lookup(lookup) => read.lookup(&lookup.lookup.to_ascii_lowercase())?,
            },
            telephone: read.text("telephone1")?,
            email: read.text("emailaddress1")?,
            size: config
                .customer_size_column
                .as_ref()
                .and_then(|column| row.get(column))
                .and_then(crate::customer_size::read),
        })
    }

    fn to_row(&self, config: &CrmConfig) -> Result<Row, MappingError> {
        let mut row = Writer::default();
        row.put("name", self.name.clone());
        row.put("address1_line1", self.address_line1.clone());
        row.put("address1_city", self.city.clone());
        row.put("address1_stateorprovince", self.state_or_province.clone());
        row.put("address1_postalcode", self.postal_code.clone());
        row.put("telephone1", self.telephone.clone());
        row.put("emailaddress1", self.email.clone());
        let mut row = row.finish();
        if let Some(code) = &self.country_code {
            config.country().write(code, &mut row);
        }
        Ok(row)
    }
}
