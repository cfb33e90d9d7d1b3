//! The three ways a listing can find what changed ([`Reading`]), the date it reads them by
//! ([`Stamp`]), and each client's memory of what worked ([`Readings`]).

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::listing::Listed;

/// The date a listing is "after".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `updatedDateTime`: the sweep.
    Updated,
    /// `createdDateTime`: a create's crash recovery, which looks for what it may have made.
    Created,
}

impl Stamp {
    pub(crate) fn of(self, entry: &Listed) -> Option<OffsetDateTime> {
        match self {
            Stamp::Updated => entry.updated(),
            Stamp::Created => entry.created(),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Stamp::Updated => "updatedDateTime",
            Stamp::Created => "createdDateTime",
        }
    }

    /// The first reading to try: no range filter is published for `createdDateTime`, while its
    /// order is the one partner-rest documents.
    pub(crate) fn first(self) -> Reading {
        match self {
            Stamp::Updated => Reading::Range,
            Stamp::Created => Reading::Ordered,
        }
    }
}

/// How a listing finds what changed (see [`crate::changes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reading {
    Range,
    Ordered,
    Full,
}

impl Reading {
    /// What to try when this one is refused or found not honoured.
    pub(crate) fn fallback(self) -> Reading {
        match self {
            Reading::Range => Reading::Ordered,
            Reading::Ordered | Reading::Full => Reading::Full,
        }
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reading::Range => "a range filter on the date ($filter … gt …)",
            Reading::Ordered => "newest first ($orderby … desc), stopping at the watermark",
            Reading::Full => "every referral (no range filter or order honoured)",
        })
    }
}

/// What each date's listings use in this process: the first reading that worked.
#[derive(Debug)]
pub(crate) struct Readings {
    updated: Mutex<Reading>,
    created: Mutex<Reading>,
}

impl Default for Readings {
    fn default() -> Self {
        Self {
            updated: Mutex::new(Stamp::Updated.first()),
            created: Mutex::new(Stamp::Created.first()),
        }
    }
}

impl Readings {
    fn slot(&self, stamp: Stamp) -> &Mutex<Reading> {
        match stamp {
            Stamp::Updated => &self.updated,
            Stamp::Created => &self.created,
        }
    }

    pub(crate) fn get(&self, stamp: Stamp) -> Reading {
        *self.slot(stamp).lock().expect("readings lock")
    }

    /// Never goes back to a reading already given up.
    pub(crate) fn give_up(&self, stamp: Stamp, failed: Reading) {
        let mut slot = self.slot(stamp).lock().expect("readings lock");
        if *slot == failed {
            *slot = failed.fallback();
        }
    }
}
