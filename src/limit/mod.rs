//! Request and connection limits' runtime state (nginx's `limit_req` and
//! `limit_conn` zones): the leaky bucket ([`bucket`]) and the shared, bounded
//! per-key tables with their process-wide registry ([`zones`]). This module knows
//! nothing of requests or configuration files: the handler's preaccess phase
//! (`handler::limits`) asks it about keys, and the configuration holds its zones.

pub mod bucket;
pub mod zones;

/// What the limits did to a request (`$limit_req_status`, `$limit_conn_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Delayed,
    Rejected,
    DelayedDryRun,
    RejectedDryRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Delayed => "DELAYED",
            Status::Rejected => "REJECTED",
            Status::DelayedDryRun => "DELAYED_DRY_RUN",
            Status::RejectedDryRun => "REJECTED_DRY_RUN",
        }
    }
}

/// A size as nginx reads one at run time (`limit_rate $arg_l`, `set
/// $limit_rate 40k`): digits with an optional `k`/`m`/`g`; `None` when invalid.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        let cases = [
            ("0", Some(0)),
            ("12k", Some(12288)),
            ("40K", Some(40960)),
            ("1m", Some(1 << 20)),
            ("256", Some(256)),
            ("", None),
            ("k", None),
            ("1x", None),
            ("-1", None),
            ("1.5k", None),
        ];
        for (text, want) in cases {
            assert_eq!(super::parse_size(text), want, "{text}");
        }
    }
}
