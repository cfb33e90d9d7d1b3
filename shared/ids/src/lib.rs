//! The ids that cross crates, checked once when made, so the rest of the code never re-parses
//! or re-checks them: a Partner Center referral id ([`ReferralId`]) and a Dataverse row id
//! ([`CrmId`]). Both serialize as the strings they always were: no stored shape moves.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that cannot be one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a referral id is empty")]
    EmptyReferral,
    #[error("referral id '{0}' holds a character a URL path or a store key cannot carry as it is")]
    UnsafeReferral(String),
    #[error("'{0}' is not a Dataverse row id (a GUID)")]
    NotAGuid(String),
}

/// A Partner Center referral's `id`. Microsoft issues GUIDs but documents only a string, so any
/// string is taken that is not empty and is safe where cosell puts it — a URL path
/// (`…/referrals/{id}`), a store key, a log line: no whitespace, control character, `/`, `?`,
/// `#` or `%`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReferralId(String);

impl ReferralId {
    /// The id, checked; surrounding whitespace is not part of it.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id: String = id.into();
        let id = match id.trim() {
            trimmed if trimmed.len() == id.len() => id,
            trimmed => trimmed.to_owned(),
        };
        if id.is_empty() {
            return Err(IdError::EmptyReferral);
        }
        let unsafe_char = |c: char| c.is_whitespace() || c.is_control() || "/?#%".contains(c);
        if id.chars().any(unsafe_char) {
            return Err(IdError::UnsafeReferral(id));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for ReferralId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ReferralId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReferralId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ReferralId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl TryFrom<String> for ReferralId {
    type Error = IdError;

    fn try_from(id: String) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl TryFrom<&str> for ReferralId {
    type Error = IdError;

    fn try_from(id: &str) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl From<ReferralId> for String {
    fn from(id: ReferralId) -> String {
        id.0
    }
}

impl PartialEq<str> for ReferralId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for ReferralId {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<ReferralId> for String {
    fn eq(&self, other: &ReferralId) -> bool {
        *self == other.0
    }
}

impl PartialEq<&str> for ReferralId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A Dataverse row id: a GUID, written lower-case and hyphenated as Dataverse answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CrmId(Uuid);

impl CrmId {
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for CrmId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<CrmId> for Uuid {
    fn from(id: CrmId) -> Uuid {
        id.0
    }
}

impl FromStr for CrmId {
    type Err = IdError;

    fn from_str(id: &str) -> Result<Self, IdError> {
        Uuid::try_parse(id.trim())
            .map(Self)
            .map_err(|_| IdError::NotAGuid(id.to_owned()))
    }
}

impl fmt::Display for CrmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referral_id_is_any_string_safe_in_a_path_and_a_key() {
        let id = ReferralId::new(" 7f3c1d6e-0d2a-4c3b-9a51-1e2f3a4b5c6d ").unwrap();
        assert_eq!(id, "7f3c1d6e-0d2a-4c3b-9a51-1e2f3a4b5c6d");
        assert!(ReferralId::new("ref-42_A.b").is_ok());
        assert_eq!(ReferralId::new("  "), Err(IdError::EmptyReferral));
        for bad in ["a/b", "a?b", "a#b", "a%2Fb", "a b", "a\nb"] {
            assert!(
                matches!(ReferralId::new(bad), Err(IdError::UnsafeReferral(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn both_serialize_as_the_strings_they_were_and_refuse_what_they_cannot_be() {
        let id: ReferralId = serde_json::from_str("\"abc-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc-1\"");
        assert!(serde_json::from_str::<ReferralId>("\"a/b\"").is_err());
        let guid = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";
        let crm: CrmId = guid.parse().unwrap();
        assert_eq!(crm.to_string(), guid.to_lowercase());
        assert_eq!(
            serde_json::to_string(&crm).unwrap(),
            format!("\"{}\"", guid.to_lowercase())
        );
        assert!(matches!("nope".parse::<CrmId>(), Err(IdError::NotAGuid(_))));
    }
}
