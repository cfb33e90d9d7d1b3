//! `opportunity`: what a co-sell referral becomes, with the Microsoft solution's co-sell columns.

use rust_decimal::Decimal;
use time::Date;
use uuid::Uuid;

use super::row::{Reader, Writer, lookup_column};
use super::{Account, Contact, CrmRow, Customer, Row};
use crate::config::CrmConfig;
use crate::custom::MappedValues;
use crate::custom::Table;
use crate::custom::field::canonical;
use crate::enums::AssistanceRequestCode;
use crate::error::MappingError;

/// An opportunity row. Column names in the field docs; *configured* ones come from [`CrmConfig`].
///
/// Won and lost are set through the `WinOpportunity`/`LoseOpportunity` actions, not by writing
/// `statecode`: leave [`Self::state`] and [`Self::status_reason`] `None` in a `PATCH` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Opportunity {
    /// `opportunityid`.
    pub id: Option<Uuid>,
    /// `@odata.etag`.
    pub etag: Option<String>,
    /// `name` (required on create). May carry ✔/✖ when `check_mark_in_name` is set.
    pub name: Option<String>,
    /// The *configured* deal-value column (default `estimatedvalue`).
    pub deal_value: Option<Decimal>,
    /// `estimatedclosedate` (date only).
    pub estimated_close_date: Option<Date>,
    /// `description`.
    pub description: Option<String>,
    /// `customerid`: the account (or contact) the deal is with.
    pub customer: Option<Customer>,
    /// `parentaccountid`.
    pub parent_account: Option<Uuid>,
    /// `parentcontactid`.
    pub parent_contact: Option<Uuid>,
    /// `transactioncurrencyid`: the currency row (look it up by `isocurrencycode`).
    pub currency: Option<Uuid>,
    /// `statecode`.
    pub state: Option<OpportunityState>,
    /// `statuscode`.
    pub status_reason: Option<OpportunityStatusReason>,
    /// *Configured* "Sync with Partner Center": the seller shares the deal.
    pub sync: Option<bool>,
    /// *Configured* "Referral Identifier".
    pub referral_id: Option<String>,
    /// *Configured* "Referral Link".
    pub referral_link: Option<String>,
    /// *Configured* "How can Microsoft help?"; `None` means not co-sell. Option values come from
    /// [`CrmConfig::help_options`]; writing [`AssistanceRequestCode::Unknown`] clears the column.
    pub help: Option<AssistanceRequestCode>,
    /// *Configured* "Referral Visibility": shared with Microsoft (one-way).
    pub visible: Option<bool>,
    /// *Configured* "Microsoft CRM Identifier" (`trackingInfo.microsoftMsxId`).
    pub microsoft_crm_id: Option<String>,
    /// *Configured* "Audit": the sync log, newest first.
    pub audit: Option<String>,
    /// The *configured* Services co-sell columns, read only.
    pub services: Services,
    /// The *configured* marketplace purchase intent column, read only.
    pub marketplace_intent: Option<String>,
    /// Columns of the mapping document's fields, written as they are (`null` clears).
    pub mapped: MappedValues,
}

/// What Partner Center requires of Services co-sell referrals only, as the CRM holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    pub partner_role: Option<String>,
    pub solution_area: Option<String>,
    pub solution_play: Option<String>,
}

/// `statecode` of an opportunity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpportunityState {
    Open,
    Won,
    Lost,
}

impl OpportunityState {
    /// The option value: 0 Open, 1 Won, 2 Lost.
    pub fn value(self) -> i64 {
        match self {
            Self::Open => 0,
            Self::Won => 1,
            Self::Lost => 2,
        }
    }

    /// The state of an option value; `None` for a value the platform does not define.
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::Open),
            1 => Some(Self::Won),
            2 => Some(Self::Lost),
            _ => None,
        }
    }
}

/// `statuscode` ("Status Reason") of an opportunity. Organisations add their own reasons, so a
/// value beyond the platform's five is kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpportunityStatusReason {
    /// 1, with Open.
    InProgress,
    /// 2, with Open.
    OnHold,
    /// 3, with Won.
    Won,
    /// 4, with Lost.
    Canceled,
    /// 5, with Lost.
    OutSold,
    /// A custom status reason.
    Other(i64),
}

impl OpportunityStatusReason {
    /// The option value.
    pub fn value(self) -> i64 {
        match self {
            Self::InProgress => 1,
            Self::OnHold => 2,
            Self::Won => 3,
            Self::Canceled => 4,
            Self::OutSold => 5,
            Self::Other(value) => value,
        }
    }

    /// The reason of an option value.
    pub fn from_value(value: i64) -> Self {
        match value {
            1 => Self::InProgress,
            2 => Self::OnHold,
            3 => Self::Won,
            4 => Self::Canceled,
            5 => Self::OutSold,
            other => Self::Other(other),
        }
    }
}

impl CrmRow for Opportunity {
    const ENTITY_SET: &'static str = "opportunities";
    const KEY: &'static str = "opportunityid";

