//! nginx's limit directives: `limit_req_zone KEY zone=NAME:SIZE rate=Nr/s|Nr/m`
//! and `limit_conn_zone KEY zone=NAME:SIZE` (http), `limit_req zone=NAME
//! [burst=N] [nodelay|delay=N]` and `limit_conn NAME N` (may repeat; a level with
//! any replaces the inherited list, as nginx merges them), their `_status`,
//! `_log_level` and `_dry_run`, and `limit_rate RATE` / `limit_rate_after SIZE`
//! (values may hold variables). The zones' state is `crate::limit`; the
//! preaccess phase that applies them is `handler::limits`.

use std::sync::Arc;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, Level, Pos};
use crate::limit::zones::{self, ConnZone, Definition, ReqZone};
use crate::vars::Template;

/// `nodelay`: no request of the burst waits (nginx's largest delay).
const NODELAY: u64 = u64::MAX / 1000 * 1000;
/// nginx refuses a zone smaller than 8 pages.
const MIN_ZONE: u64 = 8 * 4096;

/// A zone as `limit_req_zone` / `limit_conn_zone` wrote it.
#[derive(Debug, Clone)]
pub struct ZoneDraft {
    pub def: Definition,
    pub key: Template,
    pub pos: Pos,
}

/// The zones an `http` level defines, by kind.
#[derive(Debug, Default)]
pub struct Zones {
    pub req: Vec<ZoneDraft>,
    pub conn: Vec<ZoneDraft>,
}

/// One `limit_req`.
#[derive(Debug, Clone)]
pub struct ReqRule {
    pub name: String,
    /// Milli-requests beyond the rate that are let through (`burst` × 1000).
    pub burst: u64,
    /// Milli-requests let through without delay (`nodelay`: all of the burst).
    pub delay: u64,
    pub zone: Option<Arc<ReqZone>>,
    pub key: Option<Template>,
    pub pos: Pos,
}

/// One `limit_conn`.
#[derive(Debug, Clone)]
pub struct ConnRule {
    pub name: String,
    pub max: u32,
    pub zone: Option<Arc<ConnZone>>,
    pub key: Option<Template>,
    pub pos: Pos,
}

/// What the preaccess phase and the write path of a location apply.
#[derive(Debug, Clone)]
pub struct Limits {
    pub req: Vec<ReqRule>,
    pub req_status: u16,
    pub req_log: Level,
    pub req_dry_run: bool,
    pub conn: Vec<ConnRule>,
    pub conn_status: u16,
    pub conn_log: Level,
    pub conn_dry_run: bool,
    /// `limit_rate`: bytes per second for a response (0 or unset: no limit).
    pub rate: Option<Template>,
    pub rate_after: Option<Template>,
}

impl Default for Limits {
    fn default() -> Self {
        Draft::default().finish()
    }
}

