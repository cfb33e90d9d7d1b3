//! The canonical deal: the fields kept in sync after a referral exists, read the same way from a
//! Partner Center referral and from a Dynamics 365 opportunity, and hashed the same way.
//!
//! This is what stops ping-pong. Each side's write is compared, as a [`DealState`], with the
//! state both sides last agreed on (`Link.deal` / `Link.outbound_hash`): a write that changes
//! nothing here (our own write-backs of referral id, link, ✔ and Audit; an inbound write of what
//! the referral already says) produces the same hash and sends nothing.
//!
//! | field | referral | opportunity |
//! |---|---|---|
//! | `name` | `name`, else `customerProfile.name` (as inbound names the record), without ✔/✖, trimmed | `name` without ✔/✖, trimmed |
//! | `deal_value` | `details.dealValue` | the configured deal-value column |
//! | `currency` | `details.currency`, upper case | `transactioncurrencyid`'s `isocurrencycode`, upper case |
//! | `close_date` | `details.closingDateTime`, its UTC date | `estimatedclosedate` |
//! | `notes` | `details.notes`, trimmed | `description`, trimmed |
//! | `visible` | `consent.consentToShareReferralWithMicrosoftSellers` | "Referral Visibility" |
//! | `status` | see [`DealStatus::of_referral`] | see [`DealStatus::of_opportunity`] |
//!
//! Mapped fields ([`crate::custom`]) ride along in [`DealState::mapped`], by column, in the
//! CRM's terms (a referral's value through the field's value map), each side holding the fields
//! it reads. They stay out of [`DealState::hash`] (so no stored hash moved when they came),
//! and a column the agreed state does not hold yet counts as agreed ([`DealState::mapped_changed`]):
//! mapping a field writes nothing until Microsoft changes it, or `cosell backfill --mapped` asks.
//!
//! Empty text reads as absent; amounts are normalised (`1000.00` = `1000`), so formatting never
//! makes two equal deals differ.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, UtcOffset};

use crate::crm::{OpportunityState, OpportunityStatusReason};
use crate::custom::{MappedValues, Mapping, Table};
use crate::enums::{Direction, Status, Substatus};
use crate::marks::base_name;
use crate::referral::Referral;

/// Where a deal is, in terms both sides can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DealStatus {
    /// Waiting for the partner to accept (an incoming referral still New; opportunity Open with
    /// statuscode 2 On Hold).
    OnHold,
    /// Being worked (referral Active; opportunity Open with any other statuscode).
    InProgress,
    /// Referral Closed/Won; opportunity Won.
    Won,
    /// Referral Closed/Lost, Declined or Expired; opportunity Lost (Canceled or Out-Sold).
    Lost,
}

impl DealStatus {
    /// The status of a referral:
    ///
    /// | referral | deal |
    /// |---|---|
    /// | New, incoming (or no direction) | OnHold |
    /// | New, **outgoing** | InProgress |
    /// | Active | InProgress |
    /// | Closed/Won | Won |
    /// | Closed/Lost, Declined, Expired | Lost |
    /// | None, unknown values | `None` (nothing to compare) |
    ///
    /// An outgoing referral (ours) that is still New waits on Microsoft, not on the seller: the
    /// inbound sync leaves the opportunity's status alone for it, so reading it as OnHold would
    /// make the seller's untouched "In Progress" look like an accept to send.
    pub fn of_referral(referral: &Referral) -> Option<Self> {
        let (status, substatus) = referral.state();
        match (status, substatus) {
            (Status::New, _) if referral.direction == Some(Direction::Outgoing) => {
                Some(Self::InProgress)
            }
            (Status::New, _) => Some(Self::OnHold),
            (Status::Active, _) => Some(Self::InProgress),
            (Status::Closed, Substatus::Won) => Some(Self::Won),
            (Status::Closed, Substatus::Lost | Substatus::Declined | Substatus::Expired) => {
                Some(Self::Lost)
            }
            _ => None,
        }
    }

