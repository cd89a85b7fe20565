//! Value syntax of directive arguments: sizes, times, ports, status codes, methods,
//! `on|off`, `listen` addresses. Each parser takes the argument with its position and
//! the directive name, and reports a bad value at the argument.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{digit1, one_of};
use nom::combinator::{all_consuming, opt};
use nom::{IResult, Parser};

use super::{ConfigError, Pos};

/// A directive argument and where it was written.
pub type Arg = (String, Pos);

/// The methods `allow_methods` knows.
pub const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];

fn bad(arg: &Arg, what: &str, directive: &str) -> ConfigError {
    ConfigError::at(
        &arg.1,
        format!("invalid {what} \"{}\" in \"{directive}\"", arg.0),
    )
}

/// `NUMBER [k|m|g]` (case-insensitive).
fn size_syntax(i: &str) -> IResult<&str, (&str, Option<char>)> {
    all_consuming((digit1, opt(one_of("kKmMgG")))).parse(i)
}

/// A size in bytes: `1024`, `10k`, `1m`, `1g`; overflow is an error.
pub fn size(arg: &Arg, directive: &str) -> Result<u64, ConfigError> {
    let (_, (digits, unit)) = size_syntax(&arg.0).map_err(|_| bad(arg, "size", directive))?;
    let shift = match unit.map(|c| c.to_ascii_lowercase()) {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| bad(arg, "size", directive))
}

/// `NUMBER [ms|s|m|h|d]` (`ms` is tried before `m`).
fn time_syntax(i: &str) -> IResult<&str, (&str, Option<&str>)> {
    let unit = alt((tag("ms"), tag("s"), tag("m"), tag("h"), tag("d")));
    all_consuming((digit1, opt(unit))).parse(i)
}

/// A duration: `500ms`, `30s`, `5m`, `1h`, `1d`; a bare number is seconds.
pub fn time(arg: &Arg, directive: &str) -> Result<Duration, ConfigError> {
    let (_, (digits, unit)) = time_syntax(&arg.0).map_err(|_| bad(arg, "time", directive))?;
    let n: u64 = digits.parse().map_err(|_| bad(arg, "time", directive))?;
    let millis_per_unit: u64 = match unit {
        Some("ms") => 1,
        Some("m") => 60_000,
        Some("h") => 3_600_000,
        Some("d") => 86_400_000,
        _ => 1000,
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| bad(arg, "time", directive))
}

/// A positive integer (counts such as `keepalive_requests`).
pub fn number(arg: &Arg, directive: &str) -> Result<u64, ConfigError> {
    match arg.0.parse::<u64>() {
        Ok(n) if n > 0 && arg.0.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(bad(arg, "number", directive)),
    }
}

/// `on` or `off` (case-insensitive, as nginx).
pub fn on_off(arg: &Arg, directive: &str) -> Result<bool, ConfigError> {
    match arg.0.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("\"{directive}\" takes on|off, got \"{}\"", arg.0),
        )),
    }
}

/// `autoindex_format html|json|xml`.
pub fn listing_format(arg: &Arg) -> Result<super::ListingFormat, ConfigError> {
    use super::ListingFormat::*;
    match arg.0.as_str() {
        "html" => Ok(Html),
        "json" => Ok(Json),
        "jsonp" => Ok(Jsonp),
        "xml" => Ok(Xml),
        _ => Err(ConfigError::at(
            &arg.1,
            format!(
                "\"autoindex_format\" takes html|json|jsonp|xml, got \"{}\"",
                arg.0
            ),
        )),
    }
}

/// A status code in `range`.
pub fn status(
    arg: &Arg,
    directive: &str,
    range: std::ops::RangeInclusive<u16>,
) -> Result<u16, ConfigError> {
    status_text(&arg.0, range).ok_or_else(|| bad(arg, "status code", directive))
}

fn status_text(text: &str, range: std::ops::RangeInclusive<u16>) -> Option<u16> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let code: u16 = text.parse().ok().filter(|_| digits_only)?;
    range.contains(&code).then_some(code)
}

/// An HTTP method `allow_methods` knows, upper-cased.
pub fn method(arg: &Arg, directive: &str) -> Result<String, ConfigError> {
    let upper = arg.0.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        let msg = format!("unknown method \"{}\" in \"{directive}\"", arg.0);
        Err(ConfigError::at(&arg.1, msg))
    }
}

