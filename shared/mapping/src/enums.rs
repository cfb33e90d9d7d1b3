//! The referral's string enums (contract `partner-center.md` §4).
//!
//! Microsoft adds values over time. A value this version does not know must not fail the whole
//! referral, so every enum has an `Other(String)` variant that keeps the value as sent and writes
//! it back unchanged. Known values are matched ignoring ASCII case and written in the contract's
//! spelling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string enum with an `Other(String)` catch-all and its string/serde conversions.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know, kept exactly as sent.
            Other(String),
        }

        impl $name {
            /// Every value this version knows, in contract order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as Partner Center spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    Self::Other(value) => value,
                }
            }

            /// False for [`Self::Other`]: a value this version cannot reason about.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $(
                    if value.eq_ignore_ascii_case(stringify!($variant)) {
                        return Self::$variant;
                    }
                )+
                Self::Other(value.to_owned())
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Ok(Self::from(value.as_str()))
            }
        }
    };
}

open_enum! {
    /// `status`: where a referral is in its life (see [`crate::status`]).
    Status { None, New, Active, Closed }
}

open_enum! {
    /// `substatus`: the detail of [`Status`]; which ones a status allows is in [`crate::status`].
    Substatus { None, Pending, Received, Accepted, Won, Lost, Declined, Expired }
}

open_enum! {
    /// `type`: `Independent` (the partner alone) or `Shared` (co-sell with Microsoft).
    ReferralType { Independent, Shared }
}

open_enum! {
    /// `qualification`: how far the lead was qualified before it reached the partner.
    Qualification { None, Direct, MarketingQualified, SalesQualified }
}

open_enum! {
    /// `direction`: `Incoming` (sent to us) or `Outgoing` (sent by us).
    Direction { Incoming, Outgoing }
}

open_enum! {
    /// `inviteContext.assistanceRequestCode`, the "How can Microsoft help?" answer.
    /// In the CRM it is a choice column whose option values come from
    /// [`crate::custom::HelpOptions`].
    AssistanceRequestCode {
        Unknown,
        GeneralOrOther,
        CustomerTechnicalArchitecture,
        ProofOfConceptOrDemo,
        QuotesOrLicensing,
        PostSalesCustomerSuccess,
        WorkloadSpecificValueProposition,
    }
}

open_enum! {
    /// `target[].type`: a partner's solution profile, or Microsoft (`BusinessProfileLocation`, id `msft`).
    TargetType { SolutionProfile, BusinessProfileLocation }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_match_ignoring_case_and_write_contract_spelling() {
        let status: Status = serde_json::from_str("\"active\"").unwrap();
        assert_eq!(status, Status::Active);
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"Active\"");
    }

    #[test]
    fn unknown_values_round_trip_unchanged() {
        let substatus: Substatus = serde_json::from_str("\"OnHoldByMicrosoft\"").unwrap();
        assert_eq!(substatus, Substatus::Other("OnHoldByMicrosoft".into()));
        assert!(!substatus.is_known());
        assert_eq!(
            serde_json::to_string(&substatus).unwrap(),
            "\"OnHoldByMicrosoft\""
        );
    }

    #[test]
    fn known_lists_every_contract_value() {
        let names: Vec<&str> = AssistanceRequestCode::KNOWN
            .iter()
            .map(AssistanceRequestCode::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "Unknown",
                "GeneralOrOther",
                "CustomerTechnicalArchitecture",
                "ProofOfConceptOrDemo",
                "QuotesOrLicensing",
                "PostSalesCustomerSuccess",
                "WorkloadSpecificValueProposition",
            ]
        );
        assert_eq!(Substatus::KNOWN.len(), 8);
        assert_eq!(
            "BusinessProfileLocation".parse::<TargetType>(),
            Ok(TargetType::BusinessProfileLocation)
        );
    }
}
