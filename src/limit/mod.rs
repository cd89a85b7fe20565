//! Request and connection limits' runtime state (nginx's `limit_req` and
//! `limit_conn` zones): the leaky bucket ([`bucket`]) and the shared, bounded
//! per-key tables with their process-wide registry ([`zones`]). This module knows
//! nothing of requests or configuration files: the handler's preaccess phase
//! (`handler::limits`) asks it about keys, and the configuration holds its zones.

pub mod bucket;
pub mod zones;
