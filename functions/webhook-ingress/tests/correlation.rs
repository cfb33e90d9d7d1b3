//! One correlation id per sync, on every Partner Center request the sync makes.

use cosell_testkit::stack::Stack;

#[tokio::test]
async fn each_sync_sends_its_own_correlation_id() {
    let stack = Stack::inbound().await;
    let first = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    let second = stack
        .seed_cosell("Contoso Ltd", "10001", "li@contoso.example")
        .await;
    stack.wait_delivered(2).await;
    let reads = stack.sim.state.pc.requests.all();
    let correlation_of = |referral: &str| {
        let ids: Vec<_> = reads
            .iter()
            .filter(|r| r.method == "GET" && r.uri.ends_with(referral))
            .map(|r| r.correlation_id.clone())
            .collect();
        assert!(!ids.is_empty(), "no read of {referral}: {reads:?}");
        assert!(ids.iter().all(Option::is_some), "{ids:?}");
        ids[0].clone().unwrap()
    };
    let (a, b) = (correlation_of(&first), correlation_of(&second));
    assert_ne!(a, b, "two syncs, two ids");
    assert!(uuid::Uuid::try_parse(&a).is_ok(), "{a}");
    // Requests outside a sync (the webhook registration at start) carry none.
    assert!(
        reads
            .iter()
            .filter(|r| r.uri.contains("registration"))
            .all(|r| r.correlation_id.is_none())
    );
}
