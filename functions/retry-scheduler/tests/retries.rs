//! The retry scheduler over real sockets: the Dataverse simulator fails, parked work backs off on
//! the configured schedule (asserted with a controlled clock), and converges once it heals; work
//! that can never succeed goes dead at once; `replay` brings dead work back once fixed.

use cosell_mapping::CrmConfig;
use cosell_mapping::inbound::record_id;
use cosell_sim::faults::{FaultSettings, Service};
use cosell_store::{RetryState, SyncStore};
use cosell_sync::Handled;
use cosell_sync::activity::{self, SyncDirection};
use cosell_sync::retry::{LEASE, Redone};
use time::{Duration, OffsetDateTime};

use cosell_testkit::stack::Stack;
use cosell_testkit::stack::stepped_backoff;

fn outage(stack: &cosell_testkit::stack::Stack, down: bool) {
    let settings = FaultSettings {
        rate_500: if down { 1.0 } else { 0.0 },
        ..FaultSettings::default()
    };
    stack.sim.state.faults.set(Service::Dataverse, settings);
}

#[tokio::test]
async fn an_outage_backs_off_on_schedule_and_converges_when_dataverse_heals() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    outage(&stack, true);
    let mut ids = Vec::new();
    for (customer, email) in [
        ("Fabrikam, Inc.", "dana@fabrikam.example"),
        ("Contoso Ltd", "li@contoso.example"),
        ("Tailspin Toys", "ana@tailspin.example"),
    ] {
        ids.push(stack.seed_cosell(customer, "98052", email).await);
    }
    // Each webhook was answered 200: the event is parked, not lost.
    stack.wait_delivered(3).await;
    let mut clock = OffsetDateTime::UNIX_EPOCH;
    for id in &ids {
        let parked = stack
            .parked_referral(id)
            .await
            .expect("parked by the webhook");
        assert_eq!((parked.state, parked.attempts), (RetryState::Pending, 1));
        clock = clock.max(parked.due_at);
    }

    // Attempt n fails: due again after min(10 s · 2^(n−1), 40 s).
    for (attempts, wait) in [(2, 20), (3, 40), (4, 40)] {
        let report = app.retries.run(clock).await.unwrap();
        assert_eq!(report.redone.len(), 3, "{report:?}");
        assert_eq!(report.done(), 0);
        for id in &ids {
            let parked = stack.parked_referral(id).await.unwrap();
            assert_eq!(parked.attempts, attempts);
            assert_eq!(parked.state, RetryState::Pending);
            assert_eq!(parked.due_at, clock + Duration::seconds(wait));
            assert!(
                parked.last_error.as_deref().unwrap().contains("500"),
                "{parked:?}"
            );
        }
        // Not due a second early.
        let early = app
            .retries
            .run(clock + Duration::seconds(wait - 1))
            .await
            .unwrap();
        assert!(early.redone.is_empty(), "{early:?}");
        clock += Duration::seconds(wait);
    }
    assert!(stack.rows("opportunities").is_empty());

    outage(&stack, false);
    let report = app.retries.run(clock).await.unwrap();
    assert_eq!(report.done(), 3, "{report:?}");
    for id in &ids {
        assert!(
            stack.parked_referral(id).await.is_none(),
            "done items are removed"
        );
        let row = stack.row("opportunities", record_id("opportunities", id));
        assert!(row["name"].as_str().unwrap().ends_with('✔'), "{row:?}");
    }
    assert_eq!(stack.rows("opportunities").len(), 3);
    let last = activity::last(&*stack.store, SyncDirection::Inbound).await;
    assert_eq!(last.unwrap(), Some(clock), "the last inbound sync is noted");
    let again = app.retries.run(clock + Duration::hours(1)).await.unwrap();
    assert!(again.redone.is_empty(), "{again:?}");
}

