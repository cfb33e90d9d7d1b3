//! Sellers never miss a referral: a new referral is owned by the seller it names (when that
//! seller is an enabled Dynamics 365 user), and one waiting for an answer gets one task, due
//! days before it expires, closed when it is answered — over real sockets, with the simulator's
//! `systemusers` and `tasks`.

use std::sync::Arc;

use cosell_mapping::CrmConfig;
use cosell_mapping::inbound::record_id;
use cosell_mapping::respond::task_id;
use cosell_store::SqliteStore;
use cosell_sync::{Handled, WorkKey};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use cosell_testkit::object;
use cosell_testkit::referrals::{id_of, marketplace_lead};
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

/// An incoming co-sell referral still waiting for an answer, naming `seller` as the partner's
/// seller (`team`).
fn waiting_referral(customer: &str, seller: Option<&str>) -> Value {
    let mut referral = cosell_testkit::referrals::waiting_referral(customer);
    if let Some(seller) = seller {
        referral["team"] = json!([{"firstName": "Sam", "lastName": "Seller", "email": seller}]);
    }
    referral
}

fn seed_user(stack: &Stack, email: &str, disabled: bool) -> Uuid {
    let row = object(json!({
        "fullname": email, "internalemailaddress": email, "isdisabled": disabled
    }));
    stack.sim.state.dv.seed("systemusers", row).unwrap()
}

/// Seeds `referral`, waits for its delivery; its id and opportunity. Its expiry as seeded is
/// [`expiry`]'s.
async fn synced(stack: &Stack, referral: Value) -> (String, Map<String, Value>) {
    let seeded = stack.seed_referral(referral).await;
    let id = id_of(&seeded);
    stack.wait_delivered(1).await;
    let opportunity = stack.row("opportunities", record_id("opportunities", &id));
    (id, opportunity)
}

async fn expiry(stack: &Stack, id: &str) -> OffsetDateTime {
    let url = format!(
        "{}/_admin/partner-center/referrals/{id}",
        stack.sim.base_url
    );
    let referral: Value = cosell_testkit::http()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    cosell_mapping::timestamp::parse(referral["expirationDateTime"].as_str().unwrap()).unwrap()
}

fn owner(row: &Map<String, Value>) -> Option<&str> {
    row.get("_ownerid_value").and_then(Value::as_str)
}

