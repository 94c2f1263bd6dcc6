//! Wire types of the WeChat Pay v2 cash red-packet APIs.
#![forbid(unsafe_code)]
