//! The gateway's directives: the reverse proxy's (`proxy_pass` and the `proxy_*`
//! settings) and the same settings of FastCGI under `fastcgi_*` (its own ones are in
//! `fastcgi`), with nginx's names, defaults and inheritance: the `*_pass` belongs to
//! its location alone; every other setting is inherited, and a level that declares
//! any `proxy_set_header` (or `proxy_hide_header`, `proxy_pass_header`,
//! `proxy_redirect`, `fastcgi_param`) replaces the inherited list, as nginx merges
//! arrays. Each module keeps its own draft, as nginx's modules keep their own
//! configurations: `proxy_read_timeout` says nothing about FastCGI.

use std::time::Duration;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, Pos};
use crate::vars::Template;

/// `proxy_pass URL` as written; the group it names is found once every
/// `upstream` block is read (see [`Pass::upstream`]).
#[derive(Debug, Clone)]
pub struct Pass {
    /// The URL as written (`http://backend/base/`), the pattern of `proxy_redirect default`.
    pub url: String,
    /// `host[:port]` or `unix:/path` as written, or the whole URL when it has variables.
    pub authority: String,
    /// The URI part (`/base/`), when the URL has one.
    pub uri: Option<String>,
    /// The URL holds variables: expanded per request, its host an upstream name
    /// or an address.
    pub dynamic: Option<Template>,
    /// Index into `Config::upstreams` (set when the configuration is built).
    pub upstream: usize,
    /// `$proxy_host`: the authority without a default port (`localhost` for unix sockets).
    pub host: String,
    /// `$proxy_port`.
    pub port: u16,
    /// `https://`: TLS to the upstream.
    pub tls: bool,
    pub pos: Pos,
}

/// `proxy_redirect`.
#[derive(Debug, Clone)]
pub enum Redirect {
    /// `default`: the proxied URL becomes the location's prefix.
    Default,
    /// `FROM TO`: a prefix replaced (FROM may hold variables).
    Replace(Template, Template),
}

/// What `proxy_next_upstream` lets a request retry on; bits of [`Settings::next_upstream`].
pub mod next {
    pub const ERROR: u16 = 1;
    pub const TIMEOUT: u16 = 2;
    pub const INVALID_HEADER: u16 = 4;
    pub const HTTP_500: u16 = 8;
    pub const HTTP_502: u16 = 16;
    pub const HTTP_503: u16 = 32;
    pub const HTTP_504: u16 = 64;
    pub const HTTP_403: u16 = 128;
    pub const HTTP_404: u16 = 256;
    pub const HTTP_429: u16 = 512;
    pub const NON_IDEMPOTENT: u16 = 1024;

    /// The bit of a status that may be retried, if any.
    pub fn status_bit(status: u16) -> u16 {
        match status {
            500 => HTTP_500,
            502 => HTTP_502,
            503 => HTTP_503,
            504 => HTTP_504,
            403 => HTTP_403,
            404 => HTTP_404,
            429 => HTTP_429,
            _ => 0,
        }
    }
}

/// Which protocol a location's backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    FastCgi,
}

/// A location's proxy (or FastCGI) settings, with nginx's defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `proxy_set_header NAME VALUE`, in order; an empty value removes the header.
    pub set_headers: Vec<(String, Template)>,
    /// `proxy_hide_header`, lower-case, on top of nginx's hidden list.
    pub hide: Vec<String>,
    /// `proxy_pass_header`, lower-case: hidden-by-default headers passed anyway.
    pub pass: Vec<String>,
    /// `proxy_http_version 1.1` (default 1.0).
    pub http11: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    /// Bits of [`next`]; default `error timeout`.
    pub next_upstream: u16,
    /// `proxy_next_upstream_tries`: 0 = as many as there are servers.
    pub next_upstream_tries: u32,
    /// `proxy_next_upstream_timeout`: 0 = no limit.
    pub next_upstream_timeout: Duration,
    /// `proxy_redirect`; empty = off.
    pub redirects: Vec<Redirect>,
    pub intercept_errors: bool,
    pub pass_request_headers: bool,
    pub pass_request_body: bool,
    /// `proxy_set_body VALUE`.
    pub set_body: Option<Template>,
    /// `proxy_method METHOD`.
    pub method: Option<String>,
    /// `proxy_buffering`: `off` relays each read at once (webserv relays as it
    /// reads either way, bounded by a high-water mark).
    pub buffering: bool,
    /// `proxy_request_buffering off`: the body goes to the upstream as it
    /// arrives (a Content-Length body; a chunked one to an HTTP/1.1 upstream),
    /// instead of being read whole first.
    pub request_buffering: bool,
    /// `proxy_ignore_headers`: bits of [`super::ignore_headers`].
    pub ignore_headers: u16,
    /// FastCGI's own settings (empty for the proxy).
    pub fastcgi: super::fastcgi::Settings,
    /// The `proxy_ssl_*` settings as merged for this location.
    pub ssl: super::proxy_ssl::Draft,
    /// The TLS client, for a location that passes to `https://` (made when the
    /// configuration is built).
    pub tls: Option<super::proxy_ssl::Client>,
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `proxy_pass`: this location's only, never inherited.
    pub pass: Option<Pass>,
    set_headers: Option<Vec<(String, Template)>>,
    hide: Option<Vec<String>>,
    pass_headers: Option<Vec<String>>,
    http11: Option<bool>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    next_upstream: Option<u16>,
    next_upstream_tries: Option<u32>,
    next_upstream_timeout: Option<Duration>,
    redirects: Option<Vec<Redirect>>,
    intercept_errors: Option<bool>,
    pass_request_headers: Option<bool>,
    pass_request_body: Option<bool>,
    set_body: Option<Template>,
    method: Option<String>,
    buffering: Option<bool>,
    request_buffering: Option<bool>,
    ignore_headers: Option<u16>,
    fastcgi: super::fastcgi::Draft,
    ssl: super::proxy_ssl::Draft,
}

