//! Setup's change-tracking step: switched on for opportunity through the metadata API when off
//! (what Power Apps' "Track changes" box does), then the same test `check` runs — a real delta
//! read, whose privilege refusal names the Organization-level Read the application user needs.

use cosell_dataverse::DataverseClient;
use cosell_dataverse::pipeline::Apply;

use crate::check::{self, Check};

const NAME: &str = "change tracking";

/// Fix for a refused metadata write: who may update a table definition.
const CUSTOMIZER_FIX: &str = "updating a table definition needs the System Customizer (or \
     System Administrator) role: run cosell setup as a user who holds it, or switch on \
     Power Apps → Tables → Opportunity → Properties → Advanced options → Track changes";

/// Switches change tracking on for opportunity when it is off (as `dataverse`'s identity), then
/// checks it as the application user, who reads the changes.
pub async fn step(
    dataverse: &DataverseClient,
    application_user: &DataverseClient,
    apply: Apply,
) -> Check {
    let switched = match dataverse.change_tracking_enabled("opportunity").await {
        Ok(true) => false,
        Ok(false) if apply == Apply::Plan => {
            return Check::pass(NAME, "off on opportunity: would be switched on");
        }
        Ok(false) => match dataverse.enable_change_tracking("opportunity").await {
            Ok(()) => true,
            Err(error) if error.is_privilege_denied() => {
                return Check::fail(
                    NAME,
                    format!("off on opportunity, and switching it on was refused: {error}"),
                    CUSTOMIZER_FIX,
                );
            }
            Err(error) => {
                return Check::fail(
                    NAME,
                    format!("off on opportunity, and switching it on failed: {error}"),
                    "run cosell setup again; it continues where it stopped",
                );
            }
        },
        Err(error) => {
            return Check::fail(
                NAME,
                format!("the opportunity table's definition could not be read: {error}"),
                "the application user needs read access to table metadata",
            );
        }
    };
    let mut checked = check::change_tracking(application_user).await;
    let done = if switched {
        "switched on for opportunity"
    } else {
        "unchanged"
    };
    checked.detail = format!("{done}; {}", checked.detail);
    checked
}
