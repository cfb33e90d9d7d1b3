//! The respond-by reminders and the alerts, run by the retry scheduler with a controlled clock:
//! a referral nobody touches is reminded of once when its expiry comes near; referrals waiting
//! at upgrade get their task on the first run; an alert webhook that refuses leaves the sync
//! green; an item of unknown work is left for a version that knows it.

use std::sync::Arc;

use cosell_mapping::CrmConfig;
use cosell_mapping::inbound::record_id;
use cosell_mapping::respond::task_id;
use cosell_sim::partner_center::WebhookKnobs;
use cosell_store::{RetryItem, RetryState, SyncStore};
use cosell_sync::alerts::channel::{Channel, Channels, Kind, Webhook};
use cosell_sync::alerts::deliver::Delivered;
use cosell_sync::alerts::message::Links;
use cosell_sync::respond::Reminded;
use cosell_sync::retry::{Redone, UNKNOWN};
use cosell_sync::{Handled, RetrySettings, WorkKey};
use cosell_transport::Secret;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use cosell_testkit::referrals::{id_of, waiting_referral};
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;
use cosell_testkit::stack::stepped_backoff;

/// The retry-scheduler's jobs posting alerts to the simulator's sink `hook` as Teams.
fn with_teams(stack: &Stack, crm: CrmConfig) -> cosell_runtime::Jobs {
    let url = format!("{}/hooks/teams", stack.sim.base_url);
    let links = Links {
        dynamics: "https://contoso.crm.dynamics.com".into(),
        partner_center: "https://partner.microsoft.com/r/{id}".into(),
    };
    let teams: Arc<dyn Channel> = Arc::new(Webhook::new(Kind::Teams, Secret::new(url), links));
    let retry = RetrySettings {
        channels: Channels(vec![teams]),
        ..RetrySettings::default()
    };
    stack.jobs_with(crm, stepped_backoff(3), retry, Default::default())
}

fn posted(stack: &Stack) -> Vec<Value> {
    stack.sim.state.sink.posted("teams")
}

fn item(id: &str, payload: Value, due_at: OffsetDateTime, state: RetryState) -> RetryItem {
    RetryItem {
        id: id.into(),
        payload,
        due_at,
        attempts: 1,
        last_error: None,
        state,
    }
}

#[tokio::test]
async fn a_referral_nobody_touches_is_reminded_once_as_its_expiry_comes_near() {
    let stack = Stack::inbound().await;
    let app = with_teams(&stack, CrmConfig::default());
    let id = id_of(
        &stack
            .seed_referral(waiting_referral("Fabrikam, Inc."))
            .await,
    );
    stack.wait_delivered(1).await;
    let key = WorkKey::Respond(rid(&id)).to_string();
    let due = stack.store.retry(&key).await.unwrap().unwrap().due_at;

    // Before the reminder is due, a run does nothing with it.
    let report = app.retries.run(due - Duration::hours(1)).await.unwrap();
    assert!(report.redone.is_empty(), "{report:?}");

    // Due: the referral is read (still New, nobody answered), the alert queued once.
    let at = due + Duration::minutes(1);
    let report = app.retries.run(at).await.unwrap();
    assert_eq!(
        report.redone,
        [(
            key.clone(),
            Redone::Respond(Reminded::Waiting { reminded: true })
        )]
    );
    let report = app.retries.run(at).await.unwrap();
    assert_eq!(report.redone.len(), 1, "{report:?}");
    assert_eq!(report.redone[0].1, Redone::Alert(Delivered::Sent));
    let posts = posted(&stack);
    assert_eq!(posts.len(), 1);
    let card = posts[0].to_string();
    assert!(card.contains("expires in 2 days"), "{card}");
    assert!(
        card.contains(&format!("https://partner.microsoft.com/r/{id}")),
        "{card}"
    );
    assert!(
        !card.contains("dana@"),
        "no customer contact details: {card}"
    );

    // The item now waits for the expiry; later runs post nothing more.
    let waiting = stack.store.retry(&key).await.unwrap().unwrap();
    assert!(waiting.due_at > at + Duration::days(2));
    for hours in [1, 12, 24] {
        app.retries.run(at + Duration::hours(hours)).await.unwrap();
    }
    assert_eq!(posted(&stack).len(), 1);
    // The same reminder raised again (a replay) is remembered and not queued twice.
    let replayed = app
        .retries
        .replay(&key, at + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    app.retries.run(at + Duration::days(1)).await.unwrap();
    assert_eq!(posted(&stack).len(), 1);
}

#[tokio::test]
async fn referrals_waiting_at_upgrade_get_their_task_on_the_first_reconcile_run() {
    // Synced by a version without tasks: linked, no task, no item.
    let mut before = CrmConfig::default();
    before.respond.tasks = false;
    let stack = Stack::build().crm(before).ingress().start().await;
    let linked = id_of(
        &stack
            .seed_referral(waiting_referral("Fabrikam, Inc."))
            .await,
    );
    stack.wait_delivered(1).await;
    assert!(stack.rows("tasks").is_empty());
    // One more that never reached the CRM (its webhooks were lost).
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..Default::default()
    });
    let unsynced = id_of(&stack.seed_referral(waiting_referral("Contoso")).await);
    // One already answered needs nothing.
    let mut answered = waiting_referral("Tailspin Toys");
    answered["status"] = json!("Active");
    answered["substatus"] = json!("Accepted");
    stack.seed_referral(answered).await;

    let app = with_teams(&stack, CrmConfig::default());
    let now = OffsetDateTime::now_utc();
    let report = app
        .reconciler
        .waiting_once(now)
        .await
        .unwrap()
        .expect("a first pass");
    assert_eq!(report.listed, 2, "{report:?}");
    assert_eq!(report.tasks, std::slice::from_ref(&linked));
    assert_eq!(report.synced.len(), 1, "{report:?}");
    assert!(matches!(
        report.synced[0].1,
        Handled::Synced { created: true, .. }
    ));
    let task = stack.row("tasks", task_id(&linked));
    assert_eq!(
        task["_regardingobjectid_value"],
        record_id("opportunities", &linked).to_string()
    );
    stack.row("tasks", task_id(&unsynced));
    for id in [&linked, &unsynced] {
        let key = WorkKey::Respond(rid(id)).to_string();
        assert!(stack.store.retry(&key).await.unwrap().is_some(), "{key}");
    }
    // Once only.
    assert_eq!(app.reconciler.waiting_once(now).await.unwrap(), None);
    assert_eq!(stack.rows("tasks").len(), 2);
}

