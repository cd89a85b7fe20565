//! HTTP/1.1 wire format: request heads, chunked bodies, responses, dates, statuses;
//! and what a load balancer in front tells us: PROXY protocol headers, trusted
//! address blocks, the real client address from forwarding headers.

pub mod body;
pub mod body_file;
pub mod chunked;
pub mod cidr;
pub mod date;
pub mod h2_request;
pub mod h2_response;
pub mod multipart;
pub mod proxy_protocol;
pub mod range;
pub mod realip;
pub mod request;
pub mod response;
pub mod status;

pub use request::{Framing, HeadError, Method, Request};
pub use response::{Body, Response};