#[tokio::test]
async fn work_that_used_up_its_attempts_is_dead_and_replays_once_dataverse_is_back() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(3));
    outage(&stack, true);
    let id = stack.fabrikam().await;
    stack.wait_delivered(1).await;
    for _ in 0..2 {
        let due = stack.parked_referral(&id).await.unwrap().due_at;
        app.retries.run(due).await.unwrap();
    }
    let dead = stack.parked_referral(&id).await.unwrap();
    assert_eq!((dead.state, dead.attempts), (RetryState::Dead, 3));
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{dead:?}"
    );
    // Dead work is not taken again by the schedule…
    let later = dead.due_at + Duration::days(1);
    assert!(app.retries.run(later).await.unwrap().redone.is_empty());
    // …but kept for the operator, and counted for the alarm.
    let listed = stack.store.dead_retries(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, format!("inbound:{id}"));
    let gauges = retry_scheduler::gauges(&*stack.store, later).await.unwrap();
    assert_eq!(gauges[0].value("DeadRetries"), Some(1.0));
    let webhook_age = gauges.iter().find_map(|g| g.value("WebhookAge"));
    assert!(
        webhook_age.is_some_and(|age| age >= 86_400.0),
        "the webhook came a day before `later`: {gauges:?}"
    );

    outage(&stack, false);
    let replayed = app.retries.replay(&id, later).await.unwrap();
    assert!(
        matches!(
            &replayed[..],
            [(_, Redone::Inbound(Handled::Synced { created: true, .. }))]
        ),
        "{replayed:?}"
    );
    assert!(stack.parked_referral(&id).await.is_none());
    assert!(stack.store.dead_retries(10).await.unwrap().is_empty());
    stack.row("opportunities", record_id("opportunities", &id));
}

#[tokio::test]
async fn a_write_dataverse_refuses_goes_dead_at_once_and_replays_once_the_setting_is_fixed() {
    // A deal-value column that does not exist: Dataverse answers 400 to every write.
    let wrong = CrmConfig {
        deal_value_column: "new_dealvalue".into(),
        ..CrmConfig::default()
    };
    let stack = Stack::build().crm(wrong.clone()).ingress().start().await;
    let id = stack.fabrikam().await;
    stack.wait_delivered(1).await;
    let dead = stack.parked_referral(&id).await.expect("parked");
    assert_eq!((dead.state, dead.attempts), (RetryState::Dead, 1));
    let reason = dead.last_error.as_deref().unwrap();
    assert!(reason.contains("new_dealvalue"), "{reason}");
    assert!(reason.contains("400"), "{reason}");
    let later = dead.due_at + Duration::days(1);
    let before = stack.requests("dataverse");
    let app = stack.jobs(wrong, stepped_backoff(8));
    assert!(app.retries.run(later).await.unwrap().redone.is_empty());
    assert_eq!(stack.requests("dataverse"), before, "no attempt burnt");

    // The operator fixes the setting (a redeploy) and replays.
    let fixed = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    let replayed = fixed.retries.replay(&id, later).await.unwrap();
    assert!(
        matches!(
            &replayed[..],
            [(_, Redone::Inbound(Handled::Synced { created: true, .. }))]
        ),
        "{replayed:?}"
    );
    assert!(stack.parked_referral(&id).await.is_none());
    let row = stack.row("opportunities", record_id("opportunities", &id));
    assert_eq!(row["estimatedvalue"], 250000.5);
}

#[tokio::test]
async fn a_run_while_another_holds_the_scheduler_takes_nothing() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    outage(&stack, true);
    let id = stack.fabrikam().await;
    stack.wait_delivered(1).await;
    outage(&stack, false);
    let due = stack.parked_referral(&id).await.unwrap().due_at;
    let ttl = std::time::Duration::from_secs(300);
    assert!(
        stack
            .store
            .acquire_lease(LEASE, "another-run", due, ttl)
            .await
            .unwrap()
    );
    let report = app.retries.run(due).await.unwrap();
    assert!(report.busy && report.redone.is_empty(), "{report:?}");
    assert_eq!(stack.parked_referral(&id).await.unwrap().attempts, 1);
    // Once that run's lease expires, the work is taken.
    let report = app.retries.run(due + Duration::seconds(301)).await.unwrap();
    assert_eq!(report.done(), 1, "{report:?}");
}

#[tokio::test]
async fn replay_of_an_unknown_id_says_so() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(8));
    let error = app
        .retries
        .replay("no-such-referral", OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no-such-referral"), "{error}");
}

