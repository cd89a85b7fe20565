//! nginx's realip directives: `set_real_ip_from ADDR|CIDR|HOST|unix:` (may
//! repeat), `real_ip_header X-Real-IP|X-Forwarded-For|proxy_protocol|NAME` and
//! `real_ip_recursive on|off`, each inherited on its own as nginx merges them (a
//! level with any `set_real_ip_from` replaces the inherited list). The address
//! walk itself is `http::realip`; the phases that apply it are `handler::realip`.

use std::net::ToSocketAddrs;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, Pos};
use crate::http::cidr::Cidr;

/// Where the client address is read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    /// `X-Real-IP` (the default): one address, first occurrence.
    #[default]
    RealIp,
    /// `X-Forwarded-For`: a list, every occurrence.
    ForwardedFor,
    /// `proxy_protocol`: the source address of the connection's PROXY header.
    ProxyProtocol,
    /// Any other header (lower-case): one address, first occurrence.
    Header(String),
}

/// A location's (or a server's) realip settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealIp {
    /// `set_real_ip_from`: the trusted addresses; empty = realip is off.
    pub from: Vec<Cidr>,
    /// `set_real_ip_from unix:`: connections over UNIX sockets are trusted.
    pub from_unix: bool,
    pub source: Source,
    /// `real_ip_recursive on`: walk past trusted addresses (default off).
    pub recursive: bool,
}

impl RealIp {
    /// Whether any address is trusted (else realip does nothing).
    pub fn enabled(&self) -> bool {
        !self.from.is_empty() || self.from_unix
    }

