//! How long one invocation may work, so that it always ends by storing what it could not
//! finish rather than being killed halfway ([`cosell_transport::deadline`]).
//!
//! | host | budget |
//! |---|---|
//! | a Lambda function | its timeout (`template.yaml`) less [`RESERVE`] |
//! | `cosell serve`, a webhook | [`WEBHOOK`]: the webhook function's 30 s less the reserve |
//! | `cosell serve`, a scheduled run | its run lease less the reserve |

use std::time::{Duration, Instant};

/// Kept back from every deadline to park the unfinished work and answer.
pub const RESERVE: Duration = Duration::from_secs(3);

/// A webhook's budget where no Lambda timeout sets one: what webhook-ingress has in AWS.
pub const WEBHOOK: Duration = Duration::from_secs(27);

/// The work deadline of a Lambda invocation whose context's `deadline` (milliseconds since the
/// Unix epoch) is `deadline_ms`.
pub fn lambda(deadline_ms: u64) -> Instant {
    cosell_transport::deadline::before_epoch_millis(deadline_ms, RESERVE)
}

/// The work deadline of a run allowed `limit` from now (a lease, a serve budget).
pub fn from_now(limit: Duration) -> Instant {
    Instant::now() + limit.saturating_sub(RESERVE)
}
