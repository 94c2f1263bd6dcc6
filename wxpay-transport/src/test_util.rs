//! Test doubles for code built on [`Transport`] (feature `test-util`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::error::TransportError;
use crate::transport::{Response, Transport};

/// A request received by a [`CapturingTransport`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapturedRequest {
    path: String,
    body: Bytes,
}

impl CapturedRequest {
    /// The path the request was posted to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// Records every request and answers with scripted responses and errors, in order.
///
/// Clones share the record and the script, so a test can keep one clone and hand another to
/// the code under test. When the script runs out, calls fail with an error for which
/// [`may_have_been_sent()`](TransportError::may_have_been_sent) is true.
#[derive(Clone, Debug, Default)]
pub struct CapturingTransport {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<CapturedRequest>,
    script: VecDeque<Result<Response, TransportError>>,
}

impl CapturingTransport {
    /// A double with an empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a response to the script.
    pub fn push_response(&self, response: Response) -> &Self {
        self.lock().script.push_back(Ok(response));
        self
    }

    /// Appends an error to the script (see [`TransportError::simulated`]).
    pub fn push_error(&self, error: TransportError) -> &Self {
        self.lock().script.push_back(Err(error));
        self
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        self.lock().requests.clone()
    }

    /// How many scripted answers are left.
    pub fn remaining(&self) -> usize {
        self.lock().script.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every operation under the lock is a single push or pop: a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for CapturingTransport {
    async fn post(&self, path: &str, body: Bytes) -> Result<Response, TransportError> {
        let mut state = self.lock();
        state.requests.push(CapturedRequest {
            path: path.to_owned(),
            body,
        });
        state
            .script
            .pop_front()
            .unwrap_or_else(|| Err(TransportError::script_exhausted()))
    }
}

/// Never answers: every call stays pending until the caller's own timeout drops it.
///
/// Counts the calls it received; clones share the count.
#[derive(Clone, Debug, Default)]
pub struct NeverTransport {
    calls: Arc<AtomicUsize>,
}

impl NeverTransport {
    /// A double that never answers.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Transport for NeverTransport {
    async fn post(&self, _path: &str, _body: Bytes) -> Result<Response, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}