impl Limits {
    /// The log level of "delaying request": one below the refusal's, as nginx.
    pub fn delay_log(&self) -> Level {
        match self.req_log {
            Level::Error => Level::Warn,
            Level::Warn => Level::Notice,
            Level::Notice => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The directives as `-T` writes them (none where no limit applies).
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        for r in &self.req {
            let delay = match r.delay {
                0 => String::new(),
                NODELAY => " nodelay".into(),
                d => format!(" delay={}", d / 1000),
            };
            v.push(format!(
                "limit_req zone={} burst={}{delay}",
                r.name,
                r.burst / 1000
            ));
        }
        if !self.req.is_empty() {
            v.push(format!("limit_req_status {}", self.req_status));
            v.push(format!("limit_req_dry_run {}", on_off(self.req_dry_run)));
        }
        for r in &self.conn {
            v.push(format!("limit_conn {} {}", r.name, r.max));
        }
        if !self.conn.is_empty() {
            v.push(format!("limit_conn_status {}", self.conn_status));
            v.push(format!("limit_conn_dry_run {}", on_off(self.conn_dry_run)));
        }
        if let Some(t) = &self.rate {
            v.push(format!("limit_rate {}", t.source()));
        }
        if let Some(t) = &self.rate_after {
            v.push(format!("limit_rate_after {}", t.source()));
        }
        v
    }

    pub fn templates_mut(&mut self) -> impl Iterator<Item = &mut Template> {
        self.rate.iter_mut().chain(self.rate_after.iter_mut())
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// One level's limit directives, each inherited on its own.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    req: Option<Vec<ReqRule>>,
    req_status: Option<u16>,
    req_log: Option<Level>,
    req_dry_run: Option<bool>,
    conn: Option<Vec<ConnRule>>,
    conn_status: Option<u16>,
    conn_log: Option<Level>,
    conn_dry_run: Option<bool>,
    rate: Option<Template>,
    rate_after: Option<Template>,
}

impl Draft {
    /// Records `d`; `false` when it is no limit directive.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let a = &d.args;
        let name = d.name.as_str();
        match name {
            "limit_req" => push_unique(&mut self.req, req_rule(a, d)?, |r| &r.name, d)?,
            "limit_conn" => push_unique(&mut self.conn, conn_rule(a)?, |r| &r.name, d)?,
            "limit_req_status" => self.req_status = Some(values::status(&a[0], name, 400..=599)?),
            "limit_conn_status" => self.conn_status = Some(values::status(&a[0], name, 400..=599)?),
            "limit_req_log_level" => self.req_log = Some(log_level(&a[0])?),
            "limit_conn_log_level" => self.conn_log = Some(log_level(&a[0])?),
            "limit_req_dry_run" => self.req_dry_run = Some(values::on_off(&a[0], name)?),
            "limit_conn_dry_run" => self.conn_dry_run = Some(values::on_off(&a[0], name)?),
            "limit_rate" => self.rate = Some(Template::compile(&a[0].0, &a[0].1)?),
            "limit_rate_after" => self.rate_after = Some(Template::compile(&a[0].0, &a[0].1)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            req: self.req.clone().or_else(|| outer.req.clone()),
            req_status: self.req_status.or(outer.req_status),
            req_log: self.req_log.or(outer.req_log),
            req_dry_run: self.req_dry_run.or(outer.req_dry_run),
            conn: self.conn.clone().or_else(|| outer.conn.clone()),
            conn_status: self.conn_status.or(outer.conn_status),
            conn_log: self.conn_log.or(outer.conn_log),
            conn_dry_run: self.conn_dry_run.or(outer.conn_dry_run),
            rate: self.rate.clone().or_else(|| outer.rate.clone()),
            rate_after: self.rate_after.clone().or_else(|| outer.rate_after.clone()),
        }
    }

    /// nginx's defaults for what no level set: 503, `error`, off.
    pub fn finish(&self) -> Limits {
        Limits {
            req: self.req.clone().unwrap_or_default(),
            req_status: self.req_status.unwrap_or(503),
            req_log: self.req_log.unwrap_or(Level::Error),
            req_dry_run: self.req_dry_run.unwrap_or(false),
            conn: self.conn.clone().unwrap_or_default(),
            conn_status: self.conn_status.unwrap_or(503),
            conn_log: self.conn_log.unwrap_or(Level::Error),
            conn_dry_run: self.conn_dry_run.unwrap_or(false),
            rate: self.rate.clone(),
            rate_after: self.rate_after.clone(),
        }
    }
}

/// Adds `rule`, refusing a second rule for one zone in a level ("is duplicate").
fn push_unique<T>(
    list: &mut Option<Vec<T>>,
    rule: T,
    name: impl Fn(&T) -> &String,
    d: &Directive,
) -> Result<(), ConfigError> {
    let list = list.get_or_insert_with(Vec::new);
    if list.iter().any(|r| name(r) == name(&rule)) {
        return Err(ConfigError::at(
            &d.pos,
            format!("\"{}\" directive is duplicate", d.name),
        ));
    }
    list.push(rule);
    Ok(())
}

/// `info | notice | warn | error`.
fn log_level(arg: &Arg) -> Result<Level, ConfigError> {
    match arg.0.as_str() {
        "info" => Ok(Level::Info),
        "notice" => Ok(Level::Notice),
        "warn" => Ok(Level::Warn),
        "error" => Ok(Level::Error),
        _ => Err(ConfigError::at(
            &arg.1,
            format!(
                "invalid value \"{}\", it must be \"info\", \"notice\", \"warn\" or \"error\"",
                arg.0
            ),
        )),
    }
}

/// A positive integer after `prefix=` (nginx's `ngx_atoi` > 0).
fn positive(text: &str) -> Option<u64> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && text.bytes().all(|b| b.is_ascii_digit()))
}

fn req_rule(a: &[Arg], d: &Directive) -> Result<ReqRule, ConfigError> {
    let (mut name, mut burst, mut delay) = (None, 0u64, 0u64);
    for (text, pos) in a {
        let invalid = |what: &str| ConfigError::at(pos, format!("invalid {what} \"{text}\""));
        if let Some(z) = text.strip_prefix("zone=") {
            name = Some(z.to_string());
        } else if let Some(n) = text.strip_prefix("burst=") {
            burst = positive(n).ok_or_else(|| invalid("burst value"))?;
        } else if let Some(n) = text.strip_prefix("delay=") {
            delay = positive(n).ok_or_else(|| invalid("delay value"))?;
        } else if text == "nodelay" {
            delay = u64::MAX / 1000;
        } else {
            return Err(invalid("parameter"));
        }
    }
    let Some(name) = name else {
        return Err(must_have_zone(d));
    };
    Ok(ReqRule {
        name,
        burst: burst.saturating_mul(1000),
        delay: delay.saturating_mul(1000),
        zone: None,
        key: None,
        pos: d.pos.clone(),
    })
}

fn conn_rule(a: &[Arg]) -> Result<ConnRule, ConfigError> {
    let (text, pos) = &a[1];
    let n = positive(text)
        .ok_or_else(|| ConfigError::at(pos, format!("invalid number of connections \"{text}\"")))?;
    let max = u32::try_from(n)
        .ok()
        .filter(|n| *n < 65536)
        .ok_or_else(|| ConfigError::at(pos, "connection limit must be less 65536"))?;
    Ok(ConnRule {
        name: a[0].0.clone(),
        max,
        zone: None,
        key: None,
        pos: a[0].1.clone(),
    })
}

