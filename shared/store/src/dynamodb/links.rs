//! Links and their CRM claims (see the module table): two items per link, always written together.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::DynamoStore;
use super::attrs::{BODY, Item, PK, SK, decode, encode, n, s, write_token};
use super::error::{backend, build, lost_race};
use crate::model::{CrmId, Link, ReferralId};
use crate::port::StoreError;

const LINK: &str = "link";
const CRM: &str = "crm";

fn link_pk(referral_id: &ReferralId) -> String {
    format!("link#{referral_id}")
}

fn crm_pk(crm_id: CrmId) -> String {
    format!("crm#{crm_id}")
}

pub(super) async fn by_referral(
    store: &DynamoStore,
    referral_id: &ReferralId,
    operation: &'static str,
) -> Result<Option<Link>, StoreError> {
    get(store, link_pk(referral_id), LINK, operation).await
}

pub(super) async fn by_crm(store: &DynamoStore, crm_id: CrmId) -> Result<Option<Link>, StoreError> {
    get(store, crm_pk(crm_id), CRM, "link_by_crm").await
}

async fn get(
    store: &DynamoStore,
    pk: String,
    sk: &str,
    operation: &'static str,
) -> Result<Option<Link>, StoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key(PK, s(pk))
        .key(SK, s(sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| backend(operation, &e))?;
    output.item().map(decode).transpose()
}

/// One transaction: the link (conditioned on its version), the claim on its CRM id (free or
/// already this referral's), and, when the CRM id changed, the release of the old claim.
pub(super) async fn put(store: &DynamoStore, link: &Link) -> Result<Link, StoreError> {
    const OP: &str = "put_link";
    let stored = Link {
        version: link.version + 1,
        ..link.clone()
    };
    let body = encode(&stored, OP)?;
    let referral = &link.referral_id;
    let conflict_on_link = || StoreError::Conflict {
        what: format!("link for referral {referral}"),
    };

    let old_claim = if link.version == 0 {
        None
    } else {
        match by_referral(store, referral, OP).await? {
            Some(current) if current.version == link.version => {
                (current.crm_id != link.crm_id).then_some(current.crm_id)
            }
            _ => return Err(conflict_on_link()),
        }
    };

    let mut link_item = Put::builder()
        .table_name(&store.table)
        .item(PK, s(link_pk(referral)))
        .item(SK, s(LINK))
        .item("version", n(stored.version))
        .item("crm_id", s(stored.crm_id.to_string()))
        .item(BODY, body.clone());
    link_item = if link.version == 0 {
        link_item
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
    } else {
        link_item
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(link.version))
    };
    let claim = Put::builder()
        .table_name(&store.table)
        .item(PK, s(crm_pk(stored.crm_id)))
        .item(SK, s(CRM))
        .item("referral_id", s(referral.as_str()))
        .item(BODY, body)
        .condition_expression("attribute_not_exists(#pk) OR #referral = :referral")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#referral", "referral_id")
        .expression_attribute_values(":referral", s(referral.as_str()));

    let mut writes = vec![
        TransactWriteItem::builder()
            .put(link_item.build().map_err(build(OP))?)
            .build(),
        TransactWriteItem::builder()
            .put(claim.build().map_err(build(OP))?)
            .build(),
    ];
    if let Some(old) = &old_claim {
        let release = Delete::builder()
            .table_name(&store.table)
            .set_key(Some(Item::from([
                (PK.to_owned(), s(crm_pk(*old))),
                (SK.to_owned(), s(CRM)),
            ])))
            // Already gone is fine; taken over by another referral is not ours to delete.
            .condition_expression("attribute_not_exists(#pk) OR #referral = :referral")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#referral", "referral_id")
            .expression_attribute_values(":referral", s(referral.as_str()))
            .build()
            .map_err(build(OP))?;
        writes.push(TransactWriteItem::builder().delete(release).build());
    }

    match store
        .client
        .transact_write_items()
        .set_transact_items(Some(writes))
        .client_request_token(write_token())
        .send()
        .await
    {
        Ok(_) => Ok(stored),
        Err(e) => Err(match lost_race(&e) {
            Some(1) => StoreError::Conflict {
                what: format!(
                    "CRM record {} (linked to another referral than {referral})",
                    stored.crm_id
                ),
            },
            Some(_) => conflict_on_link(),
            None => backend(OP, &e),
        }),
    }
}
