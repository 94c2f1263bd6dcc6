//! The `Transport` trait and the response it returns.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::TransportError;

/// Posts a request body to a path of the WeChat Pay API and returns the response.
///
/// [`HttpsTransport`](crate::HttpsTransport) is the production implementation; the
/// `test-util` feature adds doubles (`CapturingTransport`,
/// `NeverTransport`).
///
/// An implementation never retries a request by itself. When it fails, the error says whether
/// the request [may have reached the server](TransportError::may_have_been_sent).
pub trait Transport: Send + Sync {
    /// Posts `body` to `path` (for example `/mmpaymkttransfers/sendredpack`), joined to the
    /// transport's base URL.
    ///
    /// Returns the response when the server answered with a 2xx status; any other status is an
    /// error for which [`is_status()`](TransportError::is_status) is true.
    fn post(
        &self,
        path: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send;
}

impl<T: Transport + ?Sized> Transport for &T {
    fn post(
        &self,
        path: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send {
        (**self).post(path, body)
    }
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn post(
        &self,
        path: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send {
        (**self).post(path, body)
    }
}

/// A complete response: its status and its whole body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    status: u16,
    body: Bytes,
}

impl Response {
    /// A response with this status and body (for test doubles and adapters).
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, by value.
    pub fn into_body(self) -> Bytes {
        self.body
    }
}