    /// The directives as `-T` writes them (none while realip is off).
    pub fn lines(&self) -> Vec<String> {
        if !self.enabled() {
            return Vec::new();
        }
        let mut v: Vec<String> = self
            .from
            .iter()
            .map(|b| format!("set_real_ip_from {b}"))
            .collect();
        if self.from_unix {
            v.push("set_real_ip_from unix:".into());
        }
        let header = match &self.source {
            Source::RealIp => "X-Real-IP",
            Source::ForwardedFor => "X-Forwarded-For",
            Source::ProxyProtocol => "proxy_protocol",
            Source::Header(name) => name,
        };
        v.push(format!("real_ip_header {header}"));
        let on = if self.recursive { "on" } else { "off" };
        v.push(format!("real_ip_recursive {on}"));
        v
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `(blocks, unix:)` once this level names any.
    from: Option<(Vec<Cidr>, bool)>,
    source: Option<Source>,
    recursive: Option<bool>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            from: self.from.clone().or_else(|| outer.from.clone()),
            source: self.source.clone().or_else(|| outer.source.clone()),
            recursive: self.recursive.or(outer.recursive),
        }
    }

    /// Records a realip directive; `false` when `d` is none.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let arg = &d.args[0];
        match d.name.as_str() {
            "set_real_ip_from" => {
                let (blocks, unix) = self.from.get_or_insert_with(Default::default);
                if arg.0 == "unix:" {
                    *unix = true;
                } else {
                    blocks.extend(trusted(arg)?);
                }
            }
            "real_ip_header" => self.source = Some(source(&arg.0)),
            "real_ip_recursive" => self.recursive = Some(values::on_off(arg, &d.name)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings, nginx's defaults for what no level set.
    pub fn finish(&self) -> RealIp {
        let (from, from_unix) = self.from.clone().unwrap_or_default();
        RealIp {
            from,
            from_unix,
            source: self.source.clone().unwrap_or_default(),
            recursive: self.recursive.unwrap_or(false),
        }
    }
}

/// `real_ip_header` names are matched as nginx does: the three keywords exactly
/// (case-sensitive), any other word as a header name.
fn source(name: &str) -> Source {
    match name {
        "X-Real-IP" => Source::RealIp,
        "X-Forwarded-For" => Source::ForwardedFor,
        "proxy_protocol" => Source::ProxyProtocol,
        other => Source::Header(other.to_ascii_lowercase()),
    }
}

/// An address or block, else a host name resolved now (every address it has,
/// as nginx does at startup).
fn trusted(arg: &Arg) -> Result<Vec<Cidr>, ConfigError> {
    match Cidr::parse(&arg.0) {
        Ok((block, warning)) => {
            if let Some(w) = warning {
                super::tls::warn(&arg.1, &w);
            }
            Ok(vec![block])
        }
        Err(_) if looks_like_host(&arg.0) => resolve(&arg.0, &arg.1),
        Err(msg) => Err(ConfigError::at(&arg.1, msg)),
    }
}

/// A name made of letters, digits, dots and dashes (not an address gone wrong).
fn looks_like_host(s: &str) -> bool {
    !s.is_empty()
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn resolve(host: &str, pos: &Pos) -> Result<Vec<Cidr>, ConfigError> {
    let not_found = || {
        let msg = format!("host not found in set_real_ip_from \"{host}\"");
        ConfigError::at(pos, msg)
    };
    let addrs = (host, 0u16).to_socket_addrs().map_err(|_| not_found())?;
    let mut blocks: Vec<Cidr> = Vec::new();
    for a in addrs {
        let prefix = if a.is_ipv4() { 32 } else { 128 };
        if let Some(b) = Cidr::new(a.ip(), prefix).filter(|b| !blocks.contains(b)) {
            blocks.push(b);
        }
    }
    if blocks.is_empty() {
        return Err(not_found());
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::Directive;

    fn directive(name: &str, arg: &str) -> Directive {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        Directive {
            name: name.to_string(),
            args: vec![(arg.to_string(), pos.clone())],
            block: None,
            pos,
        }
    }

    fn draft(lines: &[(&str, &str)]) -> Result<Draft, ConfigError> {
        let mut d = Draft::default();
        for (name, arg) in lines {
            assert!(
                d.apply(&directive(name, arg))?,
                "{name} is a realip directive"
            );
        }
        Ok(d)
    }

    #[test]
    fn values_and_defaults() {
        let none = draft(&[]).expect("empty").finish();
        assert!(!none.enabled());
        assert_eq!(none.source, Source::RealIp);
        assert!(!none.recursive);
        let cases: &[(&str, Source)] = &[
            ("X-Real-IP", Source::RealIp),
            ("X-Forwarded-For", Source::ForwardedFor),
            ("proxy_protocol", Source::ProxyProtocol),
            ("X-Client", Source::Header("x-client".into())),
            // The keywords are case-sensitive, as in nginx.
            ("x-forwarded-for", Source::Header("x-forwarded-for".into())),
        ];
        for (arg, want) in cases {
            let got = draft(&[("real_ip_header", arg)]).expect("valid").finish();
            assert_eq!(&got.source, want, "{arg}");
        }
        let on = draft(&[("real_ip_recursive", "on")])
            .expect("valid")
            .finish();
        assert!(on.recursive);
        assert!(draft(&[("real_ip_recursive", "yes")]).is_err());
    }

    #[test]
    fn trusted_addresses() {
        let d = draft(&[
            ("set_real_ip_from", "10.0.0.0/8"),
            ("set_real_ip_from", "192.0.2.1"),
            ("set_real_ip_from", "2001:db8::/32"),
            ("set_real_ip_from", "unix:"),
        ])
        .expect("valid")
        .finish();
        assert_eq!(d.from.len(), 3);
        assert!(d.from_unix && d.enabled());
        for bad in ["10.0.0.0/33", "300.1.1.1", "1.2.3.4/x", "::1/129", "a b"] {
            let err = draft(&[("set_real_ip_from", bad)]).expect_err(bad);
            assert!(err.msg.contains(bad), "{bad}: {}", err.msg);
        }
        let local = draft(&[("set_real_ip_from", "localhost")]).expect("resolves");
        let blocks = local.finish().from;
        assert!(blocks.iter().any(|b| b.contains([127, 0, 0, 1].into())));
        let err = draft(&[("set_real_ip_from", "no-such-host.invalid")]).expect_err("unknown");
        assert!(err.msg.contains("host not found"), "{}", err.msg);
    }

    #[test]
    fn inheritance() {
        let outer = draft(&[
            ("set_real_ip_from", "10.0.0.0/8"),
            ("real_ip_header", "X-Forwarded-For"),
        ])
        .expect("valid");
        let inner = draft(&[("set_real_ip_from", "192.0.2.0/24")]).expect("valid");
        let merged = inner.merge(&outer).finish();
        // The inner list replaces the outer one; the header is inherited.
        assert_eq!(merged.from.len(), 1);
        assert!(merged.from[0].contains([192, 0, 2, 9].into()));
        assert_eq!(merged.source, Source::ForwardedFor);
        let plain = Draft::default().merge(&outer).finish();
        assert!(plain.from[0].contains([10, 1, 2, 3].into()));
    }
}