    /// The status of an opportunity from `statecode` and `statuscode`: Open + 2 On Hold →
    /// OnHold, Open + anything else → InProgress, Won → Won, Lost → Lost. Without `statecode`
    /// the status reason decides (1 → InProgress, 2 → OnHold, 3 → Won, 4/5 → Lost); with
    /// neither, `None`.
    pub fn of_opportunity(
        state: Option<OpportunityState>,
        reason: Option<OpportunityStatusReason>,
    ) -> Option<Self> {
        use OpportunityStatusReason as R;
        match (state, reason) {
            (Some(OpportunityState::Open), Some(R::OnHold)) => Some(Self::OnHold),
            (Some(OpportunityState::Open), _) => Some(Self::InProgress),
            (Some(OpportunityState::Won), _) => Some(Self::Won),
            (Some(OpportunityState::Lost), _) => Some(Self::Lost),
            (None, Some(R::OnHold)) => Some(Self::OnHold),
            (None, Some(R::InProgress)) => Some(Self::InProgress),
            (None, Some(R::Won)) => Some(Self::Won),
            (None, Some(R::Canceled | R::OutSold)) => Some(Self::Lost),
            (None, _) => None,
        }
    }

    /// True for Won and Lost.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Won | Self::Lost)
    }
}

/// The fields kept in sync after creation, canonical. Stored as JSON in `Link.deal`; its
/// [`Self::hash`] is `Link.outbound_hash`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealState {
    /// The name without ✔/✖, trimmed.
    pub name: Option<String>,
    /// Normalised (no trailing zeros).
    #[serde(with = "amount")]
    pub deal_value: Option<Decimal>,
    /// ISO 4217, upper case.
    pub currency: Option<String>,
    /// The closing date (UTC date of `closingDateTime`).
    #[serde(with = "date")]
    pub close_date: Option<Date>,
    /// Notes / description, trimmed.
    pub notes: Option<String>,
    /// Shared with Microsoft sellers.
    pub visible: bool,
    pub status: Option<DealStatus>,
    /// Mapped columns and their values in the CRM's terms: read from the referral, the fields
    /// that come in; read from the row, those that go out.
    #[serde(default, skip_serializing_if = "MappedValues::is_empty")]
    pub mapped: MappedValues,
    /// The mapping document version `mapped` was read under. A process running an older one
    /// leaves the mapped fields to a newer process, so two versions never undo each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_version: Option<u64>,
}

/// The deal fields that differ between two [`DealState`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangedFields {
    pub name: bool,
    pub deal_value: bool,
    pub currency: bool,
    pub close_date: bool,
    pub notes: bool,
    pub visible: bool,
    pub status: bool,
}

impl ChangedFields {
    pub const ALL: ChangedFields = ChangedFields {
        name: true,
        deal_value: true,
        currency: true,
        close_date: true,
        notes: true,
        visible: true,
        status: true,
    };
}

impl DealState {
    /// The deal as a referral states it.
    pub fn from_referral(referral: &Referral) -> Self {
        let details = referral.details.as_ref();
        let customer_name = referral
            .customer_profile
            .as_ref()
            .and_then(|c| text(c.name.as_deref()));
        Self {
            name: text(referral.name.as_deref())
                .or(customer_name)
                .and_then(|name| text(Some(base_name(&name)))),
            deal_value: details.and_then(|d| d.deal_value).map(|v| v.normalize()),
            currency: code(details.and_then(|d| d.currency.as_deref())),
            close_date: details
                .and_then(|d| d.closing_date_time)
                .map(|at| at.to_offset(UtcOffset::UTC).date()),
            notes: text(details.and_then(|d| d.notes.as_deref())),
            visible: referral
                .consent
                .as_ref()
                .and_then(|c| c.consent_to_share_referral_with_microsoft_sellers)
                .unwrap_or(false),
            status: DealStatus::of_referral(referral),
            mapped: MappedValues::new(),
            mapping_version: None,
        }
    }

    /// The same state with the referral's values of `table`'s inbound mapped fields: one entry
    /// per mapped column, `null` where the referral has no value for it.
    pub fn with_mapped(mut self, referral: &Referral, mapping: &Mapping, table: Table) -> Self {
        let mut fields = mapping.inbound(table).peekable();
        if fields.peek().is_none() {
            return self;
        }
        let json = serde_json::to_value(referral).unwrap_or_default();
        // A value the value map does not list leaves its column out: neither written nor
        // compared (an absent one reads as empty, and is written so).
        self.mapped = fields
            .filter_map(|f| match f.read_referral(&json) {
                Some(value) => Some((f.column.clone(), value)),
                None if f.holds(&json) => None,
                None => Some((f.column.clone(), serde_json::Value::Null)),
            })
            .collect();
        self.mapping_version = Some(mapping.version);
        self
    }

