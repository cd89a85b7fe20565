//! The gateway: proxying requests to upstream server groups.

pub mod balance;
