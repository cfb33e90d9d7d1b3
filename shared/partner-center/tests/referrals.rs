//! Every referrals operation against the simulator over real sockets.

use cosell_mapping::{Direction, Referral, Status, Substatus};
use cosell_partner_center::{Error, Field, Filter, ListQuery, Listed, OrderBy, PatchOp};
use futures::TryStreamExt;
use serde_json::{Value, json};

use cosell_testkit::sim::WithPartnerCenter;
use cosell_testkit::{microsoft, sim};

fn named(name: &str) -> Referral {
    Referral {
        name: Some(name.into()),
        ..Referral::default()
    }
}

#[tokio::test]
async fn create_get_replace_and_patch_carry_etags() {
    let WithPartnerCenter {
        client, sim: _sim, ..
    } = sim::with_partner_center().await;
    let mut draft = named("Contoso migration");
    draft.extra.insert("dealSensitivity".into(), json!("High"));
    let created = client.create_referral(&draft).await.unwrap();
    let id = created.value.id.clone().unwrap();
    assert!(created.value.engagement_id.is_some() && created.value.created_date_time.is_some());
    assert_eq!(created.etag, created.value.etag);
    assert_eq!(created.value.state(), (Status::New, Substatus::Pending));

    let fetched = client.get_referral(&id).await.unwrap();
    assert_eq!(fetched.etag, created.etag);
    assert_eq!(fetched.value.extra["dealSensitivity"], "High");

    let mut changed = fetched.value.clone();
    changed.external_reference_id = Some("opportunity-1".into());
    let replaced = client
        .replace_referral(&id, &changed, fetched.etag.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        replaced.value.external_reference_id.as_deref(),
        Some("opportunity-1")
    );
    assert_eq!(
        replaced.value.extra["dealSensitivity"], "High",
        "unknown keys survive a round trip"
    );
    assert_ne!(replaced.etag, fetched.etag);

    let patched = client
        .patch_referral(
            &id,
            &[
                PatchOp::replace("/status", "Active"),
                PatchOp::replace("/substatus", "Accepted"),
            ],
            replaced.etag.as_deref(),
        )
        .await
        .unwrap();
    // The connector declares a bare 204: no body, no ETag. The new state and eTag are read.
    assert_eq!(patched.etag, None);
    let after = client.get_referral(&id).await.unwrap();
    assert!(after.etag.is_some() && after.etag != replaced.etag);
    assert_eq!(after.value.state(), (Status::Active, Substatus::Accepted));
    assert!(after.value.accepted_date_time.is_some());

    client
        .patch_referral(
            &id,
            &[PatchOp::add("/team/-", json!({"firstName": "Ana"}))],
            None,
        )
        .await
        .unwrap();
    let after = client.get_referral(&id).await.unwrap();
    assert_eq!(after.value.team[0].first_name.as_deref(), Some("Ana"));
}

#[tokio::test]
async fn a_stale_etag_is_precondition_failed_on_put_and_patch() {
    let WithPartnerCenter {
        client, sim: _sim, ..
    } = sim::with_partner_center().await;
    let created = client.create_referral(&named("Raced")).await.unwrap();
    let id = created.value.id.clone().unwrap();
    let stale = created.etag.clone().unwrap();
    client
        .patch_referral(
            &id,
            &[PatchOp::replace("/externalReferenceId", "Raced (edited)")],
            Some(&stale),
        )
        .await
        .unwrap();

    let put = client
        .replace_referral(&id, &created.value, &stale)
        .await
        .unwrap_err();
    assert!(put.is_precondition_failed(), "{put}");
    assert_eq!(put.code(), Some("preconditionFailed"));
    let patch = client
        .patch_referral(
            &id,
            &[PatchOp::replace("/externalReferenceId", "lost update")],
            Some(&stale),
        )
        .await
        .unwrap_err();
    assert!(patch.is_precondition_failed(), "{patch}");
    assert_eq!(
        client
            .get_referral(&id)
            .await
            .unwrap()
            .value
            .external_reference_id
            .as_deref(),
        Some("Raced (edited)")
    );
}

#[tokio::test]
async fn an_illegal_status_move_comes_back_with_the_service_code_and_message() {
    let WithPartnerCenter { sim, client, .. } = sim::with_partner_center().await;
    let created = client.create_referral(&named("Won deal")).await.unwrap();
    let id = created.value.id.clone().unwrap();
    let won = [
        PatchOp::replace("/status", "Closed"),
        PatchOp::replace("/substatus", "Won"),
    ];
    client.patch_referral(&id, &won, None).await.unwrap();

    let reopen = [
        PatchOp::replace("/status", "Active"),
        PatchOp::replace("/substatus", "Accepted"),
    ];
    let error = client.patch_referral(&id, &reopen, None).await.unwrap_err();
    let Error::Api(cosell_partner_center::ApiError::Service {
        status,
        code,
        message,
        ..
    }) = &error
    else {
        panic!("expected a service error, got {error:?}");
    };
    assert_eq!((*status, code.as_str()), (400, "invalidRequest"));
    assert!(
        message.contains("Closed/Won") && message.contains("Active/Accepted"),
        "{message}"
    );
    let patches = sim::route(
        &sim,
        "partner-center PATCH /v1.0/engagements/referrals/{id}",
    );
    assert_eq!(patches, 2, "a 400 is not retried");
}

