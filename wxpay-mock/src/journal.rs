//! The request journal (`GET /__admin/requests`): what arrived and how it was answered.
//! It holds no API key, no signature and no string-to-sign.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many entries are kept (the oldest are dropped first).
const CAPACITY: usize = 10_000;

/// One request as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalEntry {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Virtual arrival time, Beijing time `yyyy-MM-dd HH:mm:ss`.
    pub time: String,
    /// Virtual arrival time in ms since the Unix epoch.
    pub unix_ms: u64,
    /// The API (`sendredpack`, …), or `None` for an unknown path.
    pub api: Option<String>,
    /// The request path.
    pub path: String,
    /// The caller's address.
    pub peer: String,
    /// `mch_id` as received, if any.
    pub mch_id: Option<String>,
    /// `mch_billno` as received, if any.
    pub mch_billno: Option<String>,
    /// The answer: `SUCCESS`, `REPLAY`, an `err_code`, `NOT_FOUND`, or the fault (`reset`,
    /// `garbage`, `html`…).
    pub outcome: String,
    /// The injected fault, if any (`before_commit:reset`, …).
    pub fault: Option<String>,
    /// The HTTP status answered (0 for a reset connection).
    pub http_status: u16,
}

/// The bounded journal.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: VecDeque<JournalEntry>,
    next_seq: u64,
}

impl Journal {
    pub(crate) fn push(&mut self, mut entry: JournalEntry) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
