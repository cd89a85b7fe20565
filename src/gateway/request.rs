//! The request the proxy sends upstream, built as nginx builds it: the request line
//! (`proxy_method`, the URI mapped by `proxy_pass`'s URI part, `proxy_http_version`),
//! the `proxy_set_header` list over nginx's defaults (`Host: $proxy_host`,
//! `Connection: close`, the body's `Content-Length`; `TE`, `Keep-Alive`, `Expect`,
//! `Upgrade` dropped), then the client's other fields as they came.

use crate::config::proxy::{Pass, Settings};
use crate::handler::{Cx, Routed, path};

/// nginx's default fields; a `proxy_set_header` of the same name replaces one.
const DEFAULTS: &[&str] = &[
    "Host",
    "Connection",
    "Content-Length",
    "Transfer-Encoding",
    "TE",
    "Keep-Alive",
    "Expect",
    "Upgrade",
];

/// A request head for the upstream.
pub struct Outgoing {
    pub head: Vec<u8>,
    /// The head asks the upstream to keep the connection open (HTTP/1.1 and no
    /// `Connection: close`).
    pub keep_alive: bool,
    /// The client asked to switch protocols and the request passes that on.
    pub upgrade: bool,
}

/// Whether the client asks for a protocol switch (`Connection: upgrade` + `Upgrade`).
pub fn wants_upgrade(cx: &Cx) -> bool {
    let req = cx.req;
    req.http11
        && req.header("upgrade").is_some()
        && req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("connection")
                && String::from_utf8_lossy(v)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

/// Builds the head for `r`, whose body (if any) is `body_len` bytes, or sent as
/// chunks (`chunked`: a body relayed as it arrives, of unknown length).
pub fn build(
    cx: &Cx,
    r: &Routed,
    pass: &Pass,
    s: &Settings,
    body_len: Option<u64>,
    chunked: bool,
) -> Outgoing {
    let env = cx.env(r, true);
    let upgrade = wants_upgrade(cx);
    let method = s.method.as_deref().unwrap_or(cx.req.method.as_str());
    let uri = target(cx, r, pass);
    let http11 = s.http11 || upgrade;
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(uri.as_bytes());
    head.extend_from_slice(if http11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    let mut keep_alive = http11;
    let mut field = |head: &mut Vec<u8>, name: &str, value: &str| {
        if value.is_empty() {
            return;
        }
        if name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
        {
            keep_alive = false;
        }
        push_field(head, name, value.as_bytes());
    };
    for (name, value) in &s.set_headers {
        let v = match value.literal() {
            Some(v) => v.to_string(),
            None => value.expand(&env),
        };
        field(&mut head, name, &v);
    }
    let set = |name: &str| {
        s.set_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    for name in DEFAULTS.iter().filter(|n| !set(n)) {
        let value = match *name {
            "Host" => pass_host(&env, pass),
            "Connection" if upgrade => "upgrade".to_string(),
            "Connection" => "close".to_string(),
            "Upgrade" if upgrade => cx.req.header("upgrade").unwrap_or("").to_string(),
            "Content-Length" => body_len.map_or(String::new(), |n| n.to_string()),
            "Transfer-Encoding" if chunked => "chunked".to_string(),
            _ => String::new(),
        };
        field(&mut head, name, &value);
    }
    if s.pass_request_headers {
        for (name, value) in cx.req.headers.iter() {
            let replaced = DEFAULTS.iter().any(|d| d.eq_ignore_ascii_case(name)) || set(name);
            if !replaced {
                push_field(&mut head, name, value);
            }
        }
    }
    head.extend_from_slice(b"\r\n");
    Outgoing {
        head,
        keep_alive: keep_alive && !upgrade,
        upgrade,
    }
}

/// `$proxy_host`, or for a URL with variables the host it expanded to.
fn pass_host(env: &crate::vars::Env, pass: &Pass) -> String {
    match &pass.dynamic {
        None => pass.host.clone(),
        Some(t) => {
            let url = t.expand(env);
            let (rest, port) = match url.split_once("://") {
                Some(("https", r)) => (r, 443),
                Some((_, r)) => (r, 80),
                None => (url.as_str(), 80),
            };
            let (authority, _) = crate::config::proxy::split_authority(rest);
            crate::config::proxy::proxy_host(authority, port).0
        }
    }
}

/// The request target sent upstream. Without a URI part: the client's target as
/// sent, or the current URI (escaped, with its arguments) once a rewrite or an
/// internal redirect changed it. With one: the location's prefix of the current
/// URI replaced by it. With variables: the expanded URL's URI part, if it has one.
pub fn target(cx: &Cx, r: &Routed, pass: &Pass) -> String {
    let args = |mut s: String| {
        if let Some(a) = &r.args {
            s.push('?');
            s.push_str(a);
        }
        s
    };
    if let Some(t) = &pass.dynamic {
        let url = t.expand(&cx.env(r, true));
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        if let (_, Some(uri)) = crate::config::proxy::split_authority(rest) {
            return uri.to_string();
        }
    }
    let loc = r.location(cx.config);
    match pass.uri.as_deref().filter(|_| pass.dynamic.is_none()) {
        None => {
            let unchanged = path::clean_with(cx.req.path(), r.server(cx.config).merge_slashes)
                .is_some_and(|p| p == r.path)
                && r.args.as_deref() == cx.req.query();
            if unchanged {
                cx.req.target.clone()
            } else {
                args(escape(&r.path))
            }
        }
        Some(uri) => match r.path.strip_prefix(loc.path.as_str()) {
            Some(rest) if loc.is_prefix() || loc.path == r.path => {
                let mut s = uri.to_string();
                s.push_str(&escape(rest));
                args(s)
            }
            _ => args(escape(&r.path)),
        },
    }
}

/// nginx's URI escaping for a proxied request: space, `#`, `%`, `?`, controls and
/// bytes above 0x7e.
pub fn escape(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    for b in uri.bytes() {
        if b <= 0x20 || b >= 0x7f || matches!(b, b'#' | b'%' | b'?') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.iter().filter(|&&b| b != b'\r' && b != b'\n'));
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let cases = [
            ("/a b", "/a%20b"),
            ("/x#y?z", "/x%23y%3Fz"),
            ("/100%", "/100%25"),
            ("/é", "/%C3%A9"),
            ("/a+b;c=d", "/a+b;c=d"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), want, "{raw}");
        }
    }
}
