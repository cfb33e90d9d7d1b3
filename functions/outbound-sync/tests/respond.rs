//! A seller's accept in Dynamics 365 completes the waiting referral's task on the outbound path:
//! the webhook our patch fires is an echo that writes nothing, so the outbound sync closes it.

use cosell_mapping::respond::task_id;
use cosell_sync::{Synced, WorkKey};
use serde_json::json;

use cosell_testkit::rid;
use cosell_testkit::stack::Stack;

#[tokio::test]
async fn the_sellers_accept_in_the_crm_completes_the_task() {
    let stack = Stack::both().await;
    let (opportunity, referral_id) = stack.incoming().await;
    let task = task_id(&referral_id);
    assert_eq!(
        stack.sim.state.dv.row("tasks", task).unwrap()["statecode"],
        0
    );

    stack.seller_edit(opportunity, json!({"statuscode": 1}));
    let report = stack.poll().await;
    assert!(
        matches!(&report.synced[0].1, Synced::Updated { .. }),
        "{report:?}"
    );
    assert_eq!(stack.referral(&referral_id)["status"], "Active");
    let row = stack.sim.state.dv.row("tasks", task).unwrap();
    assert_eq!(
        (&row["statecode"], &row["statuscode"]),
        (&json!(1), &json!(5))
    );
    let item = WorkKey::Respond(rid(&referral_id)).to_string();
    assert_eq!(stack.port().retry(&item).await.unwrap(), None);
    // The echo of our patch finds nothing to close, and writes nothing.
    stack.drain_deliveries().await;
    assert_eq!(stack.sim.state.dv.rows("tasks").len(), 1);
}
