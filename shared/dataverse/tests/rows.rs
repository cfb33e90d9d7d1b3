//! Single-row operations, queries and filters against the simulator over real sockets.

use cosell_dataverse::{Expand, Filter, Id, Key, OrderBy, Precondition, Query, bind, bind_key};
use serde_json::{Value, json};

use cosell_testkit::{object, sim};

#[tokio::test]
async fn create_read_update_delete_round_trip() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = client
        .create(
            "accounts",
            &object(json!({"name": "Contoso", "address1_postalcode": "98052"})),
        )
        .await
        .expect("create");
    assert!(
        sim.state.dv.row("accounts", id.0).is_some(),
        "the sim holds the created row"
    );

    let record = client
        .read("accounts", &Key::Id(id), &["name"])
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.get_str("name"), Some("Contoso"));
    assert_eq!(record.id("accountid"), Some(id));
    assert!(
        record.get("address1_postalcode").is_none(),
        "$select limits the columns"
    );
    let first_etag = record.etag.clone().expect("etag");
    assert!(first_etag.as_str().starts_with("W/\""));

    let updated = client
        .update(
            "accounts",
            &Key::Id(id),
            &object(json!({"name": "Contoso Ltd"})),
            Precondition::IfMatch(first_etag.clone()),
        )
        .await
        .expect("update with the current etag");
    assert_eq!(updated, id);
    let record = client
        .read("accounts", &Key::Id(id), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.get_str("name"), Some("Contoso Ltd"));
    assert_eq!(
        record.get_str("address1_postalcode"),
        Some("98052"),
        "PATCH merges"
    );
    assert_ne!(
        record.etag,
        Some(first_etag),
        "a write moves the version on"
    );

    client
        .delete("accounts", &Key::Id(id), Precondition::None)
        .await
        .expect("delete");
    assert_eq!(
        client.read("accounts", &Key::Id(id), &[]).await.unwrap(),
        None
    );
    let again = client
        .delete("accounts", &Key::Id(id), Precondition::None)
        .await
        .unwrap_err();
    assert!(again.is_not_found(), "{again}");
}

#[tokio::test]
async fn create_and_update_returning_give_the_stored_row() {
    let (_sim, client) = sim::dataverse(Default::default()).await;
    let created = client
        .create_returning(
            "leads",
            &object(json!({"subject": "Co-sell", "lastname": "Ng"})),
            &["subject", "statecode"],
        )
        .await
        .expect("create");
    let id = created.id("leadid").expect("id in the answer");
    assert_eq!(created.get_str("subject"), Some("Co-sell"));
    assert_eq!(
        created.get("statecode"),
        Some(&json!(0)),
        "defaults are applied"
    );
    assert!(
        created.get("lastname").is_none(),
        "$select applies to the representation"
    );

    let updated = client
        .update_returning(
            "leads",
            &Key::Id(id),
            &object(json!({"lastname": "Ngo"})),
            Precondition::MustExist,
            &["lastname"],
        )
        .await
        .expect("update");
    assert_eq!(updated.get_str("lastname"), Some("Ngo"));
    assert_ne!(updated.etag, created.etag);
}

#[tokio::test]
async fn a_filter_with_a_quote_finds_the_right_row() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    for name in ["O'Bryan", "OBryan", "O'Bryan Jr", "Smith"] {
        sim.state
            .dv
            .seed("contacts", object(json!({"lastname": name})))
            .unwrap();
    }
    let found = client
        .query_all(
            "contacts",
            &Query::new()
                .select(["lastname"])
                .filter(Filter::eq("lastname", "O'Bryan")),
        )
        .await
        .expect("query");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get_str("lastname"), Some("O'Bryan"));

    // Unescaped, this value would turn into `lastname eq 'x' or lastname ne 'y'` and match all.
    let hostile = client
        .query_all(
            "contacts",
            &Query::new().filter(Filter::eq("lastname", "x' or lastname ne 'y")),
        )
        .await
        .expect("query");
    assert!(
        hostile.is_empty(),
        "the value stays one literal: {hostile:?}"
    );

    let starts = client
        .query_all(
            "contacts",
            &Query::new()
                .filter(Filter::starts_with("lastname", "o'b"))
                .order_by(OrderBy::asc("lastname")),
        )
        .await
        .unwrap();
    let names: Vec<_> = starts
        .iter()
        .filter_map(|r| r.get_str("lastname"))
        .collect();
    assert_eq!(
        names,
        ["O'Bryan", "O'Bryan Jr"],
        "case-insensitive, ordered"
    );
}

