//! `map SOURCE $var { ... }` and `geo [$src] $var { ... }` blocks (http level):
//! their entries read as nginx reads them (`default`, `hostnames`, `volatile`,
//! `~regex`, `delete`, networks), into the computed variables of `crate::vars`.
//! `include` inside them was already expanded by the include pass.

use super::parser::Directive;
use super::values::Arg;
use super::{ConfigError, Pos};
use crate::http::cidr::Cidr;
use crate::vars::computed::Item;
use crate::vars::geo::Geo;
use crate::vars::geo_ranges::{Added, Ranges};
use crate::vars::map::Map;
use crate::vars::{Pattern, Template};

/// A computed variable as read: its name (without `$`), where it was declared,
/// and what computes it.
pub type Definition = (String, Pos, Item);

/// The `$name` argument of `map` or `geo`.
fn var_name(arg: &Arg) -> Result<String, ConfigError> {
    match arg.0.strip_prefix('$') {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("invalid variable name \"{}\"", arg.0),
        )),
    }
}

fn entries(d: &Directive) -> &[Directive] {
    d.block.as_deref().unwrap_or_default()
}

/// An entry that opens a block, where only `KEY VALUE;` lines belong.
fn no_block(e: &Directive) -> Result<(), ConfigError> {
    match e.block {
        Some(_) => Err(ConfigError::at(&e.pos, "unexpected \"{\"")),
        None => Ok(()),
    }
}

/// `map SOURCE $var { ... }`.
pub fn map(d: &Directive) -> Result<Definition, ConfigError> {
    let name = var_name(&d.args[1])?;
    let mut m = Map::new(Template::compile(&d.args[0].0, &d.args[0].1)?);
    for e in entries(d) {
        no_block(e)?;
        match (e.name.as_str(), e.args.as_slice()) {
            ("hostnames", []) => m.hostnames = true,
            ("volatile", []) => m.volatile = true,
            (key, [value]) => map_entry(&mut m, key, value, &e.pos)?,
            _ => {
                let msg = "invalid number of the map parameters";
                return Err(ConfigError::at(&e.pos, msg));
            }
        }
    }
    Ok((name, d.pos.clone(), Item::Map(Box::new(m))))
}

/// One `KEY VALUE;` of a map.
fn map_entry(m: &mut Map, key: &str, value: &Arg, pos: &Pos) -> Result<(), ConfigError> {
    let v = Template::compile(&value.0, &value.1)?;
    if key == "default" {
        if m.default.is_some() {
            return Err(ConfigError::at(pos, "duplicate default map parameter"));
        }
        m.default = Some(v);
        return Ok(());
    }
    if let Some(re) = key.strip_prefix('~') {
        let (re, caseless) = match re.strip_prefix('*') {
            Some(re) => (re, true),
            None => (re, false),
        };
        m.regexes.push((Pattern::compile(re, caseless, pos)?, v));
        return Ok(());
    }
    let key = key.strip_prefix('\\').unwrap_or(key).to_ascii_lowercase();
    let conflict = || ConfigError::at(pos, format!("conflicting parameter \"{key}\""));
    if m.hostnames && (key.contains('*') || key.starts_with('.')) {
        return wildcard(m, &key, v, pos);
    }
    if m.exact.insert(key.clone(), v).is_some() {
        return Err(conflict());
    }
    Ok(())
}

/// A `hostnames` key with a wildcard: `*.suffix`, `.suffix` or `prefix.*`.
fn wildcard(m: &mut Map, key: &str, v: Template, pos: &Pos) -> Result<(), ConfigError> {
    let valid = |s: &str| !s.is_empty() && !s.contains('*') && !s.starts_with('.');
    let conflict = || ConfigError::at(pos, format!("conflicting parameter \"{key}\""));
    if let Some(suffix) = key.strip_prefix("*.").filter(|s| valid(s)) {
        if m.head.iter().any(|(s, _, _)| s == suffix) {
            return Err(conflict());
        }
        m.head.push((suffix.to_string(), false, v));
    } else if let Some(suffix) = key.strip_prefix('.').filter(|s| valid(s)) {
        if m.head.iter().any(|(s, _, _)| s == suffix) {
            return Err(conflict());
        }
        m.head.push((suffix.to_string(), true, v));
    } else if let Some(prefix) = key.strip_suffix(".*").filter(|s| valid(s)) {
        if m.tail.iter().any(|(s, _)| s == prefix) {
            return Err(conflict());
        }
        m.tail.push((prefix.to_string(), v));
    } else {
        let msg = format!("invalid hostname or wildcard \"{key}\"");
        return Err(ConfigError::at(pos, msg));
    }
    Ok(())
}

