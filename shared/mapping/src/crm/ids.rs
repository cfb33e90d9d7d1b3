//! Deterministic ids for the rows created for a referral: a UUIDv5 of the referral id, in a
//! namespace per table. A create that is retried (after a timeout, a crash before the link was
//! stored, a concurrent delivery) PATCH-upserts the same row instead of adding a second one.

use uuid::Uuid;

/// cosell's own UUIDv5 namespace (a UUIDv5 of the URL namespace and `urn:cosell:inbound`).
fn cosell_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:cosell:inbound")
}

/// The id of the `entity_set` row created for `referral_id`, e.g.
/// `record_id("opportunities", "7f3c…")`. Same inputs, same id, on every machine.
pub fn record_id(entity_set: &str, referral_id: &str) -> Uuid {
    let table = Uuid::new_v5(&cosell_namespace(), entity_set.as_bytes());
    Uuid::new_v5(&table, referral_id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_per_table_and_referral() {
        let a = record_id("opportunities", "r-1");
        assert_eq!(a, record_id("opportunities", "r-1"));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, record_id("accounts", "r-1"));
        assert_ne!(a, record_id("opportunities", "r-2"));
        // Pinned: a change here would orphan every row created before it.
        assert_eq!(
            record_id("opportunities", "7f3c2d1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f").to_string(),
            "731bc5d8-834c-5947-bacd-e1d95eec4280"
        );
    }
}
