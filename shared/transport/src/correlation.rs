//! One correlation id per sync, carried into every outbound request made while it runs: the use
//! case opens a [`scope`], the clients read [`current`] (Partner Center's `MS-CorrelationId`), and
//! the same id is on the sync's log span — so one sync's requests and logs are found together.

use std::future::Future;

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `work` with `id` as the current correlation id.
pub async fn scope<F: Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

/// The correlation id of the sync this task runs, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_seen_inside_its_scope_only() {
        assert_eq!(current(), None);
        let inside = scope("sync-1".into(), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("sync-1"));
        assert_eq!(current(), None);
    }
}