#[tokio::test]
async fn paging_follows_next_links_across_three_pages() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    for n in 0..7 {
        sim.state
            .dv
            .seed(
                "accounts",
                object(json!({"name": format!("A{n}"), "telephone1": "1"})),
            )
            .unwrap();
    }
    sim.state
        .dv
        .seed(
            "accounts",
            object(json!({"name": "other", "telephone1": "2"})),
        )
        .unwrap();
    let query = Query::new()
        .select(["name"])
        .filter(Filter::eq("telephone1", "1"))
        .max_page_size(3);
    let mut page = client.query("accounts", &query).await.expect("first page");
    let mut sizes = vec![page.records.len()];
    let mut names: Vec<String> = page
        .records
        .iter()
        .filter_map(|r| r.get_str("name").map(str::to_owned))
        .collect();
    while let Some(next) = page.next.take() {
        page = client.next_page(&next).await.expect("next page");
        sizes.push(page.records.len());
        names.extend(
            page.records
                .iter()
                .filter_map(|r| r.get_str("name").map(str::to_owned)),
        );
    }
    assert_eq!(sizes, [3, 3, 1]);
    names.sort();
    assert_eq!(names, (0..7).map(|n| format!("A{n}")).collect::<Vec<_>>());
    assert_eq!(client.query_all("accounts", &query).await.unwrap().len(), 7);
    assert!(
        sim::event(&sim, "dataverse GET accounts") >= 6,
        "each page is its own request"
    );
}

#[tokio::test]
async fn a_stale_etag_is_refused_with_412() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = Id(sim
        .state
        .dv
        .seed("opportunities", object(json!({"name": "Deal"})))
        .unwrap());
    let etag = client
        .read("opportunities", &Key::Id(id), &[])
        .await
        .unwrap()
        .unwrap()
        .etag
        .unwrap();
    sim.state
        .dv
        .edit(
            "opportunities",
            id.0,
            object(json!({"description": "seller edit"})),
        )
        .unwrap();

    let error = client
        .update(
            "opportunities",
            &Key::Id(id),
            &object(json!({"name": "Ours"})),
            Precondition::IfMatch(etag),
        )
        .await
        .unwrap_err();
    assert!(error.is_precondition_failed(), "{error}");
    assert_eq!(
        sim.state.dv.row("opportunities", id.0).unwrap()["name"],
        "Deal",
        "nothing written"
    );
}

#[tokio::test]
async fn must_exist_on_a_missing_row_is_404_and_creates_nothing() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = Id::new_random();
    let error = client
        .update(
            "opportunities",
            &Key::Id(id),
            &object(json!({"name": "x"})),
            Precondition::MustExist,
        )
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(sim.state.dv.row("opportunities", id.0).is_none());
}

#[tokio::test]
async fn must_not_exist_creates_once_then_412() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = Id::new_random();
    let key = Key::Id(id);
    client
        .update(
            "opportunities",
            &key,
            &object(json!({"name": "first"})),
            Precondition::MustNotExist,
        )
        .await
        .expect("creates");
    let error = client
        .update(
            "opportunities",
            &key,
            &object(json!({"name": "second"})),
            Precondition::MustNotExist,
        )
        .await
        .unwrap_err();
    assert!(error.is_precondition_failed(), "{error}");
    assert_eq!(
        sim.state.dv.row("opportunities", id.0).unwrap()["name"],
        "first"
    );
}

#[tokio::test]
async fn patch_upserts_a_missing_row() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let id = Id::new_random();
    let returned = client
        .update(
            "opportunities",
            &Key::Id(id),
            &object(json!({"name": "Upserted"})),
            Precondition::None,
        )
        .await
        .expect("upsert");
    assert_eq!(returned, id);
    let stored = sim
        .state
        .dv
        .row("opportunities", id.0)
        .expect("created by the PATCH");
    assert_eq!(stored["name"], "Upserted");
    assert_eq!(stored["statecode"], 0);
}

#[tokio::test]
async fn alternate_keys_address_and_bind_rows() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let key = Key::alternate("accountnumber", "O'Bryan/1 & 2");
    let id = client
        .update(
            "accounts",
            &key,
            &object(json!({"name": "By key"})),
            Precondition::None,
        )
        .await
        .expect("upsert by alternate key");
    let stored = sim.state.dv.row("accounts", id.0).expect("created");
    assert_eq!(stored["accountnumber"], "O'Bryan/1 & 2");

    let record = client
        .read("accounts", &key, &["name"])
        .await
        .unwrap()
        .expect("read by key");
    assert_eq!(record.id("accountid"), Some(id));

    let opportunity = client
        .create(
            "opportunities",
            &object(json!({"name": "Deal", "parentaccountid@odata.bind": bind_key("accounts", &key).unwrap()})),
        )
        .await
        .expect("bind through the key");
    let stored = sim.state.dv.row("opportunities", opportunity.0).unwrap();
    assert_eq!(stored["_parentaccountid_value"], id.to_string());
}