/// `[ADDR:]PORT` or `[ADDR:]FIRST-LAST` (a port range, as nginx has it): every
/// address the argument names, in port order.
pub fn listen_addrs(arg: &Arg) -> Result<Vec<SocketAddr>, ConfigError> {
    let text = arg.0.as_str();
    let (head, ports) = match text.rsplit_once(':') {
        Some((host, port)) => (format!("{host}:"), port),
        None => (String::new(), text),
    };
    let Some((first, last)) = ports.split_once('-') else {
        return one_listen_addr(arg).map(|a| vec![a]);
    };
    let (Some(first), Some(last)) = (status_like_port(first), status_like_port(last)) else {
        return Err(bad(arg, "port", "listen"));
    };
    if first > last {
        let msg = format!("invalid port range \"{text}\" in \"listen\"");
        return Err(ConfigError::at(&arg.1, msg));
    }
    let base = one_listen_addr(&(format!("{head}{first}"), arg.1.clone()))?;
    Ok((first..=last)
        .map(|port| SocketAddr::new(base.ip(), port))
        .collect())
}

/// A `listen` address: `PORT`, `ADDR:PORT`, `[IPV6]:PORT`, `localhost:PORT`, `*:PORT`.
fn one_listen_addr(arg: &Arg) -> Result<SocketAddr, ConfigError> {
    let text = arg.0.as_str();
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (Some(host), port),
        None => (None, text),
    };
    let port = status_like_port(port).ok_or_else(|| bad(arg, "port", "listen"))?;
    let ip = match host {
        None | Some("*") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(h) => host_ip(h).ok_or_else(|| {
            let msg = format!("host not found in \"{text}\" of the \"listen\" directive");
            ConfigError::at(&arg.1, msg)
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

fn status_like_port(text: &str) -> Option<u16> {
    status_text(text, 1..=65535)
}

/// `localhost`, a dotted IPv4 address or a bracketed IPv6 address.
fn host_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// `worker_processes N|auto`; `auto` = the number of available cores.
pub fn worker_processes(arg: &Arg) -> Result<usize, ConfigError> {
    if arg.0 == "auto" {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    let n = number(arg, "worker_processes")?;
    usize::try_from(n).map_err(|_| bad(arg, "number", "worker_processes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn arg(s: &str) -> Arg {
        let pos = Pos {
            file: Arc::from("t.conf"),
            line: 3,
            col: 7,
        };
        (s.to_string(), pos)
    }

    #[test]
    fn sizes() {
        let cases = [
            ("0", Some(0)),
            ("1024", Some(1024)),
            ("10k", Some(10 << 10)),
            ("10K", Some(10 << 10)),
            ("1m", Some(1 << 20)),
            ("2G", Some(2 << 30)),
            ("12q", None),
            ("k", None),
            ("-1", None),
            ("1 m", None),
            ("", None),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("17179869184g", None),
        ];
        for (text, want) in cases {
            assert_eq!(size(&arg(text), "x").ok(), want, "{text:?}");
        }
        let err = size(&arg("12q"), "client_max_body_size").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: invalid size \"12q\" in \"client_max_body_size\""
        );
    }

    #[test]
    fn times() {
        let ms = Duration::from_millis;
        let cases = [
            ("500ms", Some(ms(500))),
            ("30s", Some(ms(30_000))),
            ("30", Some(ms(30_000))),
            ("5m", Some(ms(300_000))),
            ("1h", Some(ms(3_600_000))),
            ("1d", Some(ms(86_400_000))),
            ("0", Some(ms(0))),
            ("5x", None),
            ("s", None),
            ("1ms5", None),
            ("99999999999999999999", None),
            ("9999999999999999d", None),
        ];
        for (text, want) in cases {
            assert_eq!(time(&arg(text), "x").ok(), want, "{text:?}");
        }
        let err = time(&arg("5x"), "keepalive_timeout").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: invalid time \"5x\" in \"keepalive_timeout\""
        );
    }

    #[test]
    fn on_off_values() {
        assert_eq!(on_off(&arg("on"), "x").ok(), Some(true));
        assert_eq!(on_off(&arg("OFF"), "x").ok(), Some(false));
        let err = on_off(&arg("yes"), "autoindex").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: \"autoindex\" takes on|off, got \"yes\""
        );
    }

    #[test]
    fn status_codes() {
        let cases = [("404", Some(404)), ("300", Some(300)), ("599", Some(599))];
        for (text, want) in cases {
            assert_eq!(status(&arg(text), "x", 300..=599).ok(), want, "{text:?}");
        }
        for text in ["99", "600", "+404", "4o4", ""] {
            assert!(status(&arg(text), "x", 300..=599).is_err(), "{text:?}");
        }
        let err = status(&arg("99"), "error_page", 300..=599).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: invalid status code \"99\" in \"error_page\""
        );
    }

    #[test]
    fn methods() {
        assert_eq!(method(&arg("GET"), "x").ok().as_deref(), Some("GET"));
        assert_eq!(method(&arg("delete"), "x").ok().as_deref(), Some("DELETE"));
        let err = method(&arg("FOO"), "allow_methods").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: unknown method \"FOO\" in \"allow_methods\""
        );
    }

    #[test]
    fn listen_port_ranges() {
        let got = listen_addrs(&arg("127.0.0.1:8000-8002")).unwrap();
        let want: Vec<SocketAddr> = ["127.0.0.1:8000", "127.0.0.1:8001", "127.0.0.1:8002"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            listen_addrs(&arg("[::1]:5-5")).unwrap(),
            vec!["[::1]:5".parse().unwrap()]
        );
        assert_eq!(listen_addrs(&arg("90-91")).unwrap().len(), 2);
        let err = |s: &str| listen_addrs(&arg(s)).unwrap_err().to_string();
        assert!(err("127.0.0.1:9-8").contains("invalid port range \"127.0.0.1:9-8\""));
        assert!(err("127.0.0.1:0-8").contains("invalid port"));
        assert!(err("127.0.0.1:8-").contains("invalid port"));
        assert!(err("127.0.0.1:8-70000").contains("invalid port"));
    }

    #[test]
    fn listen_addresses() {
        let cases = [
            ("8080", Some("0.0.0.0:8080")),
            ("127.0.0.1:80", Some("127.0.0.1:80")),
            ("localhost:8080", Some("127.0.0.1:8080")),
            ("*:81", Some("0.0.0.0:81")),
            ("[::1]:8080", Some("[::1]:8080")),
            ("[::]:1", Some("[::]:1")),
            ("65535", Some("0.0.0.0:65535")),
            ("0", None),
            ("70000", None),
            ("example.com:80", None),
            ("::1:80", None),
            ("1.2.3.4:", None),
        ];
        for (text, want) in cases {
            let got = one_listen_addr(&arg(text)).ok().map(|a| a.to_string());
            assert_eq!(got.as_deref(), want, "{text:?}");
        }
        let err = one_listen_addr(&arg("70000")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: invalid port \"70000\" in \"listen\""
        );
        let err = one_listen_addr(&arg("1.2.3.4:x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:3:7: invalid port \"1.2.3.4:x\" in \"listen\""
        );
    }

    #[test]
    fn worker_processes_values() {
        assert_eq!(worker_processes(&arg("4")).ok(), Some(4));
        assert!(worker_processes(&arg("auto")).unwrap() >= 1);
        assert!(worker_processes(&arg("0")).is_err());
        assert!(worker_processes(&arg("many")).is_err());
    }
}

/// A configured path made absolute against the prefix, without `.` components
/// (`root .;` is the prefix itself, not `<prefix>/.`).
pub fn resolve(prefix: &std::path::Path, path: &str) -> std::path::PathBuf {
    prefix
        .join(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

#[cfg(test)]
mod resolve_tests {
    use super::resolve;
    use std::path::Path;

    #[test]
    fn drops_current_dir_components() {
        let p = Path::new("/srv/site");
        assert_eq!(resolve(p, "."), Path::new("/srv/site"));
        assert_eq!(resolve(p, "./www/./x"), Path::new("/srv/site/www/x"));
        assert_eq!(resolve(p, "/abs/path"), Path::new("/abs/path"));
    }
}