    fn columns(config: &CrmConfig) -> Vec<String> {
        let cosell = &config.columns;
        let services = &config.services;
        let optional = [
            &services.partner_role,
            &services.solution_area,
            &services.solution_play,
            &config.marketplace_intent_column,
        ];
        let mut columns = vec![
            Self::KEY.to_owned(),
            "name".to_owned(),
            config.deal_value_column.clone(),
            "estimatedclosedate".to_owned(),
            "description".to_owned(),
            lookup_column("customerid"),
            lookup_column("parentaccountid"),
            lookup_column("parentcontactid"),
            lookup_column("transactioncurrencyid"),
            "statecode".to_owned(),
            "statuscode".to_owned(),
            cosell.sync.clone(),
            cosell.referral_id.clone(),
            cosell.referral_link.clone(),
            cosell.help.clone(),
            cosell.visibility.clone(),
            cosell.msx_id.clone(),
            cosell.audit.clone(),
        ];
        columns.extend(optional.into_iter().flatten().cloned());
        columns.extend(
            config
                .mapping
                .outbound(Table::Opportunity)
                .map(|f| f.column.clone()),
        );
        columns
    }

    fn from_row(row: &Row, config: &CrmConfig) -> Result<Self, MappingError> {
        let read = Reader(row);
        let cosell = &config.columns;
        let state = match read.int("statecode")? {
            None => None,
            Some(value) => Some(OpportunityState::from_value(value).ok_or_else(|| {
                MappingError::InvalidColumn {
                    column: "statecode".into(),
                    expected: "an opportunity state (0 Open, 1 Won, 2 Lost)",
                    value: value.into(),
                }
            })?),
        };
        let help = match read.int(&cosell.help)? {
            None => None,
            Some(value) => Some(config.help_options.code(value).cloned().ok_or_else(|| {
                MappingError::UnknownHelpOption {
                    column: cosell.help.clone(),
                    value,
                }
            })?),
        };
        Ok(Self {
            id: read.guid(Self::KEY)?,
            etag: read.etag()?,
            name: read.text("name")?,
            deal_value: read.decimal(&config.deal_value_column)?,
            estimated_close_date: read.date("estimatedclosedate")?,
            description: read.text("description")?,
            customer: read.customer("customerid")?,
            parent_account: read.lookup("parentaccountid")?,
            parent_contact: read.lookup("parentcontactid")?,
            currency: read.lookup("transactioncurrencyid")?,
            state,
            status_reason: read
                .int("statuscode")?
                .map(OpportunityStatusReason::from_value),
            sync: read.flag(&cosell.sync)?,
            referral_id: read.text(&cosell.referral_id)?,
            referral_link: read.text(&cosell.referral_link)?,
            help,
            visible: read.flag(&cosell.visibility)?,
            microsoft_crm_id: read.text(&cosell.msx_id)?,
            audit: read.text(&cosell.audit)?,
            services: {
                let (services, choices) = (&config.services, &config.services_choices);
                Services {
                    partner_role: read.text_or_choice(services.partner_role.as_deref(), choices)?,
                    solution_area: read
                        .text_or_choice(services.solution_area.as_deref(), choices)?,
                    solution_play: read
                        .text_or_choice(services.solution_play.as_deref(), choices)?,
                }
            },
            marketplace_intent: read.optional_text(config.marketplace_intent_column.as_deref())?,
            mapped: config
                .mapping
                .outbound(Table::Opportunity)
                .map(|f| {
                    let value = row.get(&f.column).and_then(canonical);
                    (f.column.clone(), value.unwrap_or_default())
                })
                .collect(),
        })
    }

    fn to_row(&self, config: &CrmConfig) -> Result<Row, MappingError> {
        let cosell = &config.columns;
        let mut row = Writer::default();
        row.put("name", self.name.clone());
        row.decimal(&config.deal_value_column, self.deal_value);
        row.date("estimatedclosedate", self.estimated_close_date);
        row.put("description", self.description.clone());
        row.customer("customerid", self.customer);
        row.bind("parentaccountid", Account::ENTITY_SET, self.parent_account);
        row.bind("parentcontactid", Contact::ENTITY_SET, self.parent_contact);
        row.bind(
            "transactioncurrencyid",
            "transactioncurrencies",
            self.currency,
        );
        row.put("statecode", self.state.map(OpportunityState::value));
        row.put(
            "statuscode",
            self.status_reason.map(OpportunityStatusReason::value),
        );
        row.put(&cosell.sync, self.sync);
        row.put(&cosell.referral_id, self.referral_id.clone());
        row.put(&cosell.referral_link, self.referral_link.clone());
        match &self.help {
            None => {}
            Some(AssistanceRequestCode::Unknown) => {
                row.put(&cosell.help, Some(serde_json::Value::Null))
            }
            Some(code) => {
                let value = config.help_options.value(code).ok_or_else(|| {
                    MappingError::UnmappedHelpCode {
                        column: cosell.help.clone(),
                        code: code.clone(),
                    }
                })?;
                row.put(&cosell.help, Some(value));
            }
        }
        row.put(&cosell.visibility, self.visible);
        row.put(&cosell.msx_id, self.microsoft_crm_id.clone());
        row.put(&cosell.audit, self.audit.clone());
        row.mapped(&self.mapped);
        Ok(row.finish())
    }
}