#[tokio::test]
async fn lists_three_pages_by_following_the_next_link() {
    let WithPartnerCenter { sim, client, .. } = sim::with_partner_center().await;
    let referrals: Vec<Value> = (0..260)
        .map(|i| {
            let country = if i % 13 == 0 { "DE" } else { "US" };
            json!({"name": format!("lead {i}"), "customerProfile": {"address": {"country": country}}})
        })
        .collect();
    microsoft::seed_referral(&sim, Value::Array(referrals)).await;

    let query = ListQuery::new()
        .filter(
            Filter::new()
                .eq(Field::CustomerCountry, "US")
                .eq(Field::Direction, Direction::Incoming),
        )
        .order_by(OrderBy::CreatedDesc);
    let pages: Vec<_> = client
        .list_referrals(query.clone())
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.entries.len()).collect();
    assert_eq!(sizes, [100, 100, 40]);
    assert_eq!(pages[0].count, Some(240));
    let all: Vec<_> = pages
        .into_iter()
        .flat_map(|p| p.entries)
        .filter_map(Listed::readable)
        .collect();
    let mut ids: Vec<_> = all.iter().map(|r| r.id.clone().unwrap()).collect();
    assert!(all.iter().all(|r| {
        r.customer_profile
            .as_ref()
            .unwrap()
            .address
            .as_ref()
            .unwrap()
            .country
            .as_deref()
            == Some("US")
    }));
    assert!(
        all.windows(2)
            .all(|w| w[0].created_date_time >= w[1].created_date_time)
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 240);
    // The next links are in Microsoft's documented form — `http://<host>/v1.0/referrals?…`, on
    // the default port and a path the client never builds — and were followed on the
    // referrals base's scheme and port.
    assert_eq!(sim::route(&sim, "partner-center GET /v1.0/referrals"), 2);

    assert_eq!(
        client
            .list_all_referrals(query.top(150))
            .await
            .unwrap()
            .len(),
        150
    );
}

#[tokio::test]
async fn a_quote_in_a_filter_value_is_escaped() {
    let WithPartnerCenter { sim, client, .. } = sim::with_partner_center().await;
    microsoft::seed_referral(
        &sim,
        json!([
            {"name": "match", "engagementId": "O'Bryan's engagement"},
            {"name": "prefix", "engagementId": "O"},
            {"name": "other", "engagementId": "Bryan's engagement"},
        ]),
    )
    .await;
    let query =
        ListQuery::new().filter(Filter::new().eq(Field::EngagementId, "O'Bryan's engagement"));
    let found = readable(client.list_all_referrals(query).await.unwrap());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name.as_deref(), Some("match"));
}

#[tokio::test]
async fn a_connected_referral_shares_the_engagement() {
    let WithPartnerCenter {
        client, sim: _sim, ..
    } = sim::with_partner_center().await;
    let partner = client
        .create_referral(&named("Partner side"))
        .await
        .unwrap()
        .value;
    let microsoft = Referral {
        engagement_id: partner.engagement_id.clone(),
        ..named("Microsoft side")
    };
    let connected = client.create_referral(&microsoft).await.unwrap().value;
    assert_eq!(connected.engagement_id, partner.engagement_id);
    let query = ListQuery::new()
        .filter(Filter::new().eq(Field::EngagementId, partner.engagement_id.unwrap()));
    assert_eq!(client.list_all_referrals(query).await.unwrap().len(), 2);
}

#[tokio::test]
async fn missing_referrals_are_not_found_and_foreign_next_links_are_refused() {
    let WithPartnerCenter {
        client, sim: _sim, ..
    } = sim::with_partner_center().await;
    assert!(
        client
            .get_referral("no-such-id")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let foreign = client
        .next_referral_page("https://elsewhere.example/v1.0/engagements/referrals?$skiptoken=x")
        .await
        .unwrap_err();
    assert!(matches!(foreign, Error::ForeignNextLink(_)), "{foreign:?}");
}

/// The entries of a listing, each of which must be readable here.
fn readable(listed: Vec<Listed>) -> Vec<Referral> {
    listed
        .into_iter()
        .map(|entry| match entry {
            Listed::Readable(referral) => referral,
            Listed::Unreadable(u) => panic!("unreadable: {u}"),
        })
        .collect()
}