fn must_have_zone(d: &Directive) -> ConfigError {
    ConfigError::at(
        &d.pos,
        format!("\"{}\" must have \"zone\" parameter", d.name),
    )
}

/// Records a `limit_req_zone` or `limit_conn_zone`; `false` for anything else.
pub fn zone(zones: &mut Zones, d: &Directive) -> Result<bool, ConfigError> {
    let req = match d.name.as_str() {
        "limit_req_zone" => true,
        "limit_conn_zone" => false,
        _ => return Ok(false),
    };
    let (key_text, key_pos) = &d.args[0];
    let key = Template::compile(key_text, key_pos)?;
    let (mut name, mut size, mut rate) = (None, 0, 1000);
    for (text, pos) in &d.args[1..] {
        if let Some(z) = text.strip_prefix("zone=") {
            let bad_size = || ConfigError::at(pos, format!("invalid zone size \"{text}\""));
            let (n, s) = z.split_once(':').ok_or_else(bad_size)?;
            size = values::size(&(s.to_string(), pos.clone()), &d.name).map_err(|_| bad_size())?;
            if size < MIN_ZONE {
                return Err(ConfigError::at(
                    pos,
                    format!("zone \"{text}\" is too small"),
                ));
            }
            name = Some(n.to_string());
        } else if let Some(r) = text.strip_prefix("rate=").filter(|_| req) {
            rate = parse_rate(r)
                .ok_or_else(|| ConfigError::at(pos, format!("invalid rate \"{text}\"")))?;
        } else if text == "sync" && req {
            // nginx Plus shares zones between servers; one server has one.
        } else {
            return Err(ConfigError::at(
                pos,
                format!("invalid parameter \"{text}\""),
            ));
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(must_have_zone(d));
    };
    let list = if req { &mut zones.req } else { &mut zones.conn };
    if let Some(other) = list.iter().find(|z| z.def.name == name) {
        let msg = format!(
            "{} \"{name}\" is already bound to key \"{}\"",
            d.name, other.def.key
        );
        return Err(ConfigError::at(&d.pos, msg));
    }
    let rate = if req { rate } else { 0 };
    let def = Definition {
        name,
        key: key_text.clone(),
        size,
        rate,
    };
    list.push(ZoneDraft {
        def,
        key,
        pos: d.pos.clone(),
    });
    Ok(true)
}

/// `Nr/s` or `Nr/m` (or a bare N, per second) as milli-requests per second.
fn parse_rate(text: &str) -> Option<u64> {
    let (n, scale) = match text.strip_suffix("r/s") {
        Some(n) => (n, 1),
        None => match text.strip_suffix("r/m") {
            Some(n) => (n, 60),
            None => (text, 1),
        },
    };
    let n = positive(n)?;
    Some(n.checked_mul(1000)? / scale).filter(|r| *r > 0)
}

/// Points every location's rules at their zones (the running state of an
/// unchanged zone is kept: see `crate::limit::zones`); a rule naming no zone is
/// nginx's "zero size shared memory zone".
pub fn resolve(zones: &Zones, servers: &mut [super::Server]) -> Result<(), ConfigError> {
    let req: Vec<(Arc<ReqZone>, &ZoneDraft)> = zones
        .req
        .iter()
        .map(|z| (zones::req_zone(z.def.clone()), z))
        .collect();
    let conn: Vec<(Arc<ConnZone>, &ZoneDraft)> = zones
        .conn
        .iter()
        .map(|z| (zones::conn_zone(z.def.clone()), z))
        .collect();
    for loc in servers.iter_mut().flat_map(|s| s.locations.iter_mut()) {
        if loc.limits.req.is_empty() && loc.limits.conn.is_empty() {
            continue;
        }
        let limits = Arc::make_mut(&mut loc.limits);
        for rule in &mut limits.req {
            let (z, draft) = find(&req, &rule.name, &rule.pos)?;
            rule.zone = Some(z);
            rule.key = Some(draft.key.clone());
        }
        for rule in &mut limits.conn {
            let (z, draft) = find(&conn, &rule.name, &rule.pos)?;
            rule.zone = Some(z);
            rule.key = Some(draft.key.clone());
        }
    }
    Ok(())
}

fn find<'a, Z>(
    zones: &'a [(Arc<Z>, &'a ZoneDraft)],
    name: &str,
    pos: &Pos,
) -> Result<(Arc<Z>, &'a ZoneDraft), ConfigError> {
    zones
        .iter()
        .find(|(_, d)| d.def.name == name)
        .map(|(z, d)| (Arc::clone(z), *d))
        .ok_or_else(|| ConfigError::at(pos, format!("zero size shared memory zone \"{name}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let cases = [
            ("1r/s", Some(1000)),
            ("2r/s", Some(2000)),
            ("30r/m", Some(500)),
            ("1r/m", Some(16)),
            ("5", Some(5000)),
            ("0r/s", None),
            ("r/s", None),
            ("-1r/s", None),
            ("1r/h", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rate(text), want, "{text}");
        }
    }
}
