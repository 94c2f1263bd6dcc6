//! The keep-alive pool: idle HTTP/1.1 connections per base URL, owned by one transport.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

/// The sending half of an HTTP/1.1 connection.
pub(crate) type Sender = SendRequest<Full<Bytes>>;

#[derive(Debug)]
struct Idle {
    target: usize,
    sender: Sender,
    since: Instant,
}

/// Idle connections, most recently used last.
#[derive(Debug)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
    max_idle_per_target: usize,
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration, max_idle_per_target: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            idle_timeout,
            max_idle_per_target,
        }
    }

    /// The most recently used idle connection to `target` that is still open, if any.
    pub(crate) fn checkout(&self, target: usize) -> Option<Sender> {
        let now = Instant::now();
        // A panic while holding the lock cannot leave the list inconsistent (every operation
        // is a single push, retain or remove), so a poisoned lock is still usable.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|c| {
            !c.sender.is_closed() && now.saturating_duration_since(c.since) < self.idle_timeout
        });
        let position = idle.iter().rposition(|c| c.target == target)?;
        Some(idle.remove(position).sender)
    }

    /// Returns a connection whose response has been read completely.
    pub(crate) fn checkin(&self, target: usize, sender: Sender) {
        if sender.is_closed() || self.max_idle_per_target == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let count = idle.iter().filter(|c| c.target == target).count();
        if count >= self.max_idle_per_target
            && let Some(oldest) = idle.iter().position(|c| c.target == target)
        {
            idle.remove(oldest);
        }
        idle.push(Idle {
            target,
            sender,
            since: Instant::now(),
        });
    }
}
