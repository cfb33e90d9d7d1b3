//! The rows of every entity set, one global version counter (the row version behind
//! `@odata.etag` and change tracking), the log of deletions change tracking reports, and an undo
//! journal so a `$batch` change set can be rolled back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};
use uuid::Uuid;

/// One row as stored: its columns and the version of its last write.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub data: Map<String, Value>,
    pub version: u64,
}

impl StoredRow {
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// One row written or removed, before and after: what raises the Dataverse webhook's events.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    pub set: String,
    pub id: Uuid,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
}

/// A deleted row, remembered for change tracking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deletion {
    pub id: Uuid,
    pub version: u64,
}

#[derive(Debug, Default)]
struct Table {
    rows: BTreeMap<Uuid, StoredRow>,
    deletions: Vec<Deletion>,
}

enum Undo {
    Row {
        set: String,
        id: Uuid,
        previous: Option<StoredRow>,
    },
    Deletion {
        set: String,
    },
}

pub struct Store {
    tables: HashMap<String, Table>,
    version: u64,
    journal: Option<Vec<Undo>>,
    /// Delta tokens at or below this version are expired (admin "expire all tokens now").
    pub tokens_expired_through: u64,
    /// Tables (logical names) whose change tracking a metadata update switched on.
    pub change_tracking_on: BTreeSet<String>,
    /// Row changes not yet taken ([`Store::take_changes`]); a rolled-back change set's go too.
    changes: Vec<RowChange>,
    /// Where the open change set's changes start.
    changes_at_begin: usize,
}

impl Store {
    pub fn new(first_version: u64) -> Self {
        Self {
            tables: HashMap::new(),
            version: first_version,
            journal: None,
            tokens_expired_through: 0,
            change_tracking_on: BTreeSet::new(),
            changes: Vec::new(),
            changes_at_begin: 0,
        }
    }

    /// The version of the latest write (what a new delta token starts from).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Moves the counter on without a write (so tokens issued after an expiry differ).
    pub fn bump_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    pub fn get(&self, set: &str, id: &Uuid) -> Option<&StoredRow> {
        self.tables.get(set)?.rows.get(id)
    }

    /// Rows of a set in primary key order.
    pub fn rows(&self, set: &str) -> impl Iterator<Item = (&Uuid, &StoredRow)> {
        self.tables.get(set).into_iter().flat_map(|t| t.rows.iter())
    }

    pub fn deletions(&self, set: &str) -> impl Iterator<Item = &Deletion> {
        self.tables
            .get(set)
            .into_iter()
            .flat_map(|t| t.deletions.iter())
    }

    /// Inserts or replaces a row under a new version (also written to its `versionnumber`
    /// column) and returns that version.
    pub fn put(&mut self, set: &str, id: Uuid, mut data: Map<String, Value>) -> u64 {
        let version = self.bump_version();
        data.insert("versionnumber".into(), version.into());
        let after = Some(data.clone());
        let previous = self
            .tables
            .entry(set.to_owned())
            .or_default()
            .rows
            .insert(id, StoredRow { data, version });
        self.changes.push(RowChange {
            set: set.to_owned(),
            id,
            before: previous.as_ref().map(|p| p.data.clone()),
            after,
        });
        self.record(Undo::Row {
            set: set.to_owned(),
            id,
            previous,
        });
        version
    }

    /// Removes a row and remembers the deletion for change tracking.
    pub fn remove(&mut self, set: &str, id: &Uuid) -> Option<StoredRow> {
        let table = self.tables.get_mut(set)?;
        let previous = table.rows.remove(id)?;
        self.version += 1;
        let version = self.version;
        let table = self.tables.get_mut(set)?;
        table.deletions.push(Deletion { id: *id, version });
        self.changes.push(RowChange {
            set: set.to_owned(),
            id: *id,
            before: Some(previous.data.clone()),
            after: None,
        });
        self.record(Undo::Row {
            set: set.to_owned(),
            id: *id,
            previous: Some(previous.clone()),
        });
        self.record(Undo::Deletion {
            set: set.to_owned(),
        });
        Some(previous)
    }

    fn record(&mut self, undo: Undo) {
        if let Some(journal) = &mut self.journal {
            journal.push(undo);
        }
    }

    /// Starts an atomic unit (a change set). Versions are not given back on rollback: gaps are
    /// harmless, as in the real service.
    pub fn begin(&mut self) {
        self.journal = Some(Vec::new());
        self.changes_at_begin = self.changes.len();
    }

    /// The row changes since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<RowChange> {
        std::mem::take(&mut self.changes)
    }

    pub fn commit(&mut self) {
        self.journal = None;
    }

    pub fn rollback(&mut self) {
        let Some(journal) = self.journal.take() else {
            return;
        };
        self.changes.truncate(self.changes_at_begin);
        for undo in journal.into_iter().rev() {
            match undo {
                Undo::Row { set, id, previous } => {
                    let table = self.tables.entry(set).or_default();
                    match previous {
                        Some(row) => {
                            table.rows.insert(id, row);
                        }
                        None => {
                            table.rows.remove(&id);
                        }
                    }
                }
                Undo::Deletion { set } => {
                    if let Some(table) = self.tables.get_mut(&set) {
                        table.deletions.pop();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_rows_and_deletions() {
        let mut store = Store::new(10);
        let kept = Uuid::new_v4();
        store.put("accounts", kept, Map::new());
        store.begin();
        let created = Uuid::new_v4();
        store.put("accounts", created, Map::new());
        store.remove("accounts", &kept);
        assert!(store.get("accounts", &kept).is_none());
        store.rollback();
        assert!(store.get("accounts", &created).is_none());
        assert_eq!(store.get("accounts", &kept).map(|r| r.version), Some(11));
        assert_eq!(store.deletions("accounts").count(), 0);
    }
}