#[tokio::test]
async fn a_linked_record_shows_the_failure_and_the_give_up_and_turns_back_when_replayed() {
    let stack = Stack::inbound().await;
    let app = stack.jobs(CrmConfig::default(), stepped_backoff(3));
    let id = stack.fabrikam().await;
    stack.wait_delivered(1).await;
    let opportunity = record_id("opportunities", &id);
    assert!(
        stack.row("opportunities", opportunity)["name"]
            .as_str()
            .unwrap()
            .ends_with('✔')
    );

    // Partner Center fails every read of the referral Microsoft just edited.
    let down = FaultSettings {
        rate_500: 1.0,
        ..FaultSettings::default()
    };
    stack.sim.state.faults.set(Service::PartnerCenter, down);
    stack
        .edit_referral(&id, serde_json::json!({"details": {"dealValue": 300000}}))
        .await;
    stack.wait_delivered(2).await;
    let audit = |stack: &cosell_testkit::stack::Stack| {
        stack.row("opportunities", opportunity)["msft_microsoftpartnercenterreferralsyncaudit"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let row = stack.row("opportunities", opportunity);
    assert!(row["name"].as_str().unwrap().ends_with('✖'), "{row:?}");
    let first = audit(&stack);
    assert!(
        first.lines().next().unwrap().contains("(will retry)"),
        "{first}"
    );

    for _ in 0..2 {
        let due = stack.parked_referral(&id).await.unwrap().due_at;
        app.retries.run(due).await.unwrap();
    }
    assert_eq!(
        stack.parked_referral(&id).await.unwrap().state,
        RetryState::Dead
    );
    let dead = audit(&stack);
    let top = dead.lines().next().unwrap();
    assert!(top.contains("gave up after 3 attempts"), "{dead}");
    assert!(top.contains("fix it, then replay"), "{dead}");

    stack
        .sim
        .state
        .faults
        .set(Service::PartnerCenter, FaultSettings::default());
    let replayed = app
        .retries
        .replay(&id, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(replayed[0].1.done(), "{replayed:?}");
    let row = stack.row("opportunities", opportunity);
    assert!(row["name"].as_str().unwrap().ends_with('✔'), "{row:?}");
    assert_eq!(row["estimatedvalue"], 300000);
}

#[tokio::test]
async fn a_run_stops_after_failures_in_a_row_and_leaves_the_rest_due() {
    let stack = Stack::inbound().await;
    let settings = cosell_sync::RetrySettings {
        stop_after_failures: 2,
        ..cosell_sync::RetrySettings::default()
    };
    let app = stack.jobs_with(
        CrmConfig::default(),
        stepped_backoff(8),
        settings,
        Default::default(),
    );
    outage(&stack, true);
    let mut ids = Vec::new();
    for n in 0..4 {
        let email = format!("buyer@customer{n}.example");
        let customer = format!("Customer {n} Ltd");
        ids.push(stack.seed_cosell(&customer, "98052", &email).await);
    }
    stack.wait_delivered(4).await;
    let mut clock = OffsetDateTime::UNIX_EPOCH;
    for id in &ids {
        clock = clock.max(stack.parked_referral(id).await.unwrap().due_at);
    }

    let report = app.retries.run(clock).await.unwrap();
    assert!(report.stopped_early, "{report:?}");
    assert_eq!(report.redone.len(), 2, "{report:?}");
    let mut untouched = Vec::new();
    for id in &ids {
        let parked = stack.parked_referral(id).await.unwrap();
        if parked.attempts == 1 {
            untouched.push(id.clone());
        }
    }
    assert_eq!(untouched.len(), 2, "the rest were not tried");

    // Back up: the next run takes the two still due.
    outage(&stack, false);
    let report = app.retries.run(clock).await.unwrap();
    assert!(!report.stopped_early);
    let done: Vec<_> = report.redone.iter().map(|(id, _)| id.clone()).collect();
    let expected: Vec<_> = untouched.iter().map(|id| format!("inbound:{id}")).collect();
    assert_eq!(report.done(), 2, "{report:?}");
    assert_eq!(
        done.iter().collect::<std::collections::BTreeSet<_>>(),
        expected.iter().collect()
    );
}
