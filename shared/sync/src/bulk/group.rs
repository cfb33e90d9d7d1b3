//! A group: the referrals one bulk step syncs together. Each member runs the one-referral sync
//! unchanged (its leases, its link, its parking); the Dataverse queries and change sets it makes
//! while in the group wait until every member still running waits too, and then go as one
//! `$batch`. So the group's match queries travel together, then its change sets — one change
//! set per referral, answered on its own, so one referral's failure never undoes another's.
//!
//! The group is found through a task-local, like the invocation's deadline: the sync's code does
//! not know it is in one, and outside a group ([`current`] is `None`) every call goes straight
//! to the service as before.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cosell_dataverse::{Answer, Batch, ChangeSet, DataverseError, MAX_REQUESTS, Query};
use cosell_transport::deadline;
use tokio::sync::oneshot;

use crate::ports::Crm;

tokio::task_local! {
    static GROUP: Arc<Group>;
}

/// How long a call waits for the rest of its group at most: a member held up elsewhere (a lease
/// another sync holds, Partner Center slow to answer) holds the others no longer than this.
const LINGER: Duration = Duration::from_millis(500);

/// The group the running member belongs to, if any.
pub(crate) fn current() -> Option<Arc<Group>> {
    GROUP.try_with(Arc::clone).ok()
}

/// A query or a change set waiting for the group's next batch.
pub(crate) enum Entry {
    Query(String, Query),
    Changes(ChangeSet),
}

impl Entry {
    fn requests(&self) -> usize {
        match self {
            Entry::Query(..) => 1,
            Entry::Changes(changes) => changes.len(),
        }
    }

    fn is_repeatable(&self) -> bool {
        match self {
            Entry::Query(..) => true,
            Entry::Changes(changes) => changes.is_repeatable(),
        }
    }
}

type Reply = oneshot::Sender<Result<Answer, DataverseError>>;

/// What a group's batches met, for the pace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sent {
    pub batches: usize,
    /// Requests inside them (each query, each request of a change set).
    pub requests: usize,
    /// The slowest batch: how long it took and how many referrals' entries it carried.
    pub slowest: Option<(Duration, usize)>,
    /// The batches' time together: what the group cost in server time, at most.
    pub busy: Duration,
    /// The `429`s met while they were sent, by the limit's code.
    pub throttled: BTreeMap<String, u64>,
    /// The service's recommended degree of parallelism (`x-ms-dop-hint`), when it said one.
    pub dop_hint: Option<u32>,
    /// Batches that failed as a whole (unanswered in time, refused): each member parked.
    pub failed: usize,
    /// How long one attempt of a request may take with the client that sent them.
    pub attempt_timeout: Option<Duration>,
}

pub(crate) struct Group {
    state: Mutex<State>,
}

struct State {
    /// Members not finished.
    running: usize,
    pending: Vec<(Entry, Reply)>,
    /// Where the batches go: the service client the members' calls were headed for.
    crm: Option<Arc<dyn Crm>>,
    /// The members' deadline: the batches sent for them keep it.
    deadline: Option<std::time::Instant>,
    /// Counts the batches taken: a linger timer armed before one finds nothing of its own.
    round: u64,
    armed: bool,
    sent: Sent,
}

/// Entries taken to be sent, and where to.
struct Due {
    entries: Vec<(Entry, Reply)>,
    crm: Arc<dyn Crm>,
    deadline: Option<std::time::Instant>,
}