fn audit(row: &Map<String, Value>) -> &str {
    row["msft_microsoftpartnercenterreferralsyncaudit"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn the_seller_the_referral_names_owns_the_opportunity_and_its_task() {
    let stack = Stack::inbound().await;
    let seller = seed_user(&stack, "sam@partner.example", false);
    let (id, opportunity) = synced(
        &stack,
        waiting_referral("Fabrikam, Inc.", Some("Sam@Partner.example")),
    )
    .await;
    assert_eq!(owner(&opportunity), Some(seller.to_string().as_str()));
    assert!(
        audit(&opportunity).contains("owner sam@partner.example, the seller the referral names"),
        "{}",
        audit(&opportunity)
    );
    assert!(audit(&opportunity).contains("answer by "));

    let tasks = stack.rows("tasks");
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task["activityid"], task_id(&id).to_string());
    assert_eq!(owner(task), Some(seller.to_string().as_str()));
    assert_eq!(
        task["_regardingobjectid_value"],
        record_id("opportunities", &id).to_string()
    );
    assert_eq!(task["statecode"], 0);
    // Due three days (the default) before the referral expires.
    let expires = expiry(&stack, &id).await;
    let due = cosell_mapping::timestamp::parse(task["scheduledend"].as_str().unwrap()).unwrap();
    assert_eq!(expires - due, time::Duration::days(3));
    // The reminder waits in the store, due then.
    let item = stack
        .port()
        .retry(&WorkKey::Respond(rid(&id)).to_string())
        .await
        .unwrap()
        .expect("a respond item");
    assert_eq!(item.due_at, due);
}

#[tokio::test]
async fn a_seller_who_is_no_user_or_disabled_leaves_the_fallback_owner_said_in_audit() {
    let stack = Stack::inbound().await;
    seed_user(&stack, "gone@partner.example", true);
    let (_, opportunity) = synced(
        &stack,
        waiting_referral("Fabrikam, Inc.", Some("gone@partner.example")),
    )
    .await;
    assert_eq!(owner(&opportunity), None, "the application user owns it");
    assert!(
        audit(&opportunity)
            .contains("owner the application user (gone@partner.example is disabled)"),
        "{}",
        audit(&opportunity)
    );

    // With a default owner in the mapping, an email that matches no user falls back to it.
    let fallback = Uuid::new_v4();
    let mut config = CrmConfig::default();
    config.mapping.owner = Some(fallback);
    let stack = Stack::build().crm(config).ingress().start().await;
    stack
        .sim
        .state
        .dv
        .seed(
            "systemusers",
            object(json!({"systemuserid": fallback.to_string(), "internalemailaddress": "sales@partner.example", "isdisabled": false})),
        )
        .unwrap();
    let (_, opportunity) = synced(
        &stack,
        waiting_referral("Contoso", Some("nobody@partner.example")),
    )
    .await;
    assert_eq!(owner(&opportunity), Some(fallback.to_string().as_str()));
    assert!(audit(&opportunity).contains(&format!(
        "owner the mapping's default owner {fallback} (nobody@partner.example matches no user)"
    )));
}

#[tokio::test]
async fn a_reassignment_in_the_crm_is_kept_when_the_referral_changes() {
    let stack = Stack::inbound().await;
    seed_user(&stack, "sam@partner.example", false);
    let (id, _) = synced(
        &stack,
        waiting_referral("Fabrikam, Inc.", Some("sam@partner.example")),
    )
    .await;
    let other = seed_user(&stack, "alex@partner.example", false);
    let opportunity = record_id("opportunities", &id);
    stack
        .sim
        .state
        .dv
        .edit(
            "opportunities",
            opportunity,
            object(json!({"_ownerid_value": other.to_string()})),
        )
        .unwrap();
    stack
        .edit_referral(&id, json!({"details": {"notes": "Bigger scope."}}))
        .await;
    stack.wait_delivered(2).await;
    let row = stack.row("opportunities", opportunity);
    assert_eq!(row["description"], "Bigger scope.");
    assert_eq!(owner(&row), Some(other.to_string().as_str()));
}

#[tokio::test]
async fn duplicate_deliveries_and_a_create_redone_from_scratch_make_one_task() {
    let stack = Stack::inbound().await;
    let (id, _) = synced(&stack, waiting_referral("Fabrikam, Inc.", None)).await;
    let now = OffsetDateTime::now_utc();
    // The same work again, and again as a process whose store lost the link (a crash after the
    // change set): the create runs again on the same rows.
    let again = stack
        .ingress()
        .app
        .sync
        .redo(&rid(&id), Value::Null, now)
        .await
        .unwrap();
    assert!(matches!(again, Handled::Unchanged { .. }), "{again:?}");
    let fresh = stack.ingress_app(Arc::new(SqliteStore::in_memory().unwrap()));
    let redone = fresh.sync.redo(&rid(&id), Value::Null, now).await.unwrap();
    assert!(
        matches!(redone, Handled::Synced { created: true, .. }),
        "{redone:?}"
    );
    assert_eq!(stack.rows("tasks").len(), 1);
    assert_eq!(stack.rows("opportunities").len(), 1);
}

#[tokio::test]
async fn an_accept_in_partner_center_completes_the_task_and_a_decline_cancels_it() {
    let stack = Stack::inbound().await;
    let (accepted, _) = synced(&stack, waiting_referral("Fabrikam, Inc.", None)).await;
    stack
        .edit_referral(
            &accepted,
            json!({"status": "Active", "substatus": "Accepted"}),
        )
        .await;
    stack.wait_delivered(2).await;
    let task = stack.row("tasks", task_id(&accepted));
    assert_eq!(
        (&task["statecode"], &task["statuscode"]),
        (&json!(1), &json!(5))
    );
    let item = WorkKey::Respond(rid(&accepted)).to_string();
    assert_eq!(stack.port().retry(&item).await.unwrap(), None);

    let declined = id_of(&stack.seed_referral(waiting_referral("Contoso", None)).await);
    stack.wait_delivered(3).await;
    stack
        .edit_referral(
            &declined,
            json!({"status": "Closed", "substatus": "Declined"}),
        )
        .await;
    stack.wait_delivered(4).await;
    let task = stack.row("tasks", task_id(&declined));
    assert_eq!(
        (&task["statecode"], &task["statuscode"]),
        (&json!(2), &json!(6))
    );
}

#[tokio::test]
async fn a_task_the_seller_deleted_is_not_recreated() {
    let stack = Stack::inbound().await;
    let (id, _) = synced(&stack, waiting_referral("Fabrikam, Inc.", None)).await;
    assert!(stack.sim.state.dv.delete("tasks", task_id(&id)));
    stack
        .edit_referral(&id, json!({"status": "Active", "substatus": "Accepted"}))
        .await;
    stack.wait_delivered(2).await;
    assert!(stack.rows("tasks").is_empty());
    let item = WorkKey::Respond(rid(&id)).to_string();
    assert_eq!(stack.port().retry(&item).await.unwrap(), None);
}

#[tokio::test]
async fn a_waiting_lead_gets_its_task_regarding_the_lead() {
    let stack = Stack::inbound().await;
    let mut lead = marketplace_lead();
    lead["direction"] = json!("Incoming");
    lead["status"] = json!("New");
    lead["substatus"] = json!("Pending");
    let id = id_of(&stack.seed_referral(lead).await);
    stack.wait_delivered(1).await;
    let task = stack.row("tasks", task_id(&id));
    assert_eq!(
        task["_regardingobjectid_value"],
        record_id("leads", &id).to_string()
    );
}

#[tokio::test]
async fn a_referral_we_sent_or_tasks_switched_off_get_no_task() {
    let mut config = CrmConfig::default();
    config.respond.tasks = false;
    let stack = Stack::build().crm(config).ingress().start().await;
    synced(&stack, waiting_referral("Fabrikam, Inc.", None)).await;
    assert!(stack.rows("tasks").is_empty());

    let stack = Stack::inbound().await;
    let mut ours = waiting_referral("Contoso", None);
    ours["direction"] = json!("Outgoing");
    synced(&stack, ours).await;
    assert!(stack.rows("tasks").is_empty());
}

#[tokio::test]
async fn dataverse_refusing_the_task_or_owner_never_costs_the_referral() {
    // A task table that refuses our task (a column it requires that cosell does not write),
    // as an application user without the task privileges would be refused.
    let mut dataverse = cosell_sim::dataverse::DvConfig::default();
    dataverse
        .tables
        .get_mut("tasks")
        .unwrap()
        .required
        .push("new_required".into());
    let stack = Stack::build()
        .on(cosell_testkit::sim::start_with_dataverse(dataverse).await)
        .crm(CrmConfig::default())
        .ingress()
        .start()
        .await;
    seed_user(&stack, "sam@partner.example", false);
    let (id, opportunity) = synced(
        &stack,
        waiting_referral("Fabrikam, Inc.", Some("sam@partner.example")),
    )
    .await;
    assert!(stack.rows("tasks").is_empty());
    assert_eq!(owner(&opportunity), None);
    // Audit names the cause with Dataverse's own message: the column it required.
    let said = audit(&opportunity);
    assert!(
        said.contains(
            "owner and task not set: Dataverse refused the change set with them (HTTP 400: "
        ),
        "{said}"
    );
    assert!(said.contains("new_required"), "{said}");
    let link = stack.port().link_by_referral(&rid(&id)).await.unwrap();
    assert!(link.is_some(), "synced");
}
