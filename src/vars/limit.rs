//! The response rate of a request: `set $limit_rate`, else the location's
//! `limit_rate` (which may hold variables), and `limit_rate_after`.

use super::{Env, Template, Var};

impl Env<'_> {
    /// `$limit_rate`: bytes per second for the response, 0 for no limit.
    pub fn limit_rate(&self) -> u64 {
        if let Some(rate) = self.state.limit_rate {
            return rate;
        }
        let limits = self.location.map(|l| &*l.limits);
        self.size_of(limits.and_then(|l| l.rate.as_ref()))
    }

    /// `limit_rate_after`: bytes sent before the rate applies.
    pub fn limit_rate_after(&self) -> u64 {
        let limits = self.location.map(|l| &*l.limits);
        self.size_of(limits.and_then(|l| l.rate_after.as_ref()))
    }

    /// A size template's value; 0 when unset or invalid, as nginx (a template
    /// reading `$limit_rate` itself is 0 too, not a loop).
    fn size_of(&self, t: Option<&Template>) -> u64 {
        let Some(t) = t else {
            return 0;
        };
        if t.vars().any(|v| *v == Var::LimitRate) {
            return 0;
        }
        crate::limit::parse_size(&t.expand(self)).unwrap_or(0)
    }
}