impl Group {
    /// A group of `members`, every one counted before any starts: the first to call must not
    /// find itself alone and send at once.
    pub(crate) fn new(members: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                running: members,
                pending: Vec::new(),
                crm: None,
                deadline: None,
                round: 0,
                armed: false,
                sent: Sent::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one member's work in the group.
    pub(crate) async fn member<F: Future>(self: &Arc<Self>, work: F) -> F::Output {
        let _done = Done(self.clone());
        GROUP.scope(self.clone(), work).await
    }

    /// What the group's batches met so far.
    pub(crate) fn sent(&self) -> Sent {
        self.lock().sent.clone()
    }

    /// Waits for `entry`'s answer from the group's next batch to `crm`.
    pub(crate) async fn send(
        self: &Arc<Self>,
        crm: &Arc<dyn Crm>,
        entry: Entry,
    ) -> Result<Answer, DataverseError> {
        let (reply, answer) = oneshot::channel();
        let due = {
            let mut state = self.lock();
            state.crm.get_or_insert_with(|| crm.clone());
            state.deadline = state.deadline.or(deadline::current());
            state.pending.push((entry, reply));
            self.take_due(&mut state)
        };
        if let Some(due) = due {
            dispatch(self.clone(), due);
        }
        answer.await.unwrap_or_else(|_| {
            Err(DataverseError::Protocol {
                operation: "batch",
                detail: "the batch carrying this request was dropped unanswered".into(),
            })
        })
    }

    /// The pending entries when every running member waits (or they fill a batch); else the
    /// linger timer armed.
    fn take_due(self: &Arc<Self>, state: &mut State) -> Option<Due> {
        if state.pending.is_empty() {
            return None;
        }
        let requests: usize = state.pending.iter().map(|(e, _)| e.requests()).sum();
        if state.pending.len() >= state.running || requests >= MAX_REQUESTS {
            return take(state);
        }
        if !state.armed {
            state.armed = true;
            let (group, round) = (self.clone(), state.round);
            tokio::spawn(async move {
                tokio::time::sleep(LINGER).await;
                let due = {
                    let mut state = group.lock();
                    (state.round == round).then(|| take(&mut state)).flatten()
                };
                if let Some(due) = due {
                    dispatch(group, due);
                }
            });
        }
        None
    }
}

fn take(state: &mut State) -> Option<Due> {
    state.round += 1;
    state.armed = false;
    Some(Due {
        entries: std::mem::take(&mut state.pending),
        crm: state.crm.clone()?,
        deadline: state.deadline,
    })
}

/// A member finished: the others may all be waiting now.
struct Done(Arc<Group>);

impl Drop for Done {
    fn drop(&mut self) {
        let due = {
            let mut state = self.0.lock();
            state.running = state.running.saturating_sub(1);
            self.0.take_due(&mut state)
        };
        if let Some(due) = due {
            dispatch(self.0.clone(), due);
        }
    }
}

/// Sends the due entries on their own task (a member's future may be dropped; its batch is
/// still answered to the others): what may be sent again after a lost answer in one batch,
/// what may not in another, each within [`MAX_REQUESTS`].
fn dispatch(group: Arc<Group>, due: Due) {
    let Due {
        entries,
        crm,
        deadline,
    } = due;
    let (again, once): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(e, _)| e.is_repeatable());
    for entries in [again, once] {
        for batch in chunks(entries) {
            let (group, crm) = (group.clone(), crm.clone());
            tokio::spawn(deadline::within(deadline, async move {
                group.send_batch(&*crm, batch).await;
            }));
        }
    }
}

/// `entries` cut into batches of at most [`MAX_REQUESTS`] requests.
fn chunks(entries: Vec<(Entry, Reply)>) -> Vec<Vec<(Entry, Reply)>> {
    let mut batches: Vec<Vec<(Entry, Reply)>> = Vec::new();
    let mut requests = 0;
    for entry in entries {
        let size = entry.0.requests();
        if batches.is_empty() || requests + size > MAX_REQUESTS {
            batches.push(Vec::new());
            requests = 0;
        }
        requests += size;
        batches.last_mut().expect("a batch").push(entry);
    }
    batches
}

impl Group {
    async fn send_batch(&self, crm: &dyn Crm, entries: Vec<(Entry, Reply)>) {
        let mut batch = Batch::new();
        let mut replies = Vec::with_capacity(entries.len());
        for (entry, reply) in entries {
            match entry {
                Entry::Query(set, query) => batch.query(&set, query),
                Entry::Changes(changes) => batch.changes(changes),
            }
            replies.push(reply);
        }
        let before = crm.throttles();
        let started = Instant::now();
        let answered = crm.batch(&batch).await;
        let took = started.elapsed();
        let after = crm.throttles();
        {
            let mut state = self.lock();
            let sent = &mut state.sent;
            sent.batches += 1;
            sent.requests += batch.requests();
            sent.busy += took;
            if sent.slowest.is_none_or(|(slowest, _)| took > slowest) {
                sent.slowest = Some((took, replies.len()));
            }
            for (code, count) in after {
                let new = count.saturating_sub(before.get(&code).copied().unwrap_or(0));
                if new > 0 {
                    *sent.throttled.entry(code).or_default() += new;
                }
            }
            sent.attempt_timeout = Some(crm.attempt_timeout());
            match &answered {
                Ok(answer) => sent.dop_hint = answer.dop_hint.or(sent.dop_hint),
                Err(_) => sent.failed += 1,
            }
        }
        match answered {
            Ok(answer) => {
                for (reply, answer) in replies.into_iter().zip(answer.answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::warn!(%error, entries = replies.len(), "a bulk $batch failed as a whole");
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(DataverseError::InBatch(error.clone())));
                }
            }
        }
    }
}
