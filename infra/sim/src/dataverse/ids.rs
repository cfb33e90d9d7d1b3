//! Stable ids: the same name gives the same row id on every run, so the simulator's seeded rows
//! (the application user, the SDK messages and filters) match across restarts.

use sha2::Digest;
use uuid::Uuid;

/// A stable id per name, so runs and restarts agree.
pub fn stable_id(name: &str) -> Uuid {
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

pub fn message_id(message: &str) -> Uuid {
    stable_id(&format!("sdkmessage:{message}"))
}

pub fn filter_id(message: &str, table: &str) -> Uuid {
    stable_id(&format!("sdkmessagefilter:{message}:{table}"))
}
