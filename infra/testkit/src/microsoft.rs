//! What Microsoft does, through the simulator's admin routes: a referral created for the partner,
//! a Microsoft seller's edit, the webhook service's knobs.

use cosell_sim::Sim;
use serde_json::Value;

use crate::http;

/// A referral as Microsoft creates it (fires `referral-created`); the referral.
pub async fn seed_referral(sim: &Sim, referral: Value) -> Value {
    let url = format!("{}/_admin/partner-center/referrals", sim.base_url);
    let response = http().post(url).json(&referral).send().await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// A Microsoft seller's edit in Partner Center (fires `referral-updated`); the referral.
pub async fn edit_referral(sim: &Sim, id: &str, patch: Value) -> Value {
    let url = format!("{}/_admin/partner-center/referrals/{id}", sim.base_url);
    let response = http().patch(url).json(&patch).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// A request to an admin route (`_admin/{path}`), asserted successful.
pub async fn admin(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http().request(method, format!("{}/_admin/{path}", sim.base_url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert!(status.is_success(), "{path}: {status}");
    response
}

/// What an admin route of Partner Center's (`_admin/partner-center/{path}`) shows.
pub async fn partner_center(sim: &Sim, path: &str) -> Value {
    let path = format!("partner-center/{path}");
    let response = admin(sim, reqwest::Method::GET, &path, None).await;
    response.json().await.unwrap()
}

/// Sets the webhook service's knobs (dropped or reordered deliveries, a lagging read).
pub async fn set_webhook_knobs(sim: &Sim, knobs: Value) {
    let url = format!("{}/_admin/partner-center/webhooks/knobs", sim.base_url);
    let response = http().put(url).json(&knobs).send().await.unwrap();
    assert_eq!(response.status(), 204);
}
