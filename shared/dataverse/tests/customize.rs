//! The schema writes `cosell setup` makes, against the simulator over real sockets: change
//! tracking switched on by a whole-definition `PUT` and published, and a delta read refused for
//! a role that reads opportunities at business-unit level only.

use cosell_sim::dataverse::DvConfig;

use cosell_testkit::sim;

#[tokio::test]
async fn change_tracking_is_switched_on_by_a_whole_definition_put_and_published() {
    let (sim, client) =
        sim::dataverse(DvConfig::default().with_change_tracking_off("opportunities")).await;
    assert!(!client.change_tracking_enabled("opportunity").await.unwrap());
    let refused = client
        .try_change_read("opportunities", "opportunityid")
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(400), "{refused}");

    client.enable_change_tracking("opportunity").await.unwrap();
    assert!(client.change_tracking_enabled("opportunity").await.unwrap());
    assert!(
        client
            .change_tracked_tables()
            .await
            .unwrap()
            .contains(&"opportunity".to_owned())
    );
    client
        .try_change_read("opportunities", "opportunityid")
        .await
        .unwrap();
    assert_eq!(sim::event(&sim, "dataverse PUT EntityDefinitions"), 1);
    assert_eq!(sim::event(&sim, "dataverse POST PublishXml"), 1);
}

#[tokio::test]
async fn a_definition_put_missing_a_property_is_refused() {
    // "Create and update table definitions using the Web API": a definition is replaced whole;
    // a body with only the property to change would reset the others. The simulator refuses it.
    let (sim, client) =
        sim::dataverse(DvConfig::default().with_change_tracking_off("opportunities")).await;
    let response = reqwest::Client::new()
        .put(format!(
            "{}EntityDefinitions(LogicalName='opportunity')",
            client.api_base_url()
        ))
        .bearer_auth(sim.state.tokens.issue(cosell_sim::Audience::Dataverse).0)
        .json(&serde_json::json!({"LogicalName": "opportunity", "ChangeTrackingEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("replaced whole"), "{text}");
    assert!(!client.change_tracking_enabled("opportunity").await.unwrap());
}

#[tokio::test]
async fn a_business_unit_reader_is_refused_the_delta_read_as_a_privilege() {
    let (_sim, client) = sim::dataverse(DvConfig {
        business_unit_read: vec!["opportunity".into()],
        ..DvConfig::default()
    })
    .await;
    // Every other read works…
    client
        .query(
            "opportunities",
            &cosell_dataverse::Query::new().select(["name"]).top(1),
        )
        .await
        .unwrap();
    // …but not the one change tracking makes.
    let refused = client
        .try_change_read("opportunities", "opportunityid")
        .await
        .unwrap_err();
    assert!(refused.is_privilege_denied(), "{refused}");
}

#[tokio::test]
async fn the_webhook_endpoint_and_its_steps_are_made_once_and_corrected_in_place() {
    use cosell_dataverse::pipeline::{Apply, StepSpec, Written};
    use cosell_transport::Secret;

    let (sim, client) = sim::dataverse(DvConfig::default()).await;
    let key = Secret::new("the-key");
    let url = "https://abc.lambda-url.eu-west-1.on.aws/";
    let (endpoint, written) = client
        .ensure_webhook_endpoint("cosell", url, &key, true, Apply::Write)
        .await
        .unwrap();
    assert_eq!(written, Written::Created);
    let update = StepSpec {
        name: "cosell: Update of opportunity".into(),
        message: "Update".into(),
        table: Some("opportunity".into()),
        filtering_attributes: Some("name,estimatedvalue".into()),
        pre_image: None,
    };
    assert_eq!(
        client
            .ensure_step(&update, endpoint, Apply::Write)
            .await
            .unwrap(),
        Written::Created
    );

    // As stored: the key never read back, the step bound to the endpoint and the filter.
    let stored = sim.state.dv.row("serviceendpoints", endpoint.0).unwrap();
    assert_eq!(stored["contract"], 8);
    assert_eq!(stored["authtype"], 4, "WebhookKey");
    assert_eq!(stored["authvalue"], "the-key");
    let answered = client
        .read(
            "serviceendpoints",
            &cosell_dataverse::Key::from(endpoint),
            &[],
        )
        .await
        .unwrap()
        .expect("the endpoint");
    assert!(
        answered.row.get("authvalue").is_none(),
        "{:?}",
        answered.row
    );
    let steps = client
        .query_all(
            "sdkmessageprocessingsteps",
            &cosell_dataverse::Query::new().filter(cosell_dataverse::Filter::eq(
                "_eventhandler_value",
                endpoint.0,
            )),
        )
        .await
        .unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].row["mode"], 1, "asynchronous");
    assert_eq!(steps[0].row["stage"], 40, "post-operation");
    assert_eq!(steps[0].row["filteringattributes"], "name,estimatedvalue");

    // A rerun writes nothing.
    let before = sim::event(&sim, "dataverse PATCH serviceendpoints(key)")
        + sim::event(&sim, "dataverse POST serviceendpoints")
        + sim::event(&sim, "dataverse POST sdkmessageprocessingsteps")
        + sim::event(&sim, "dataverse PATCH sdkmessageprocessingsteps(key)");
    assert_eq!(
        client
            .ensure_webhook_endpoint("cosell", url, &key, false, Apply::Write)
            .await
            .unwrap(),
        (endpoint, Written::Unchanged)
    );
    assert_eq!(
        client
            .ensure_step(&update, endpoint, Apply::Write)
            .await
            .unwrap(),
        Written::Unchanged
    );
    let after = sim::event(&sim, "dataverse PATCH serviceendpoints(key)")
        + sim::event(&sim, "dataverse POST serviceendpoints")
        + sim::event(&sim, "dataverse POST sdkmessageprocessingsteps")
        + sim::event(&sim, "dataverse PATCH sdkmessageprocessingsteps(key)");
    assert_eq!(after, before);

    // Another URL, another filter: corrected in place, and said.
    let moved = "https://def.lambda-url.eu-west-1.on.aws/";
    assert_eq!(
        client
            .ensure_webhook_endpoint("cosell", moved, &key, false, Apply::Write)
            .await
            .unwrap(),
        (endpoint, Written::Updated { was: url.into() })
    );
    let narrower = StepSpec {
        filtering_attributes: Some("name".into()),
        ..update.clone()
    };
    assert_eq!(
        client
            .ensure_step(&narrower, endpoint, Apply::Write)
            .await
            .unwrap(),
        Written::Updated {
            was: "name,estimatedvalue".into()
        }
    );
    assert_eq!(
        sim.state.dv.row("serviceendpoints", endpoint.0).unwrap()["url"],
        moved
    );

    // Removed: the step, then the endpoint.
    assert_eq!(client.remove_webhook_endpoint("cosell").await.unwrap(), 2);
    assert!(sim.state.dv.row("serviceendpoints", endpoint.0).is_none());
    assert_eq!(client.remove_webhook_endpoint("cosell").await.unwrap(), 0);
}
