//! CGI/1.1 (RFC 3875): finding the script in a request path, building its
//! environment, running it with non-blocking pipes polled in the worker's event
//! loop (`process`), and reading its response header block (`output`).

pub mod output;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{CgiHandler, CgiPathInfo, FileRef, Location};
use crate::fs::beneath;
use crate::http::Request;

/// A script found in a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The URI path of the script (SCRIPT_NAME).
    pub name: String,
    /// The rest of the path after it (PATH_INFO), possibly empty.
    pub path_info: String,
    /// The script file (SCRIPT_FILENAME).
    pub file: PathBuf,
    /// The interpreter, or `None` to execute the file itself.
    pub interpreter: Option<PathBuf>,
}

/// Walks the clean request path segment by segment: the first segment that names a
/// file with one of the location's CGI extensions is the script; the rest of the
/// path is PATH_INFO (`/cgi-bin/env.py/a/b` → `/cgi-bin/env.py` + `/a/b`), or, with
/// `cgi_path_info full`, the whole path (`/cgi-bin/env.py/a/b`).
pub fn find_script(loc: &Location, path: &str) -> Option<Script> {
    if loc.cgi.is_empty() {
        return None;
    }
    let ends = path
        .match_indices('/')
        .map(|(i, _)| i)
        .skip(1)
        .chain([path.len()]);
    for end in ends {
        let name = &path[..end];
        let Some(handler) = handler_for(&loc.cgi, name) else {
            continue;
        };
        // Mapped as GET maps it, and checked by opening it strictly beneath the base.
        let target = loc.file_ref(name);
        let is_file = beneath::open(target.base, &target.rel)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file());
        if is_file {
            let file = target.full();
            return Some(Script {
                name: name.to_owned(),
                path_info: match loc.cgi_path_info {
                    CgiPathInfo::Split => path[end..].to_owned(),
                    CgiPathInfo::Full => path.to_owned(),
                },
                file,
                interpreter: handler.interpreter.clone(),
            });
        }
    }
    None
}

fn handler_for<'a>(handlers: &'a [CgiHandler], name: &str) -> Option<&'a CgiHandler> {
    let last = name.rsplit('/').next().unwrap_or(name);
    handlers
        .iter()
        .find(|h| last.len() > h.ext.len() && last.ends_with(&h.ext))
}

/// What the environment is built from.
pub struct EnvInput<'a> {
    pub req: &'a Request,
    pub script: &'a Script,
    pub loc: &'a Location,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The request came over TLS.
    pub https: bool,
    /// The server's first `server_name`, used when the request has no Host.
    pub server_name: &'a str,
    pub content_length: Option<u64>,
    /// The query string after rewrites (`$args`), for QUERY_STRING.
    pub query: Option<&'a str>,
    /// The user basic authentication let in (AUTH_TYPE and REMOTE_USER).
    pub user: Option<&'a str>,
}

/// The CGI/1.1 meta-variables (RFC 3875 §4.1), plus `REDIRECT_STATUS` (php-cgi
/// refuses to run without it) and a PATH to find interpreters. Request headers
/// become `HTTP_*`, except `Proxy` (httpoxy) and the two sent as CONTENT_*.
pub fn environment(input: &EnvInput) -> Vec<(String, String)> {
    let req = input.req;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
    set("GATEWAY_INTERFACE", "CGI/1.1".into());
    set(
        "SERVER_SOFTWARE",
        concat!("webserv/", env!("CARGO_PKG_VERSION")).into(),
    );
    set("SERVER_PROTOCOL", req.version_str().into());
    set(
        "SERVER_NAME",
        req.host
            .clone()
            .unwrap_or_else(|| input.server_name.to_owned()),
    );
    set("SERVER_PORT", input.local.port().to_string());
    set("SERVER_ADDR", input.local.ip().to_string());
    set("REQUEST_METHOD", req.method.as_str().into());
    set("REQUEST_URI", req.target.clone());
    set("QUERY_STRING", input.query.unwrap_or("").into());
    set("SCRIPT_NAME", input.script.name.clone());
    set("SCRIPT_FILENAME", input.script.file.display().to_string());
    set("DOCUMENT_ROOT", input.loc.root.display().to_string());
    set("PATH_INFO", input.script.path_info.clone());
    if !input.script.path_info.is_empty() {
        let translated = FileRef {
            base: &input.loc.root,
            rel: input.script.path_info.as_str().into(),
        };
        set("PATH_TRANSLATED", translated.full().display().to_string());
    }
    set("REMOTE_ADDR", input.peer.ip().to_string());
    // RFC 3875 §4.1.1, §4.1.11: set when the server authenticated the user.
    if let Some(user) = input.user {
        set("AUTH_TYPE", "Basic".into());
        set("REMOTE_USER", user.into());
    }
    // A client address realip took from a header without a port has none:
    // empty, as nginx's `$remote_port` is then.
    let port = input.peer.port();
    set(
        "REMOTE_PORT",
        if port == 0 {
            String::new()
        } else {
            port.to_string()
        },
    );
    // Not in RFC 3875, but what scripts check for TLS (Apache's and nginx's names).
    set(
        "REQUEST_SCHEME",
        if input.https { "https" } else { "http" }.into(),
    );
    if input.https {
        set("HTTPS", "on".into());
    }
    set("REDIRECT_STATUS", "200".into());
    set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
    );
    if let Some(n) = input.content_length {
        set("CONTENT_LENGTH", n.to_string());
    }
    if let Some(t) = req.header("content-type") {
        set("CONTENT_TYPE", t.to_owned());
    }
    for (name, value) in req.headers.iter() {
        if name.contains('_') && !input.loc.underscores_in_headers {
            // `X_User` would become HTTP_X_USER, the variable a front proxy's
            // `X-User` sets: dropped, as nginx drops it (underscores_in_headers off).
            log::info!("client sent header \"{name}\" with an underscore: not passed to CGI");
            continue;
        }
        if let Some(var) = header_var(name) {
            let value = String::from_utf8_lossy(value).trim().to_owned();
            match env.iter_mut().find(|(k, _)| *k == var) {
                // RFC 3875 §4.1.18: repeated headers are joined with ", ".
                Some((_, v)) => {
                    v.push_str(", ");
                    v.push_str(&value);
                }
                None => env.push((var, value)),
            }
        }
    }
    env
}

/// `User-Agent` → `HTTP_USER_AGENT`; `None` for headers never passed.
fn header_var(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    // SPEC: every request header but Proxy (httpoxy); the two content headers
    // travel as CONTENT_LENGTH / CONTENT_TYPE.
    if matches!(lower.as_str(), "proxy" | "content-length" | "content-type") {
        return None;
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(format!(
        "HTTP_{}",
        name.to_ascii_uppercase().replace('-', "_")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_become_variables() {
        assert_eq!(header_var("User-Agent").as_deref(), Some("HTTP_USER_AGENT"));
        assert_eq!(
            header_var("x-custom_one").as_deref(),
            Some("HTTP_X_CUSTOM_ONE")
        );
        assert_eq!(header_var("Proxy"), None);
        assert_eq!(header_var("Content-Type"), None);
        assert_eq!(header_var("bad.name"), None);
    }

    #[test]
    fn extension_must_follow_a_name() {
        let hs = vec![CgiHandler {
            ext: ".py".into(),
            interpreter: None,
        }];
        assert!(handler_for(&hs, "/cgi-bin/env.py").is_some());
        assert!(handler_for(&hs, "/cgi-bin/.py").is_none());
        assert!(handler_for(&hs, "/cgi-bin/env.pyc").is_none());
    }
}
