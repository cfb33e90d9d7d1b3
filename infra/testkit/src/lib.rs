//! What tests share: [`sim`], the simulators with clients pointed at them; [`stack`], the pieces
//! of a running stack every function's tests use. DynamoDB code is tested against moto's server, a real DynamoDB-compatible
//! server started by `infra/with-moto.sh`; a test that needs it and does not find it fails with
//! the command to run, rather than skipping and passing without testing anything.

pub mod sim;
pub mod stack;

use aws_sdk_dynamodb::config::{Credentials, Region};

/// The variable `infra/with-moto.sh` sets.
pub const DYNAMODB_URL_VAR: &str = "COSELL_TEST_DYNAMODB_URL";

/// moto's endpoint, or a panic naming the fix.
pub fn dynamodb_url() -> String {
    std::env::var(DYNAMODB_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{DYNAMODB_URL_VAR} is not set: this test needs moto's DynamoDB server. \
             Run the tests as `infra/with-moto.sh cargo test --workspace`."
        )
    })
}

/// AWS configuration pointing at moto, with dummy credentials (moto accepts any). moto serves
/// every service on one port.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(dynamodb_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A DynamoDB client for moto.
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws_config().await)
}

/// A table name no other test uses, so tests can run in parallel against one server.
pub fn unique_table(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A referral id a test names (a checked [`cosell_store::ReferralId`]; panics on one that cannot
/// be, which a test never names).
pub fn rid(id: &str) -> cosell_store::ReferralId {
    cosell_store::ReferralId::new(id).expect("a test's referral id")
}

/// A Dataverse row id a test names.
pub fn cid(id: impl std::fmt::Display) -> cosell_store::CrmId {
    id.to_string().parse().expect("a test's row id")
}
