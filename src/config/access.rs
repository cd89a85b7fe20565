//! nginx's access module: `allow ADDR|CIDR|unix:|all;` and `deny ...;`, checked
//! in order, the first rule that matches the client deciding (403 on `deny`).
//! A level with any rule replaces the inherited list, as nginx merges them. The
//! client is the address realip left (`handler::phases` runs the check after
//! the preaccess phase).

use std::net::IpAddr;

use super::ConfigError;
use super::parser::Directive;
use crate::http::cidr::Cidr;

/// One `allow` or `deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub peers: Peers,
}

impl Rule {
    /// The rule as `-T` writes it.
    pub fn line(&self) -> String {
        let verb = if self.allow { "allow" } else { "deny" };
        match &self.peers {
            Peers::All => format!("{verb} all"),
            Peers::Unix => format!("{verb} unix:"),
            Peers::Block(b) => format!("{verb} {b}"),
        }
    }
}

/// Whom a rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peers {
    /// `all`: every client.
    All,
    /// `unix:`: clients on UNIX sockets (webserv listens on none).
    Unix,
    Block(Cidr),
}

/// The decision for `client`: `Some(rule)` when a `deny` refuses it.
pub fn refused(rules: &[Rule], client: IpAddr) -> Option<&Rule> {
    first_match(rules, client).filter(|r| !r.allow)
}

/// The rule that decides for `client`; `None` when no rule names it (the
/// access module then has no opinion, which matters to `satisfy any`).
pub fn first_match(rules: &[Rule], client: IpAddr) -> Option<&Rule> {
    rules.iter().find(|r| match &r.peers {
        Peers::All => true,
        Peers::Unix => false,
        Peers::Block(b) => b.contains(client),
    })
}

/// Records an `allow`/`deny` into `rules`; `false` when `d` is neither.
pub fn apply(rules: &mut Option<Vec<Rule>>, d: &Directive) -> Result<bool, ConfigError> {
    let allow = match d.name.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return Ok(false),
    };
    let (text, pos) = &d.args[0];
    let peers = match text.as_str() {
        "all" => Peers::All,
        "unix:" => Peers::Unix,
        _ => {
            let (block, warning) = Cidr::parse(text).map_err(|msg| ConfigError::at(pos, msg))?;
            if let Some(w) = warning {
                super::tls::warn(pos, &w);
            }
            Peers::Block(block)
        }
    };
    rules
        .get_or_insert_with(Vec::new)
        .push(Rule { allow, peers });
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn rules(lines: &[(&str, &str)]) -> Result<Vec<Rule>, ConfigError> {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        let mut out = None;
        for (name, arg) in lines {
            let d = Directive {
                name: name.to_string(),
                args: vec![(arg.to_string(), pos.clone())],
                pos: pos.clone(),
                block: None,
            };
            assert!(apply(&mut out, &d)?);
        }
        Ok(out.unwrap_or_default())
    }

    #[test]
    fn first_match_decides() {
        let r = rules(&[
            ("deny", "192.0.2.1"),
            ("allow", "192.0.2.0/24"),
            ("allow", "2001:db8::/32"),
            ("deny", "all"),
        ])
        .expect("valid");
        // (client, refused)
        let cases = [
            ("192.0.2.1", true),
            ("192.0.2.2", false),
            ("::ffff:192.0.2.2", false),
            ("::ffff:192.0.2.1", true),
            ("2001:db8::5", false),
            ("198.51.100.1", true),
            ("::1", true),
        ];
        for (ip, want) in cases {
            let ip: IpAddr = ip.parse().expect("address");
            assert_eq!(refused(&r, ip).is_some(), want, "{ip}");
        }
        assert!(refused(&[], "192.0.2.1".parse().expect("address")).is_none());
        let unix = rules(&[("deny", "unix:")]).expect("valid");
        assert!(refused(&unix, "127.0.0.1".parse().expect("address")).is_none());
    }

    #[test]
    fn bad_addresses() {
        for bad in ["192.0.2.0/33", "192.0.2", "all:", "::/129"] {
            let err = rules(&[("deny", bad)]).expect_err(bad);
            assert!(err.msg.contains(bad), "{}", err.msg);
        }
    }
}
