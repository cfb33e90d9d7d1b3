//! Links: a row per referral; the UNIQUE `crm_id` column keeps a CRM record to one referral.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::error::{backend, decode, encode, version};
use crate::model::{CrmId, Link, ReferralId};
use crate::port::StoreError;

pub(super) fn by_referral(
    conn: &Connection,
    referral_id: &ReferralId,
) -> Result<Option<Link>, StoreError> {
    one(
        conn,
        "SELECT referral_id, body FROM links WHERE referral_id = ?1",
        referral_id.as_str(),
        "link_by_referral",
    )
}

pub(super) fn by_crm(conn: &Connection, crm_id: CrmId) -> Result<Option<Link>, StoreError> {
    one(
        conn,
        "SELECT referral_id, body FROM links WHERE crm_id = ?1",
        &crm_id.to_string(),
        "link_by_crm",
    )
}

fn one(
    conn: &Connection,
    sql: &str,
    key: &str,
    operation: &'static str,
) -> Result<Option<Link>, StoreError> {
    let row = conn
        .prepare_cached(sql)
        .and_then(|mut statement| {
            statement
                .query_row([key], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .optional()
        })
        .map_err(backend(operation))?;
    row.map(|(referral, body)| decode(format!("link {referral}"), &body))
        .transpose()
}

/// Checks the version and the CRM id's owner, then writes, all in one write transaction.
pub(super) fn put(conn: &mut Connection, link: &Link) -> Result<Link, StoreError> {
    const OP: &str = "put_link";
    let stored = Link {
        version: link.version + 1,
        ..link.clone()
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(OP))?;

    let current: Option<i64> = tx
        .query_row(
            "SELECT version FROM links WHERE referral_id = ?1",
            [link.referral_id.as_str()],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend(OP))?;
    if current.unwrap_or(0) != version(link.version, OP)? {
        return Err(StoreError::Conflict {
            what: format!("link for referral {}", link.referral_id),
        });
    }
    let holder: Option<String> = tx
        .query_row(
            "SELECT referral_id FROM links WHERE crm_id = ?1 AND referral_id <> ?2",
            [&link.crm_id.to_string(), link.referral_id.as_str()],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend(OP))?;
    if let Some(holder) = holder {
        return Err(StoreError::Conflict {
            what: format!("CRM record {} (linked to referral {holder})", link.crm_id),
        });
    }

    tx.execute(
        "INSERT INTO links (referral_id, crm_id, version, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (referral_id) DO UPDATE
         SET crm_id = excluded.crm_id, version = excluded.version, body = excluded.body",
        params![
            stored.referral_id.as_str(),
            stored.crm_id.to_string(),
            version(stored.version, OP)?,
            encode(&stored, OP)?
        ],
    )
    .map_err(backend(OP))?;
    tx.commit().map_err(backend(OP))?;
    Ok(stored)
}
