//! The request journal (`GET /__admin/requests`): what arrived and how it was answered.
//! It holds no API key, no signature and no string-to-sign.

use std::collections::VecDeque;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::clock::format_beijing;

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

/// A request as the server records it: what a [`JournalEntry`] shows, with the time and the
/// peer formatted only when the journal is read (not on every request).
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    /// Virtual arrival time in ms since the Unix epoch.
    pub(crate) unix_ms: u64,
    pub(crate) api: Option<&'static str>,
    pub(crate) path: String,
    pub(crate) peer: SocketAddr,
    pub(crate) mch_id: Option<String>,
    pub(crate) mch_billno: Option<String>,
    pub(crate) outcome: String,
    pub(crate) fault: Option<String>,
    pub(crate) http_status: u16,
}

impl Arrival {
    /// A request to `path` from `peer`, its answer not known yet.
    pub(crate) fn new(path: String, peer: SocketAddr) -> Self {
        Self {
            unix_ms: 0,
            api: None,
            path,
            peer,
            mch_id: None,
            mch_billno: None,
            outcome: String::new(),
            fault: None,
            http_status: 0,
        }
    }

    fn entry(&self, seq: u64) -> JournalEntry {
        JournalEntry {
            seq,
            time: format_beijing(self.unix_ms),
            unix_ms: self.unix_ms,
            api: self.api.map(str::to_owned),
            path: self.path.clone(),
            peer: self.peer.to_string(),
            mch_id: self.mch_id.clone(),
            mch_billno: self.mch_billno.clone(),
            outcome: self.outcome.clone(),
            fault: self.fault.clone(),
            http_status: self.http_status,
        }
    }
}

/// The bounded journal.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    entries: VecDeque<(u64, Arrival)>,
    next_seq: u64,
}

impl Journal {
    pub(crate) fn push(&mut self, arrival: Arrival) {
        self.next_seq += 1;
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((self.next_seq, arrival));
    }

    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        self.entries
            .iter()
            .map(|(seq, arrival)| arrival.entry(*seq))
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