#[tokio::test]
async fn lookups_are_bound_and_read_back_as_values() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let account = client
        .create("accounts", &object(json!({"name": "Contoso"})))
        .await
        .unwrap();
    sim.state
        .dv
        .seed(
            "transactioncurrencies",
            object(json!({"isocurrencycode": "EUR"})),
        )
        .unwrap();
    let currency = client
        .query_all(
            "transactioncurrencies",
            &Query::new().filter(Filter::eq("isocurrencycode", "EUR")),
        )
        .await
        .unwrap()[0]
        .id("transactioncurrencyid")
        .unwrap();
    let opportunity = client
        .create(
            "opportunities",
            &object(json!({
                "name": "Deal",
                "estimatedvalue": 1200.5,
                "customerid_account@odata.bind": bind("accounts", account),
                "parentaccountid@odata.bind": bind("accounts", account),
                "transactioncurrencyid@odata.bind": bind_key("transactioncurrencies", &Key::alternate("isocurrencycode", "EUR")).unwrap(),
            })),
        )
        .await
        .unwrap();
    let found = client
        .query_all(
            "opportunities",
            &Query::new()
                .select(["name", "_customerid_value", "_transactioncurrencyid_value"])
                .filter(Filter::eq("_customerid_value", account))
                .include_annotations("Microsoft.Dynamics.CRM.lookuplogicalname"),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let record = &found[0];
    assert_eq!(record.id("opportunityid"), Some(opportunity));
    assert_eq!(
        record.get_str("_transactioncurrencyid_value"),
        Some(currency.to_string().as_str())
    );
    assert_eq!(
        record.get_str("_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"),
        Some("account")
    );

    let missing = client
        .create("opportunities", &object(json!({"name": "x", "parentaccountid@odata.bind": bind("accounts", Id::new_random())})))
        .await
        .unwrap_err();
    assert!(
        missing.is_not_found(),
        "binding to a missing row: {missing}"
    );
}

#[tokio::test]
async fn expand_lists_related_rows_with_nested_options() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let account = client
        .create("accounts", &object(json!({"name": "Contoso"})))
        .await
        .unwrap();
    for last in ["Ng", "O'Bryan", "Smith"] {
        client
            .create("contacts", &object(json!({"lastname": last, "parentcustomerid_account@odata.bind": bind("accounts", account)})))
            .await
            .unwrap();
    }
    sim.state
        .dv
        .seed("contacts", object(json!({"lastname": "Unrelated"})))
        .unwrap();
    let accounts = client
        .query_all(
            "accounts",
            &Query::new().select(["name"]).expand(
                Expand::new("contact_customer_accounts")
                    .select(["lastname"])
                    .filter(Filter::ne("lastname", "Smith"))
                    .order_by(OrderBy::desc("lastname"))
                    .top(5),
            ),
        )
        .await
        .unwrap();
    let contacts = accounts[0]
        .get("contact_customer_accounts")
        .and_then(Value::as_array)
        .expect("expanded");
    let names: Vec<_> = contacts
        .iter()
        .filter_map(|c| c["lastname"].as_str())
        .collect();
    assert_eq!(names, ["O'Bryan", "Ng"]);
}

#[tokio::test]
async fn a_400_comes_back_with_the_service_message_and_is_not_retried() {
    let (sim, client) = sim::dataverse(Default::default()).await;
    let error = client
        .create("opportunities", &object(json!({"description": "no name"})))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.code(), Some("0x80044331"));
    assert!(error.to_string().contains("'name'"), "{error}");
    assert_eq!(
        sim::event(&sim, "dataverse POST opportunities"),
        1,
        "a 400 is not retried"
    );
}

#[tokio::test]
async fn metadata_lists_change_tracked_tables_and_columns() {
    let (_sim, client) = sim::dataverse(Default::default()).await;
    let tables = client.change_tracked_tables().await.unwrap();
    assert!(tables.iter().any(|t| t == "opportunity"), "{tables:?}");
    assert!(
        !tables.iter().any(|t| t == "transactioncurrency"),
        "{tables:?}"
    );
    let columns = client.attribute_names("opportunity").await.unwrap();
    assert!(
        columns
            .iter()
            .any(|c| c == "msft_microsoftpartnercenterreferralsync"),
        "{columns:?}"
    );
    assert!(columns.iter().any(|c| c == "opportunityid"));
}

/// "Query schema definitions": a choice column's options through the
/// `PicklistAttributeMetadata` cast with `OptionSet` expanded, and the navigation properties a
/// table's one-to-many relationships give it.
#[tokio::test]
async fn metadata_gives_a_choice_columns_options_and_the_navigations_to_a_table() {
    let (_sim, client) = sim::dataverse(Default::default()).await;
    let options = client
        .option_values("opportunity", "msft_microsoftpartnercenterhelp")
        .await
        .unwrap();
    assert_eq!(options.len(), 6, "{options:?}");
    assert_eq!(options[2].value, 100_000_002);
    assert_eq!(
        options[2].label.as_deref(),
        Some("Proof of concept or demo")
    );
    let error = client
        .option_values("opportunity", "new_nosuchcolumn")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
    let error = client
        .option_values("opportunity", "name")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "not a choice: {error}");

    let found = client
        .navigations_to("opportunity", "msft_microsoftpartnercentersolutions")
        .await
        .unwrap();
    assert_eq!(
        found,
        ["msft_opportunity_msft_microsoftpartnercentersolutions"]
    );
    assert!(
        client
            .navigations_to("opportunity", "contact")
            .await
            .unwrap()
            .is_empty()
    );
}
