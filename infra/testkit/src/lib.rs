//! What tests share, so a new test starts from one place:
//! - [`sim`]: the simulators, the real clients pointed at them, their counters;
//! - [`microsoft`]: what Microsoft does through the simulator's admin routes (seed, edit);
//! - [`referrals`] and [`crm`]: the referrals and the Dynamics 365 rows tests seed;
//! - [`stack`] (feature `stack`): the functions hosted on real sockets over one store — the system
//!   as deployed, with the scheduled jobs beside it;
//! - [`api`]: the simulator's API called raw, and a webhook receiver, for the simulator's own tests;
//! - [`process`]: the built `cosell` binary run with a deployment's settings.
//!
//! DynamoDB code is tested against moto's server, a real DynamoDB-compatible server started by
//! `infra/with-moto.sh`; a test that needs it and does not find it fails with the command to run,
//! rather than skipping and passing without testing anything.

pub mod api;
pub mod crm;
pub mod microsoft;
pub mod process;
pub mod referrals;
pub mod sim;
#[cfg(feature = "stack")]
pub mod stack;

use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::{Map, Value};
use tokio::time::Instant;

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

/// An HTTP client for the simulators' loopback sockets (no proxy from the environment).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `value`'s object (a Dataverse row, a patch); panics on anything else.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Polls `condition` until it holds; panics after 10 s.
pub async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    wait_within(what, Duration::from_secs(10), condition).await;
}

/// Polls `condition` until it holds; panics after `within`.
pub async fn wait_within(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