/// `geo [$src] $var { ... }`.
pub fn geo(d: &Directive) -> Result<Definition, ConfigError> {
    let mut g = Geo::default();
    let name = match d.args.as_slice() {
        [src, var] => {
            var_name(src)?;
            g.source = Some(Template::compile(&src.0, &src.1)?);
            var_name(var)?
        }
        [var] => var_name(var)?,
        _ => unreachable_arity(d)?,
    };
    for e in entries(d) {
        no_block(e)?;
        match (e.name.as_str(), e.args.as_slice()) {
            ("volatile", []) => g.volatile = true,
            ("proxy_recursive", []) => g.recursive = true,
            ("ranges", []) => {
                if !g.nets.is_empty() {
                    let msg =
                        "the \"ranges\" directive must be the first directive inside \"geo\" block";
                    return Err(ConfigError::at(&e.pos, msg));
                }
                g.ranges = Some(Ranges::default());
            }
            ("proxy", [net]) => g.proxies.push(network(net)?),
            (_, [_]) if g.ranges.is_some() => range_entry(&mut g, e)?,
            ("delete", [net]) => {
                if !g.delete(network(net)?) {
                    let msg = format!("no network \"{}\" to delete", net.0);
                    super::tls::warn(&net.1, &msg);
                }
            }
            ("default", [value]) => {
                for all in ["0.0.0.0/0", "::/0"] {
                    let net = network(&(all.to_string(), e.pos.clone()))?;
                    add(&mut g, net, &("default".into(), e.pos.clone()), value);
                }
            }
            (key, [value]) => {
                let arg = (key.to_string(), e.pos.clone());
                add(&mut g, network(&arg)?, &arg, value);
            }
            _ => {
                let msg = "invalid number of the geo parameters";
                return Err(ConfigError::at(&e.pos, msg));
            }
        }
    }
    Ok((name, d.pos.clone(), Item::Geo(Box::new(g))))
}

/// One entry of a `ranges` block: `default V`, `delete A-B` or `A-B V`.
fn range_entry(g: &mut Geo, e: &Directive) -> Result<(), ConfigError> {
    let Some(ranges) = g.ranges.as_mut() else {
        return Ok(());
    };
    let value = &e.args[0];
    if e.name == "default" {
        if let Some(old) = ranges.default.replace(value.0.clone()) {
            let msg = format!(
                "duplicate default geo range value: \"{}\", old value: \"{old}\"",
                value.0
            );
            super::tls::warn(&e.pos, &msg);
        }
        return Ok(());
    }
    if e.name == "delete" {
        let (start, end) = range(value)?;
        if !ranges.delete(start, end) {
            let msg = format!("no address range \"{}\" to delete", value.0);
            super::tls::warn(&value.1, &msg);
        }
        return Ok(());
    }
    let net = (e.name.clone(), e.pos.clone());
    let (start, end) = range(&net)?;
    match ranges.add(start, end, &value.0) {
        Added::Done => {}
        Added::Replaced(old) => {
            let msg = format!(
                "duplicate range \"{}\", value: \"{}\", old value: \"{old}\"",
                net.0, value.0
            );
            super::tls::warn(&net.1, &msg);
        }
        Added::Overlaps(a, b) => {
            let msg = format!("range \"{}\" overlaps \"{a}-{b}\"", net.0);
            return Err(ConfigError::at(&net.1, msg));
        }
    }
    Ok(())
}

/// `A-B`, two IPv4 addresses, A not after B.
fn range(arg: &Arg) -> Result<(u32, u32), ConfigError> {
    let invalid = || ConfigError::at(&arg.1, format!("invalid range \"{}\"", arg.0));
    let v4 = |s: &str| match crate::http::cidr::parse_ip(s) {
        Some(std::net::IpAddr::V4(a)) => Some(u32::from(a)),
        _ => None,
    };
    let (a, b) = arg.0.split_once('-').ok_or_else(invalid)?;
    match (v4(a), v4(b)) {
        (Some(start), Some(end)) if start <= end => Ok((start, end)),
        _ => Err(invalid()),
    }
}

fn unreachable_arity(d: &Directive) -> Result<String, ConfigError> {
    Err(super::settings::arity(d))
}

/// A network of a geo block, with nginx's messages.
fn network(arg: &Arg) -> Result<Cidr, ConfigError> {
    let invalid = || ConfigError::at(&arg.1, format!("invalid network \"{}\"", arg.0));
    let (net, warning) = Cidr::parse(&arg.0).map_err(|_| invalid())?;
    if let Some(w) = warning {
        super::tls::warn(&arg.1, &w);
    }
    Ok(net)
}

/// Sets a network's value, warning as nginx does when it had one.
fn add(g: &mut Geo, net: Cidr, written: &Arg, value: &Arg) {
    if let Some(old) = g.insert(net, value.0.clone()) {
        let msg = format!(
            "duplicate network \"{}\", value: \"{}\", old value: \"{old}\"",
            written.0, value.0
        );
        super::tls::warn(&written.1, &msg);
    }
}