    /// The mapped columns whose value moved since `agreed`. A column `agreed` does not hold
    /// (stored before it was mapped) counts as agreed, unless `all` asks for every value the
    /// CRM may lack. Columns no longer mapped are left alone.
    pub fn mapped_changed(&self, agreed: Option<&DealState>, all: bool) -> Vec<String> {
        let agreed = agreed.map(|a| &a.mapped);
        self.mapped
            .iter()
            .filter(
                |(column, value)| match agreed.and_then(|a| a.get(*column)) {
                    None => all && !value.is_null(),
                    Some(before) => before != *value,
                },
            )
            .map(|(column, _)| column.clone())
            .collect()
    }

    /// Takes from `other` the fields a referral's JSON path carries (`/name`, `/details` or one
    /// of its members, `/consent`, `/status`): a change Partner Center did not take leaves them
    /// as it holds them.
    pub fn keep_from(&mut self, path: &str, other: &DealState) {
        let details = |member: &str| path == "/details" || path == format!("/details/{member}");
        if path == "/name" {
            self.name.clone_from(&other.name);
        }
        if details("dealValue") {
            self.deal_value = other.deal_value;
        }
        if details("currency") {
            self.currency.clone_from(&other.currency);
        }
        if details("closingDateTime") {
            self.close_date = other.close_date;
        }
        if details("notes") {
            self.notes.clone_from(&other.notes);
        }
        if path.starts_with("/consent") {
            self.visible = other.visible;
        }
        if path == "/status" || path == "/substatus" {
            self.status = other.status;
        }
    }

    /// `sha-256` hex of the canonical JSON of this state: same deal, same hash, on either side.
    pub fn hash(&self) -> String {
        let state = Self {
            mapped: MappedValues::new(),
            mapping_version: None,
            ..self.normalised()
        };
        let canonical = serde_json::to_string(&state)
            // A struct of strings, bools and unit variants always serialises.
            .unwrap_or_default();
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The fields that differ from `base`, compared as they are (normalise both first where
    /// the two may be written differently). Both plans use it: inbound writes the fields
    /// Microsoft changed since the agreed deal, outbound sends those the seller changed.
    pub fn changed_from(&self, base: &DealState) -> ChangedFields {
        ChangedFields {
            name: self.name != base.name,
            deal_value: self.deal_value != base.deal_value,
            currency: self.currency != base.currency,
            close_date: self.close_date != base.close_date,
            notes: self.notes != base.notes,
            visible: self.visible != base.visible,
            status: self.status != base.status,
        }
    }

    /// The same state with every field in canonical form (for a state built by hand or read
    /// back from storage).
    pub fn normalised(&self) -> Self {
        Self {
            name: self
                .name
                .as_deref()
                .and_then(|name| text(Some(base_name(name)))),
            deal_value: self.deal_value.map(|v| v.normalize()),
            currency: code(self.currency.as_deref()),
            close_date: self.close_date,
            notes: text(self.notes.as_deref()),
            visible: self.visible,
            status: self.status,
            mapped: self.mapped.clone(),
            mapping_version: self.mapping_version,
        }
    }
}

/// Trimmed text; empty reads as absent.
pub(crate) fn text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A code, trimmed and upper case.
pub(crate) fn code(value: Option<&str>) -> Option<String> {
    text(value).map(|v| v.to_ascii_uppercase())
}

/// `Option<Decimal>` as a normalised decimal string (`"1000"`, `"12.5"`): exact, unlike a float.
mod amount {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&value.normalize().to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => crate::decimal::from_value(&value)
                .map(|v| Some(v.normalize()))
                .ok_or_else(|| serde::de::Error::custom(format!("not an amount: {value}"))),
        }
    }
}

/// `Option<Date>` as `YYYY-MM-DD`.
mod date {
    use super::*;
    use serde::{Deserializer, Serializer};
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Date>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => {
                serializer.serialize_str(&value.format(FORMAT).map_err(serde::ser::Error::custom)?)
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| Date::parse(&text, FORMAT).map_err(serde::de::Error::custom))
            .transpose()
    }
}