/// Directives accepted for pasted configurations that change nothing here:
/// buffer sizes (webserv relays through one bounded buffer) and temp files
/// (nothing is spooled to disk on the way back).
const SIZES: &[&str] = &[
    "buffer_size",
    "busy_buffers_size",
    "max_temp_file_size",
    "temp_file_write_size",
];

macro_rules! or {
    ($inner:ident, $outer:ident: $($field:ident),* $(,)?) => {
        Draft {
            pass: $inner.pass.clone(),
            fastcgi: $inner.fastcgi.merge(&$outer.fastcgi),
            ssl: $inner.ssl.merge(&$outer.ssl),
            $($field: $inner.$field.clone().or_else(|| $outer.$field.clone()),)*
        }
    };
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        let inner = self;
        or!(inner, outer: set_headers, hide, pass_headers, http11, connect_timeout,
            read_timeout, send_timeout, next_upstream, next_upstream_tries,
            next_upstream_timeout, redirects, intercept_errors, pass_request_headers,
            pass_request_body, set_body, method, buffering, request_buffering,
            ignore_headers)
    }

    pub fn finish(&self) -> Settings {
        let minute = Duration::from_secs(60);
        Settings {
            set_headers: self.set_headers.clone().unwrap_or_default(),
            hide: self.hide.clone().unwrap_or_default(),
            pass: self.pass_headers.clone().unwrap_or_default(),
            http11: self.http11.unwrap_or(false),
            connect_timeout: self.connect_timeout.unwrap_or(minute),
            read_timeout: self.read_timeout.unwrap_or(minute),
            send_timeout: self.send_timeout.unwrap_or(minute),
            next_upstream: self.next_upstream.unwrap_or(next::ERROR | next::TIMEOUT),
            next_upstream_tries: self.next_upstream_tries.unwrap_or(0),
            next_upstream_timeout: self.next_upstream_timeout.unwrap_or_default(),
            redirects: self.redirects.clone().unwrap_or(vec![Redirect::Default]),
            intercept_errors: self.intercept_errors.unwrap_or(false),
            pass_request_headers: self.pass_request_headers.unwrap_or(true),
            pass_request_body: self.pass_request_body.unwrap_or(true),
            set_body: self.set_body.clone(),
            method: self.method.clone(),
            buffering: self.buffering.unwrap_or(true),
            request_buffering: self.request_buffering.unwrap_or(true),
            ignore_headers: self.ignore_headers.unwrap_or(0),
            fastcgi: self.fastcgi.finish(),
            ssl: self.ssl.clone(),
            tls: None,
        }
    }

    /// Records one of this module's directives (those named `prefix` + a setting,
    /// where the directive table lets the module have it); `Ok(false)` if `d` is not one.
    pub fn apply(
        &mut self,
        d: &Directive,
        protocol: Protocol,
        conf_dir: &std::path::Path,
    ) -> Result<bool, ConfigError> {
        let name = d.name.as_str();
        let prefix = match protocol {
            Protocol::Http => "proxy_",
            Protocol::FastCgi => "fastcgi_",
        };
        let Some(setting) = name.strip_prefix(prefix) else {
            return Ok(false);
        };
        if protocol == Protocol::FastCgi && self.fastcgi.apply(d)? {
            return Ok(true);
        }
        if protocol == Protocol::Http && self.ssl.apply(d, conf_dir)? {
            return Ok(true);
        }
        let a = &d.args;
        let time = || values::time(&a[0], name).map(Some);
        let on = || values::on_off(&a[0], name).map(Some);
        match setting {
            "pass" if protocol == Protocol::FastCgi => {
                self.pass = Some(super::fastcgi::pass(&a[0], &d.pos)?)
            }
            "pass" => self.pass = Some(pass(&a[0], &d.pos)?),
            "set_header" => {
                let value = Template::compile(&a[1].0, &a[1].1)?;
                let list = self.set_headers.get_or_insert_with(Vec::new);
                list.retain(|(n, _)| !n.eq_ignore_ascii_case(&a[0].0));
                list.push((a[0].0.clone(), value));
            }
            "hide_header" => push_lower(&mut self.hide, &a[0]),
            "pass_header" => push_lower(&mut self.pass_headers, &a[0]),
            "http_version" => {
                self.http11 = Some(match a[0].0.as_str() {
                    "1.0" => false,
                    "1.1" => true,
                    other => {
                        let msg = format!("invalid value \"{other}\" in \"{name}\"");
                        return Err(ConfigError::at(&a[0].1, msg));
                    }
                })
            }
            "connect_timeout" => self.connect_timeout = time()?,
            "read_timeout" => self.read_timeout = time()?,
            "send_timeout" => self.send_timeout = time()?,
            "next_upstream" => self.next_upstream = Some(next_upstream(a, name)?),
            "next_upstream_tries" => {
                let n = values::number(&a[0], name)?;
                self.next_upstream_tries = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "next_upstream_timeout" => self.next_upstream_timeout = time()?,
            "redirect" => redirect(&mut self.redirects, a)?,
            "intercept_errors" => self.intercept_errors = on()?,
            "pass_request_headers" => self.pass_request_headers = on()?,
            "pass_request_body" => self.pass_request_body = on()?,
            "set_body" => self.set_body = Some(Template::compile(&a[0].0, &a[0].1)?),
            "method" => self.method = Some(a[0].0.clone()),
            "buffering" => self.buffering = on()?,
            "request_buffering" => self.request_buffering = on()?,
            "ignore_headers" => self.ignore_headers = Some(super::ignore_headers::parse(a, name)?),
            "ignore_client_abort" => {
                on()?;
            }
            "buffers" => {
                values::number(&a[0], name)?;
                values::size(&a[1], name)?;
            }
            _ if SIZES.contains(&setting) => {
                values::size(&a[0], name)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The templates this level holds, for linking their variables.
    pub fn templates(s: &mut Settings) -> impl Iterator<Item = &mut Template> {
        let redirects = s.redirects.iter_mut().flat_map(|r| match r {
            Redirect::Default => Vec::new(),
            Redirect::Replace(a, b) => vec![a, b],
        });
        let params = super::fastcgi::Draft::templates(&mut s.fastcgi);
        let ssl_name = s
            .tls
            .iter_mut()
            .flat_map(super::proxy_ssl::Draft::templates);
        s.set_headers
            .iter_mut()
            .map(|(_, t)| t)
            .chain(s.set_body.iter_mut())
            .chain(redirects)
            .chain(params)
            .chain(ssl_name)
    }
}

fn push_lower(list: &mut Option<Vec<String>>, arg: &Arg) {
    list.get_or_insert_with(Vec::new)
        .push(arg.0.to_ascii_lowercase());
}

/// `proxy_redirect default | off | FROM TO`.
fn redirect(list: &mut Option<Vec<Redirect>>, a: &[Arg]) -> Result<(), ConfigError> {
    let list = list.get_or_insert_with(Vec::new);
    match (a[0].0.as_str(), a.len()) {
        ("off", 1) => list.clear(),
        ("default", 1) => list.push(Redirect::Default),
        (_, 2) => list.push(Redirect::Replace(
            Template::compile(&a[0].0, &a[0].1)?,
            Template::compile(&a[1].0, &a[1].1)?,
        )),
        (w, _) => {
            let msg = format!("invalid parameter \"{w}\" in \"proxy_redirect\"");
            return Err(ConfigError::at(&a[0].1, msg));
        }
    }
    Ok(())
}

fn next_upstream(a: &[Arg], name: &str) -> Result<u16, ConfigError> {
    let mut bits = 0;
    for (w, pos) in a {
        bits |= match w.as_str() {
            "off" => 0,
            "error" => next::ERROR,
            "timeout" => next::TIMEOUT,
            "invalid_header" => next::INVALID_HEADER,
            "non_idempotent" => next::NON_IDEMPOTENT,
            "updating" => 0,
            s => match s.strip_prefix("http_").and_then(|c| c.parse().ok()) {
                Some(code) if next::status_bit(code) != 0 => next::status_bit(code),
                _ => {
                    let msg = format!("invalid value \"{w}\" in \"{name}\"");
                    return Err(ConfigError::at(pos, msg));
                }
            },
        };
    }
    Ok(bits)
}

/// `proxy_pass http://HOST[:PORT][/URI]`, `http://unix:/path:[/URI]`,
/// `http://NAME[/URI]`, or a URL with variables.
fn pass((url, pos): &Arg, at: &Pos) -> Result<Pass, ConfigError> {
    let tls = url.starts_with("https://");
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        r
    } else if url.contains('$') && !url.contains("://") {
        // `proxy_pass $backend;`: the scheme comes with the value.
        ""
    } else {
        return Err(ConfigError::at(
            pos,
            format!("invalid URL prefix in \"{url}\""),
        ));
    };
    let mut p = Pass {
        url: url.clone(),
        authority: String::new(),
        uri: None,
        dynamic: None,
        upstream: 0,
        host: String::new(),
        port: if tls { 443 } else { 80 },
        tls,
        pos: at.clone(),
    };
    if url.contains('$') {
        p.dynamic = Some(Template::compile(url, pos)?);
        return Ok(p);
    }
    let (authority, uri) = split_authority(rest);
    if authority.is_empty() {
        return Err(ConfigError::at(pos, format!("no host in \"{url}\"")));
    }
    p.authority = authority.to_string();
    p.uri = uri.map(str::to_string);
    (p.host, p.port) = proxy_host(authority, p.port);
    Ok(p)
}

/// `host:port/uri` → (`host:port`, `/uri`); `unix:/path:/uri` → (`unix:/path`, `/uri`).
pub fn split_authority(rest: &str) -> (&str, Option<&str>) {
    if let Some(path) = rest.strip_prefix("unix:") {
        return match path.find(':') {
            Some(i) => (
                &rest[..5 + i],
                Some(&path[i + 1..]).filter(|u| !u.is_empty()),
            ),
            None => (rest, None),
        };
    }
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    }
}

/// `$proxy_host` and `$proxy_port` of an authority whose scheme's port is `default`.
pub fn proxy_host(authority: &str, default: u16) -> (String, u16) {
    if authority.starts_with("unix:") {
        return ("localhost".to_string(), default);
    }
    let port = authority
        .rsplit_once(':')
        .filter(|(h, _)| !h.contains(':') || h.ends_with(']'))
        .and_then(|(_, p)| p.parse::<u16>().ok());
    match port {
        Some(p) if p == default => {
            let host = authority
                .strip_suffix(&format!(":{p}"))
                .unwrap_or(authority);
            (host.to_string(), p)
        }
        Some(p) => (authority.to_string(), p),
        None => (authority.to_string(), default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_and_uris() {
        let cases = [
            ("127.0.0.1:8080", ("127.0.0.1:8080", None)),
            ("127.0.0.1:8080/", ("127.0.0.1:8080", Some("/"))),
            ("backend/base/x", ("backend", Some("/base/x"))),
            ("unix:/tmp/s.sock", ("unix:/tmp/s.sock", None)),
            ("unix:/tmp/s.sock:", ("unix:/tmp/s.sock", None)),
            ("unix:/tmp/s.sock:/u/", ("unix:/tmp/s.sock", Some("/u/"))),
        ];
        for (rest, want) in cases {
            assert_eq!(split_authority(rest), want, "{rest}");
        }
    }

    #[test]
    fn proxy_host_drops_the_default_port() {
        let cases = [
            ("127.0.0.1:8080", ("127.0.0.1:8080", 8080)),
            ("example.com:80", ("example.com", 80)),
            ("backend", ("backend", 80)),
            ("[::1]:81", ("[::1]:81", 81)),
            ("unix:/x", ("localhost", 80)),
        ];
        for (a, (host, port)) in cases {
            assert_eq!(proxy_host(a, 80), (host.to_string(), port), "{a}");
        }
        assert_eq!(proxy_host("b.test:443", 443), ("b.test".to_string(), 443));
        assert_eq!(proxy_host("b.test:80", 443), ("b.test:80".to_string(), 80));
        assert_eq!(proxy_host("b.test", 443), ("b.test".to_string(), 443));
    }
}
