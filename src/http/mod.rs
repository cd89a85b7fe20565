//! HTTP/1.1 wire format: request heads, chunked bodies, responses, dates, statuses.

pub mod body;
pub mod chunked;
pub mod date;
pub mod multipart;
pub mod request;
pub mod response;
pub mod status;

pub use request::{Framing, HeadError, Method, Request};
pub use response::{Body, Response};