#[tokio::test]
async fn an_alert_webhook_that_refuses_leaves_the_sync_green() {
    let stack = Stack::inbound().await;
    // The referral reaches cosell through the scheduler's inbound sync only.
    stack.sim.state.pc.webhooks.set_knobs(WebhookKnobs {
        drop_rate: 1.0,
        ..Default::default()
    });
    let answer = cosell_testkit::http()
        .put(format!("{}/_admin/hooks/teams/answer", stack.sim.base_url))
        .json(&json!({"status": 404, "body": "workflow not found"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let app = with_teams(&stack, CrmConfig::default());
    let id = id_of(
        &stack
            .seed_referral(waiting_referral("Fabrikam, Inc."))
            .await,
    );
    let now = OffsetDateTime::now_utc();
    let handled = app.inbound.redo(&rid(&id), Value::Null, now).await.unwrap();
    assert!(
        matches!(handled, Handled::Synced { created: true, .. }),
        "{handled:?}"
    );
    let alert = format!("alert:teams:new:{id}");
    assert!(stack.store.retry(&alert).await.unwrap().is_some());

    let report = app.retries.run(now).await.unwrap();
    let (_, delivered) = report.redone.iter().find(|(i, _)| *i == alert).unwrap();
    assert!(
        matches!(delivered, Redone::Alert(Delivered::Parked { permanent: true, message }) if message.contains("HTTP 404: workflow not found")),
        "{delivered:?}"
    );
    let dead = stack.store.retry(&alert).await.unwrap().unwrap();
    assert_eq!(dead.state, RetryState::Dead);
    assert!(
        !dead.last_error.unwrap().contains("/hooks/"),
        "the URL is a secret"
    );
    // The sync itself stands: linked, nothing parked for the referral.
    assert!(
        stack
            .store
            .link_by_referral(&rid(&id))
            .await
            .unwrap()
            .is_some()
    );
    let inbound = WorkKey::inbound(&rid(&id)).to_string();
    assert_eq!(stack.store.retry(&inbound).await.unwrap(), None);
}

#[tokio::test]
async fn hundreds_of_alerts_at_once_make_one_post_a_run() {
    let stack = Stack::inbound().await;
    let app = with_teams(&stack, CrmConfig::default());
    let now = OffsetDateTime::now_utc();
    for n in 0..45 {
        let alert =
            json!({"event": "new", "subject": format!("r-{n}"), "deal": format!("Deal {n}")});
        let id = format!("alert:teams:new:r-{n}");
        stack
            .store
            .put_retry(&item(&id, alert, now, RetryState::Pending))
            .await
            .unwrap();
    }
    // Those left out of a full post come a minute later, behind other due work.
    for run in 1..=3 {
        let at = now + Duration::minutes(run as i64 - 1);
        app.retries.run(at).await.unwrap();
        assert_eq!(posted(&stack).len(), run);
    }
    let sizes: Vec<usize> = posted(&stack)
        .iter()
        .map(|p| {
            p["attachments"][0]["content"]["body"]
                .as_array()
                .unwrap()
                .len()
                - 1
        })
        .collect();
    assert_eq!(sizes, [20, 20, 5]);
}

#[tokio::test]
async fn unknown_work_is_left_for_a_version_that_knows_it_and_older_kills_are_revived() {
    let stack = Stack::inbound().await;
    let app = with_teams(&stack, CrmConfig::default());
    let now = OffsetDateTime::now_utc();
    let future = "export:x";
    stack
        .store
        .put_retry(&item(future, Value::Null, now, RetryState::Pending))
        .await
        .unwrap();
    // What a version before respond-by did to an alert it did not know: dead.
    let killed = "alert:teams:new:r-1";
    let mut old = item(
        killed,
        json!({"event": "new", "subject": "r-1", "deal": "Fabrikam"}),
        now,
        RetryState::Dead,
    );
    old.last_error = Some(format!("'{killed}' {UNKNOWN}"));
    stack.store.put_retry(&old).await.unwrap();

    let report = app.retries.run(now).await.unwrap();
    assert!(
        report.redone.contains(&(future.into(), Redone::Unknown)),
        "{report:?}"
    );
    assert!(
        report
            .redone
            .contains(&(killed.into(), Redone::Alert(Delivered::Sent)))
    );
    assert_eq!(posted(&stack).len(), 1);
    let left = stack.store.retry(future).await.unwrap().unwrap();
    assert_eq!(left.state, RetryState::Pending);
    assert_eq!(left.due_at, now + Duration::days(1));
    assert!(left.last_error.unwrap().contains(UNKNOWN));
}
