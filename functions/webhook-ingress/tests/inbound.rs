//! End to end over real sockets: the Partner Center simulator creates and edits referrals and
//! delivers signed webhooks to the ingress handler; the Dataverse simulator must then hold the
//! rows. Request counts come from the simulator's counters.

use std::time::{Duration, Instant};

use cosell_mapping::inbound::record_id;
use cosell_store::{CrmKind, RetryState, SyncStore};
use serde_json::{Value, json};

use cosell_testkit::object;
use cosell_testkit::referrals::{cosell_referral, id_of, marketplace_lead};
use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

const HELP_CUSTOMER_TECHNICAL_ARCHITECTURE: i64 = 100_000_001;

fn text<'a>(row: &'a serde_json::Map<String, Value>, column: &str) -> &'a str {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("column {column} missing in {row:?}"))
}

async fn opportunity_of(stack: &Stack, referral_id: &str) -> serde_json::Map<String, Value> {
    stack
        .wait_for("the opportunity", || {
            stack
                .sim
                .state
                .dv
                .row("opportunities", record_id("opportunities", referral_id))
                .is_some()
        })
        .await;
    stack.row("opportunities", record_id("opportunities", referral_id))
}

#[tokio::test]
async fn a_new_cosell_referral_becomes_account_contact_and_opportunity_with_every_column() {
    let stack = Stack::inbound().await;
    let referral = stack
        .seed_referral(cosell_referral(
            "Fabrikam, Inc.",
            "98052",
            "dana@fabrikam.example",
        ))
        .await;
    let id = id_of(&referral);
    stack.wait_delivered(1).await;

    let accounts = stack.rows("accounts");
    let contacts = stack.rows("contacts");
    let opportunities = stack.rows("opportunities");
    assert_eq!(
        (accounts.len(), contacts.len(), opportunities.len()),
        (1, 1, 1)
    );
    let account = &accounts[0];
    let account_id = record_id("accounts", &id).to_string();
    assert_eq!(text(account, "accountid"), account_id);
    assert_eq!(text(account, "name"), "Fabrikam, Inc.");
    assert_eq!(text(account, "address1_line1"), "1 Microsoft Way");
    assert_eq!(text(account, "address1_city"), "Redmond");
    assert_eq!(text(account, "address1_stateorprovince"), "WA");
    assert_eq!(text(account, "address1_postalcode"), "98052");
    assert_eq!(text(account, "address1_country"), "US");

    let contact = &contacts[0];
    let contact_id = record_id("contacts", &id).to_string();
    assert_eq!(text(contact, "contactid"), contact_id);
    assert_eq!(text(contact, "firstname"), "Dana");
    assert_eq!(text(contact, "lastname"), "Whitfield");
    assert_eq!(text(contact, "emailaddress1"), "dana@fabrikam.example");
    assert_eq!(text(contact, "telephone1"), "+1 425 555 0100");
    assert_eq!(text(contact, "_parentcustomerid_value"), account_id);

    let opportunity = &opportunities[0];
    let usd = stack
        .rows("transactioncurrencies")
        .into_iter()
        .find(|c| c["isocurrencycode"] == "USD")
        .unwrap();
    assert_eq!(
        text(opportunity, "opportunityid"),
        record_id("opportunities", &id).to_string()
    );
    assert_eq!(
        text(opportunity, "name"),
        "Fabrikam, Inc. - Azure migration ✔"
    );
    assert_eq!(opportunity["estimatedvalue"], json!(250000.5));
    assert_eq!(text(opportunity, "estimatedclosedate"), "2026-06-30");
    assert_eq!(
        text(opportunity, "description"),
        "Retire the on-premises warehouse before Q3."
    );
    assert_eq!(text(opportunity, "_customerid_value"), account_id);
    assert_eq!(text(opportunity, "_parentaccountid_value"), account_id);
    assert_eq!(text(opportunity, "_parentcontactid_value"), contact_id);
    assert_eq!(
        text(opportunity, "_transactioncurrencyid_value"),
        text(&usd, "transactioncurrencyid")
    );
    assert_eq!(opportunity["statecode"], 0);
    assert_eq!(
        opportunity["statuscode"], 2,
        "a new incoming referral lands On Hold"
    );
    assert_eq!(opportunity["msft_microsoftpartnercenterreferralsync"], true);
    assert_eq!(
        text(opportunity, "msft_microsoftpartnercenterreferralidentifier"),
        id
    );
    assert_eq!(
        text(opportunity, "msft_microsoftpartnercenterreferrallink"),
        format!("{}/{id}", stack.sim.state.pc.referrals_url)
    );
    assert_eq!(
        opportunity["msft_microsoftpartnercenterhelp"],
        HELP_CUSTOMER_TECHNICAL_ARCHITECTURE
    );
    assert_eq!(
        opportunity["msft_microsoftpartnercenterreferralvisible"],
        true
    );
    assert_eq!(
        text(opportunity, "msft_microsoftcrmidentifier"),
        "7-3JKX9QWERT"
    );
    let audit = text(opportunity, "msft_microsoftpartnercenterreferralsyncaudit");
    assert!(
        audit.contains(&format!(
            "Created opportunity from Partner Center referral {id} (New/Pending)"
        )),
        "{audit}"
    );

    let link = stack.link(&id).await;
    assert_eq!(link.crm_kind, CrmKind::Opportunity);
    assert_eq!(link.crm_id, record_id("opportunities", &id).into());
    assert!(
        link.inbound_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("open:"))
    );
    assert!(link.last_outcome.is_some_and(|o| o.ok));
}

