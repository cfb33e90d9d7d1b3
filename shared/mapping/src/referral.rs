//! The Partner Center referral resource (contract `partner-center.md` §4) and the list page (§3).
//!
//! Reading is tolerant because Microsoft changes the resource under us:
//! - every field is optional, and a null list reads as empty;
//! - keys this version does not know are kept in each object's `extra` and written back, so a
//!   GET → PUT round trip never drops what Microsoft added (`dealSensitivity`, `registrations`…);
//! - enum values it does not know are kept as `Other(…)` (see [`crate::enums`]).
//!
//! Writing leaves out fields that are `None` and lists that are empty, so the same types serve
//! as a create body. Timestamps are written as RFC 3339 UTC ([`crate::timestamp`]), amounts as
//! JSON numbers.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::enums::{
    AssistanceRequestCode, Direction, Qualification, ReferralType, Status, Substatus, TargetType,
};

/// Unknown keys of an object, kept as sent.
pub type Extra = Map<String, Value>;

/// A co-sell referral.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Referral {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Shared by related referrals (a partner's referral and Microsoft's connected one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Our CRM record id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_reference_id: Option<String>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_date_time: Option<OffsetDateTime>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date_time: Option<OffsetDateTime>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub accepted_date_time: Option<OffsetDateTime>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_date_time: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub substatus: Option<Substatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// `type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReferralType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualification: Option<Qualification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `eTag`: opaque, quotes included; send it back as `If-Match`.
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub target: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_profile: Option<CustomerProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
    /// The partner's sellers.
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub team: Vec<Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_context: Option<InviteContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_info: Option<TrackingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// `partnerRole`, `solutionArea`, `solutionPlay`: "required for Services co-sell referrals
    /// only" (create-a-referral); values from Microsoft's yearly taxonomy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_area: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_play: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Referral {
    /// `(status, substatus)` for [`crate::status::check_move`]; a missing value reads as `None`.
    pub fn state(&self) -> (Status, Substatus) {
        (
            self.status.clone().unwrap_or(Status::None),
            self.substatus.clone().unwrap_or(Substatus::None),
        )
    }

    /// `inviteContext.invitedBy.organizationId`: `msft` when Microsoft sent the referral.
    pub fn invited_by_organization_id(&self) -> Option<&str> {
        self.invite_context
            .as_ref()?
            .invited_by
            .as_ref()?
            .organization_id
            .as_deref()
    }
}

/// One page of `GET …/referrals`. Follow [`Self::next_link`] exactly as given: it is opaque.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReferralPage {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(deserialize_with = "null_as_empty")]
    pub value: Vec<Referral>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `target[]`: who the referral is for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// `type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<TargetType>,
    /// A solution profile id (`SOL-…`), or `msft`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `customerProfile`: the customer the deal is with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The customer's contacts.
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub team: Vec<Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<CustomerIds>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `customerProfile.address`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `customerProfile.ids`, which Partner Center sends in two shapes. The shape read is the shape
/// written back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerIds {
    /// `{"Duns": "…", "External": "…"}`
    ByType(Map<String, Value>),
    /// `[{"profileType": "Duns", "id": "…"}]`
    List(Vec<ProfileId>),
    /// Any other shape, kept as sent so it does not fail the referral; [`Self::get`] finds nothing.
    Unrecognised(Value),
}

impl Default for CustomerIds {
    fn default() -> Self {
        Self::ByType(Map::new())
    }
}

impl CustomerIds {
    /// The id of one kind (`"Duns"`, `"External"`), whichever shape arrived; kinds match ignoring
    /// ASCII case.
    pub fn get(&self, kind: &str) -> Option<&str> {
        match self {
            Self::ByType(map) => map
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(kind))
                .and_then(|(_, id)| id.as_str()),
            Self::List(list) => list
                .iter()
                .find(|entry| {
                    entry
                        .profile_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                })
                .and_then(|entry| entry.id.as_deref()),
            Self::Unrecognised(_) => None,
        }
    }
}

/// One entry of the list shape of [`CustomerIds`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileId {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A person: one of the partner's sellers, or a customer contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Member {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_preference: Option<ContactPreference>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `Member.contactPreference`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContactPreference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_notifications: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `consent`. Sharing with Microsoft sellers is one-way: once true, it stays true.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Consent {
    /// `consentToToShareInfoWithOthers`: Microsoft's spelling, kept as is.
    #[serde(
        rename = "consentToToShareInfoWithOthers",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent_to_share_info_with_others: Option<bool>,
    #[serde(rename = "consentToContact", skip_serializing_if = "Option::is_none")]
    pub consent_to_contact: Option<bool>,
    #[serde(
        rename = "consentToMicrosoftToContactSpecificPartners",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent_to_microsoft_to_contact_specific_partners: Option<bool>,
    /// False for a private deal, true for partner-led and co-sell deals.
    #[serde(
        rename = "consentToShareReferralWithMicrosoftSellers",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent_to_share_referral_with_microsoft_sellers: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `details`: the deal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Read from a JSON number or a numeric string; written as a number.
    #[serde(
        with = "crate::decimal::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deal_value: Option<Decimal>,
    /// ISO 4217.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub closing_date_time: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Requirements>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `details.requirements`. Only solutions have a documented shape; the other lists are kept as
/// raw JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Requirements {
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub industries: Vec<Value>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub products: Vec<Value>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub services: Vec<Value>,
    /// At least one is required before a co-sell referral can be created.
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub solutions: Vec<Solution>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub offers: Vec<Value>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sales_plays: Vec<Value>,
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<Value>,
    /// The connector's `additionalRequirements.attributes[{id, type}]`: the customer's
    /// marketplace purchase intent on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_requirements: Option<AdditionalRequirements>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `details.requirements.additionalRequirements`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdditionalRequirements {
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<Attribute>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `{id, type}` of `additionalRequirements.attributes`, e.g.
/// `{"type": "CustomerMarketplaceIntent", "id": "HaveNotDecided"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attribute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `details.requirements.solutions[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Solution {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `inviteContext`: who invited us and what they ask for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InviteContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<InvitedBy>,
    /// "How can Microsoft help?"; set means co-sell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assistance_request_code: Option<AssistanceRequestCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_mpn_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `inviteContext.invitedBy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InvitedBy {
    /// `msft` for Microsoft, else a partner's organization id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `trackingInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TrackingInfo {
    /// Microsoft's CRM id, once Microsoft engages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_msx_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `links`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Links {
    /// `self`.
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub self_link: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_referrals: Option<Link>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{uri, method}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Reads a list that the service may send as null.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