#[tokio::test]
async fn updates_follow_deal_value_close_date_and_status_through_won() {
    let stack = Stack::inbound().await;
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;

    stack
        .edit_referral(
            &id,
            json!({
                "status": "Active", "substatus": "Accepted",
                "details": {"dealValue": 300000, "closingDateTime": "2026-09-15T00:00:00Z", "currency": "EUR"}
            }),
        )
        .await;
    stack.wait_delivered(2).await;
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(opportunity["estimatedvalue"], json!(300000));
    assert_eq!(text(&opportunity, "estimatedclosedate"), "2026-09-15");
    assert_eq!(
        (
            opportunity["statecode"].clone(),
            opportunity["statuscode"].clone()
        ),
        (json!(0), json!(1))
    );
    let eur = stack
        .rows("transactioncurrencies")
        .into_iter()
        .find(|c| c["isocurrencycode"] == "EUR")
        .unwrap();
    assert_eq!(
        text(&opportunity, "_transactioncurrencyid_value"),
        text(&eur, "transactioncurrencyid")
    );
    // The Audit column is a log, newest first: the update's line above the creation's.
    let audit = text(&opportunity, "msft_microsoftpartnercenterreferralsyncaudit");
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(
        lines[0].contains("✔ Updated from Partner Center referral"),
        "{audit}"
    );
    assert!(lines[0].contains("(Active/Accepted)"), "{audit}");
    assert!(lines[1].contains("✔ Created opportunity"), "{audit}");

    stack
        .edit_referral(&id, json!({"status": "Closed", "substatus": "Won"}))
        .await;
    stack.wait_delivered(3).await;
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(
        (
            opportunity["statecode"].clone(),
            opportunity["statuscode"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(stack.rows("opportunities").len(), 1);
    assert_eq!(stack.rows("opportunitycloses").len(), 1);
    let link = stack.link(&id).await;
    assert!(link.inbound_hash.unwrap().starts_with("won:"));
    assert_eq!(link.audit.len(), 3, "{:?}", link.audit);
    assert!(link.audit[0].contains("(Closed/Won)"), "{:?}", link.audit);
}

#[tokio::test]
async fn a_lost_declined_or_expired_referral_loses_the_opportunity() {
    let stack = Stack::inbound().await;
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Tailspin Toys",
                "10001",
                "ops@tailspin.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;
    stack
        .edit_referral(&id, json!({"status": "Closed", "substatus": "Declined"}))
        .await;
    stack.wait_delivered(2).await;
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(
        (
            opportunity["statecode"].clone(),
            opportunity["statuscode"].clone()
        ),
        (json!(2), json!(4))
    );
}

#[tokio::test]
async fn request_counts_are_at_most_two_for_new_one_for_an_update_and_zero_when_unchanged() {
    let stack = Stack::inbound().await;
    // Warms the currency cache (USD).
    stack
        .seed_referral(cosell_referral(
            "Contoso Warmup Ltd",
            "1000",
            "a@warmup.example",
        ))
        .await;
    stack.wait_delivered(1).await;
    stack.reset_counters();

    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(2).await;
    let new = stack.requests("dataverse");
    opportunity_of(&stack, &id).await;
    assert!(new <= 2, "a new referral cost {new} Dataverse requests");
    assert!(new >= 1, "the counters see the handler's requests");

    stack.reset_counters();
    stack
        .edit_referral(&id, json!({"details": {"dealValue": 1234.5}}))
        .await;
    stack.wait_delivered(3).await;
    let update = stack.requests("dataverse");
    assert_eq!(
        opportunity_of(&stack, &id).await["estimatedvalue"],
        json!(1234.5)
    );
    assert!(update <= 1, "an update cost {update} Dataverse requests");

    stack.reset_counters();
    // A change to nothing we sync: the hash matches, nothing is written.
    stack.edit_referral(&id, json!({"tags": ["fy27"]})).await;
    stack.wait_delivered(4).await;
    let unchanged = stack.requests("dataverse");
    assert_eq!(
        unchanged, 0,
        "an unchanged referral cost {unchanged} requests"
    );
    println!("Dataverse requests: new {new}, update {update}, unchanged {unchanged}");
}

#[tokio::test]
async fn a_marketplace_lead_becomes_a_lead() {
    let stack = Stack::inbound().await;
    let id = id_of(&stack.seed_referral(marketplace_lead()).await);
    stack.wait_delivered(1).await;
    let lead = stack.row("leads", record_id("leads", &id));
    assert_eq!(text(&lead, "subject"), "Trial: Data Estate Accelerator");
    assert_eq!(text(&lead, "companyname"), "Wide World Importers");
    assert_eq!(text(&lead, "firstname"), "Priya");
    assert_eq!(text(&lead, "lastname"), "Raman");
    assert_eq!(
        text(&lead, "emailaddress1"),
        "priya@wideworldimporters.example"
    );
    assert_eq!(text(&lead, "address1_city"), "Sydney");
    assert_eq!(text(&lead, "address1_postalcode"), "2000");
    assert_eq!(text(&lead, "address1_country"), "AU");
    assert_eq!(lead["estimatedamount"], json!(1200));
    assert_eq!(text(&lead, "estimatedclosedate"), "2026-08-01");
    assert_eq!(text(&lead, "description"), "Started a trial.");
    assert!(stack.rows("opportunities").is_empty());
    assert!(stack.rows("accounts").is_empty());
    let link = stack.link(&id).await;
    assert_eq!(link.crm_kind, CrmKind::Lead);
}

#[tokio::test]
async fn an_ambiguous_account_creates_nothing_and_names_the_candidates() {
    let stack = Stack::inbound().await;
    let first = stack
        .sim
        .state
        .dv
        .seed(
            "accounts",
            object(json!({"name": "Fabrikam Inc", "address1_postalcode": "98052"})),
        )
        .unwrap();
    let second = stack
        .sim
        .state
        .dv
        .seed(
            "accounts",
            object(json!({"name": "FABRIKAM, Inc.", "address1_postalcode": "98052"})),
        )
        .unwrap();
    // Same postal code, another company: not a candidate.
    stack
        .sim
        .state
        .dv
        .seed(
            "accounts",
            object(json!({"name": "Fabrikam East", "address1_postalcode": "98052"})),
        )
        .unwrap();
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;

    assert!(stack.rows("opportunities").is_empty());
    assert!(stack.rows("contacts").is_empty());
    assert_eq!(stack.rows("accounts").len(), 3, "no account created");
    let item = stack
        .store
        .retry(&format!("inbound:{id}"))
        .await
        .unwrap()
        .expect("the outcome is kept for the operator");
    assert_eq!(item.state, RetryState::Dead);
    let message = item.last_error.unwrap();
    for candidate in [first.to_string(), second.to_string()] {
        assert!(message.contains(&candidate), "{message}");
    }
    assert!(
        message.contains("'Fabrikam Inc'") && message.contains("'FABRIKAM, Inc.'"),
        "{message}"
    );
    assert!(!message.contains("Fabrikam East"), "{message}");
    assert_eq!(
        item.payload["ResourceUri"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next(),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn an_existing_account_and_contact_are_matched_not_duplicated() {
    let stack = Stack::inbound().await;
    let dv = &stack.sim.state.dv;
    let account = dv
        .seed(
            "accounts",
            object(json!({"name": "fabrikam incorporated", "address1_postalcode": "98052"})),
        )
        .unwrap();
    let contact = dv
        .seed(
            "contacts",
            object(json!({
                "firstname": "Dana", "emailaddress1": "DANA@fabrikam.example",
                "parentcustomerid_account@odata.bind": format!("/accounts({account})")
            })),
        )
        .unwrap();
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(text(&opportunity, "_customerid_value"), account.to_string());
    assert_eq!(
        text(&opportunity, "_parentcontactid_value"),
        contact.to_string()
    );
    assert_eq!(stack.rows("accounts").len(), 1);
    assert_eq!(stack.rows("contacts").len(), 1);
}

#[tokio::test]
async fn a_failed_update_is_parked_for_retry_and_marked_on_the_opportunity() {
    use cosell_sim::{Fault, Service};
    let stack = Stack::inbound().await;
    let id = id_of(
        &stack
            .seed_referral(cosell_referral(
                "Fabrikam, Inc.",
                "98052",
                "dana@fabrikam.example",
            ))
            .await,
    );
    stack.wait_delivered(1).await;
    // Every attempt of the update's change set fails; the ✖ write after it goes through.
    stack.sim.state.faults.script(
        Service::Dataverse,
        [Fault::ServerError, Fault::ServerError, Fault::ServerError],
    );
    stack
        .edit_referral(&id, json!({"details": {"dealValue": 999}}))
        .await;
    stack.wait_delivered(2).await;

    let item = stack
        .store
        .retry(&format!("inbound:{id}"))
        .await
        .unwrap()
        .expect("retry item");
    assert_eq!(item.state, RetryState::Pending);
    assert_eq!(item.attempts, 1);
    assert!(item.last_error.unwrap().contains("Dataverse"));
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(
        text(&opportunity, "name"),
        "Fabrikam, Inc. - Azure migration ✖"
    );
    let audit = text(&opportunity, "msft_microsoftpartnercenterreferralsyncaudit");
    let lines: Vec<&str> = audit.lines().collect();
    assert!(lines[0].contains("✖ Inbound sync failed"), "{audit}");
    assert!(lines[1].contains("✔ Created opportunity"), "{audit}");
    assert_eq!(
        opportunity["estimatedvalue"],
        json!(250000.5),
        "the failed change set wrote nothing"
    );

    // The retry (here: the next event) heals the record.
    stack
        .edit_referral(&id, json!({"details": {"dealValue": 1000}}))
        .await;
    stack.wait_delivered(3).await;
    let opportunity = opportunity_of(&stack, &id).await;
    assert_eq!(
        text(&opportunity, "name"),
        "Fabrikam, Inc. - Azure migration ✔"
    );
    assert_eq!(opportunity["estimatedvalue"], json!(1000));
    let audit = text(&opportunity, "msft_microsoftpartnercenterreferralsyncaudit");
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 3, "{audit}");
    assert!(lines[0].contains("✔ Updated"), "{audit}");
    assert!(lines[1].contains("✖ Inbound sync failed"), "{audit}");
}

/// While the outbound sync holds a linked deal's opportunity (`outbound:<id>`), Microsoft's edit
/// is not written over it: the inbound sync waits for that lease, and parks when it stays taken.
/// Once free, the redo reads the referral as it is then.
#[tokio::test]
async fn an_update_waits_for_the_outbound_sync_of_its_opportunity() {
    let stack = Stack::inbound().await;
    let id = stack
        .seed_cosell("Fabrikam, Inc.", "98052", "dana@fabrikam.example")
        .await;
    stack.wait_delivered(1).await;
    let opportunity = record_id("opportunities", &id);
    let held = format!("outbound:{opportunity}");
    let now = time::OffsetDateTime::now_utc();
    assert!(
        stack
            .port()
            .acquire_lease(&held, "outbound-sync", now, Duration::from_secs(60))
            .await
            .unwrap()
    );

    stack
        .edit_referral(&id, json!({"details": {"dealValue": 300000}}))
        .await;
    // The sync waits out its lease_wait (3 s), then parks.
    let deadline = Instant::now() + Duration::from_secs(10);
    let item = loop {
        if let Some(item) = stack.port().retry(&format!("inbound:{id}")).await.unwrap() {
            break item;
        }
        assert!(Instant::now() < deadline, "parked while busy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        stack.row("opportunities", opportunity)["estimatedvalue"],
        json!(250000.5),
        "nothing written while the outbound sync holds the deal"
    );
    assert_eq!(item.state, RetryState::Pending);

    stack
        .port()
        .release_lease(&held, "outbound-sync")
        .await
        .unwrap();
    let handled = stack
        .ingress()
        .app
        .sync
        .redo(&rid(&id), item.payload.clone(), now)
        .await
        .unwrap();
    assert!(
        matches!(handled, cosell_sync::Handled::Synced { .. }),
        "{handled:?}"
    );
    assert_eq!(
        stack.row("opportunities", opportunity)["estimatedvalue"],
        json!(300000)
    );
}
