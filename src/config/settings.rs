//! Inheritable settings of one level (main, http, server or location) and nginx merge
//! semantics: every field is `None` until the level sets it; [`Settings::merge`] fills
//! the gaps from the enclosing level. Lists (`index`, `allow_methods`, `error_page`,
//! `add_header`, `cgi`) are replaced whole by a level that declares any; within one
//! level, repeated list directives accumulate. Relative paths are resolved against
//! the prefix as they are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::RedirectStyle;
use super::caching::{self, Expires, IfModifiedSince};
use super::keepalive::{self, KeepAlive};
use super::parser::Directive;
use super::proxy::Protocol;
use super::types::{self, MimeTypes};
use super::values::{self, Arg};
use super::{
    AccessLog, AddHeader, CgiHandler, CgiPathInfo, ConfigError, ErrorPage, ListingFormat,
    ListingStyle, LocKind, Location, OpenFileCache, Pos, compat, script,
};
use crate::vars::Template;

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub root: Option<PathBuf>,
    /// Set with `root`: `Some(None)` for a root without variables.
    pub root_vars: Option<Option<Template>>,
    pub index: Option<Vec<Template>>,
    pub autoindex: Option<bool>,
    pub autoindex_exact_size: Option<bool>,
    pub autoindex_localtime: Option<bool>,
    pub autoindex_format: Option<ListingFormat>,
    pub error_pages: Option<HashMap<u16, ErrorPage>>,
    pub client_max_body_size: Option<u64>,
    pub client_header_buffer_size: Option<usize>,
    pub client_header_timeout: Option<Duration>,
    pub client_body_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    /// `keepalive_timeout T [HEADER_T]`: the two inherit apart, as in nginx (a
    /// level that sets only T keeps the outer HEADER_T).
    pub keepalive_timeout: Option<Duration>,
    pub keepalive_header: Option<Duration>,
    pub keepalive_requests: Option<u64>,
    pub keepalive_time: Option<Duration>,
    pub open_log_file_cache: Option<Option<super::LogFileCache>>,
    /// `large_client_header_buffers N SIZE`.
    pub large_client_header_buffers: Option<(usize, usize)>,
    pub keepalive_disable: Option<keepalive::Disable>,
    pub allow_methods: Option<Vec<String>>,
    pub upload_store: Option<PathBuf>,
    pub cgi: Option<Vec<CgiHandler>>,
    pub cgi_timeout: Option<Duration>,
    pub cgi_path_info: Option<CgiPathInfo>,
    pub sendfile: Option<bool>,
    pub aio: Option<bool>,
    /// `open_file_cache`: `(max, inactive)`.
    pub open_file_cache: Option<(usize, Option<Duration>)>,
    pub open_file_cache_valid: Option<Duration>,
    pub default_type: Option<String>,
    pub add_headers: Option<Vec<AddHeader>>,
    /// `Some(vec![])` is an explicit `access_log off`.
    pub access_logs: Option<Vec<AccessLog>>,
    /// `types { }` blocks of this level, added up.
    pub types: Option<Arc<MimeTypes>>,
    pub server_tokens: Option<bool>,
    pub absolute_redirect: Option<bool>,
    pub log_not_found: Option<bool>,
    pub merge_slashes: Option<bool>,
    pub port_in_redirect: Option<bool>,
    pub server_name_in_redirect: Option<bool>,
    /// `client_body_temp_path DIR`: where large request bodies are spooled.
    pub client_body_temp_path: Option<std::sync::Arc<Path>>,
    pub underscores_in_headers: Option<bool>,
    pub ignore_invalid_headers: Option<bool>,
    pub max_headers: Option<u64>,
    /// `expires`, with its template when the value has variables.
    pub expires: Option<(Expires, Option<Template>)>,
    pub etag: Option<bool>,
    /// `max_ranges N` (0: no ranges).
    pub max_ranges: Option<u32>,
    pub add_trailers: Option<Vec<AddHeader>>,
    pub if_modified_since: Option<IfModifiedSince>,
    /// The compression directives, each inherited on its own.
    pub compression: super::compress::Draft,
    /// The WebDAV directives, each inherited on its own.
    pub dav: super::dav::Draft,
    /// `proxy_pass` (this level's own) and the inherited `proxy_*` settings.
    pub proxy: super::proxy::Draft,
    /// `fastcgi_pass` (this level's own) and the inherited `fastcgi_*` settings.
    pub fastcgi: super::proxy::Draft,
    /// `charset`, `source_charset`, `override_charset`, `charset_types`.
    pub charset: super::charset::Draft,
    /// `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`.
    pub realip: super::realip::Draft,
    /// The body buffering and framing directives.
    pub bodies: super::bodies::Draft,
    /// `http2` and its settings.
    pub http2: super::http2::Draft,
    /// `allow` / `deny`, in order.
    pub access: Option<Vec<super::access::Rule>>,
    /// `limit_req`, `limit_conn`, `limit_rate` and their settings.
    pub limits: super::limits::Draft,
    /// `auth_basic*`, `satisfy`, `auth_delay`, this location's `limit_except`.
    pub auth: super::auth::Draft,
}

/// Defaults (nginx's, or the spec's where it differs).
pub const DEFAULT_BODY_SIZE: u64 = 1 << 20;
pub const DEFAULT_HEADER_BUFFER: usize = 8 << 10;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_CGI_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_TYPE: &str = "application/octet-stream";

macro_rules! merge_fields {
    ($inner:ident, $outer:ident: $($field:ident),* $(,)?) => {
        Settings {
            $($field: $inner.$field.clone().or_else(|| $outer.$field.clone()),)*
            compression: $inner.compression.merge(&$outer.compression),
            dav: $inner.dav.merge(&$outer.dav),
            proxy: $inner.proxy.merge(&$outer.proxy),
            fastcgi: $inner.fastcgi.merge(&$outer.fastcgi),
            charset: $inner.charset.merge(&$outer.charset),
            realip: $inner.realip.merge(&$outer.realip),
            bodies: $inner.bodies.merge(&$outer.bodies),
            limits: $inner.limits.merge(&$outer.limits),
            auth: $inner.auth.merge(&$outer.auth),
            http2: $inner.http2.merge(&$outer.http2),
        }
    };
}

impl Settings {
    /// This level's values, with anything unset taken from `outer`.
    pub fn merge(&self, outer: &Settings) -> Settings {
        let inner = self;
        merge_fields!(inner, outer:
            root, root_vars, index, autoindex, error_pages, client_max_body_size,
            client_header_buffer_size, client_header_timeout, client_body_timeout,
            send_timeout, keepalive_timeout, keepalive_header, keepalive_requests, keepalive_time, keepalive_disable, large_client_header_buffers, open_log_file_cache, allow_methods,
            upload_store, cgi, cgi_timeout, cgi_path_info, sendfile, aio, open_file_cache,
            open_file_cache_valid, default_type, add_headers, access_logs, autoindex_exact_size,
            autoindex_localtime, autoindex_format,
            types, server_tokens, log_not_found, absolute_redirect, merge_slashes, port_in_redirect, server_name_in_redirect,
            client_body_temp_path, underscores_in_headers, expires, etag, if_modified_since,
            access,
            max_ranges, add_trailers, ignore_invalid_headers, max_headers,
        )
    }

    /// Records one directive (already checked for context and arity).
    pub fn apply(&mut self, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
        let a = &d.args;
        let name = d.name.as_str();
        match name {
            "root" => {
                let root = values::resolve(prefix, &a[0].0);
                self.root_vars = Some(Self::path_vars(&root, &a[0].1)?);
                self.root = Some(root);
            }
            "upload_store" => self.upload_store = Some(values::resolve(prefix, &a[0].0)),
            "access_log" => {
                // `access_log off` anywhere in a level turns the level's logs off,
                // whatever comes before or after it, as in nginx.
                let off = matches!(&self.access_logs, Some(v) if v.is_empty());
                let logs = list(&mut self.access_logs);
                match super::logs::access_log(d, prefix)? {
                    Some(log) if !off => logs.push(log),
                    Some(_) => {}
                    None => logs.clear(),
                }
            }
            "index" => {
                let names = a.iter().map(|(s, pos)| Template::compile(s, pos));
                list(&mut self.index).extend(names.collect::<Result<Vec<_>, _>>()?);
            }
            "autoindex" => self.autoindex = Some(values::on_off(&a[0], name)?),
            "autoindex_exact_size" => {
                self.autoindex_exact_size = Some(values::on_off(&a[0], name)?)
            }
            "autoindex_localtime" => self.autoindex_localtime = Some(values::on_off(&a[0], name)?),
            "autoindex_format" => self.autoindex_format = Some(values::listing_format(&a[0])?),
            "sendfile" => self.sendfile = Some(values::on_off(&a[0], name)?),
            "open_file_cache" => self.open_file_cache = Some(open_file_cache(a)?),
            "aio" => self.aio = Some(aio(&a[0])?),
            "cgi_path_info" => self.cgi_path_info = Some(cgi_path_info(&a[0])?),
            "default_type" => self.default_type = Some(a[0].0.clone()),
            "error_page" => error_page(list_map(&mut self.error_pages), d)?,
            "allow_methods" => self.allow_methods = Some(allow_methods(a)?),
            "cgi" => list(&mut self.cgi).push(cgi(a, prefix)),
            "add_header" => list(&mut self.add_headers).push(add_header(a, name)?),
            "add_trailer" => list(&mut self.add_trailers).push(add_header(a, name)?),
            "max_ranges" => self.max_ranges = Some(caching::max_ranges(&a[0])?),
            "types" => types::apply(&mut self.types, d)?,
            // `build` adds nginx's build name; webserv has none, so it is `on`.
            "server_tokens" if a[0].0 == "build" => self.server_tokens = Some(true),
            "server_tokens" => self.server_tokens = Some(values::on_off(&a[0], name)?),
            "absolute_redirect" => self.absolute_redirect = Some(values::on_off(&a[0], name)?),
            "log_not_found" => self.log_not_found = Some(values::on_off(&a[0], name)?),
            // Memory pools are nginx's allocator; a size is checked, then unused.
            "connection_pool_size" | "request_pool_size" => {
                values::size(&a[0], name)?;
            }
            "merge_slashes" => self.merge_slashes = Some(values::on_off(&a[0], name)?),
            "port_in_redirect" => self.port_in_redirect = Some(values::on_off(&a[0], name)?),
            "server_name_in_redirect" => {
                self.server_name_in_redirect = Some(values::on_off(&a[0], name)?)
            }
            // Checked; every record goes to the main level's error log.
            "error_log" => {
                super::check::error_log(a, prefix)?;
            }
            "client_body_temp_path" => {
                self.client_body_temp_path = Some(values::resolve(prefix, &a[0].0).into())
            }
            // The gateway's spools: nothing is proxied yet, so nothing is kept there.
            "proxy_temp_path" | "fastcgi_temp_path" | "uwsgi_temp_path" | "scgi_temp_path" => {}
            "ignore_invalid_headers" => {
                self.ignore_invalid_headers = Some(values::on_off(&a[0], name)?)
            }
            "underscores_in_headers" => {
                self.underscores_in_headers = Some(values::on_off(&a[0], name)?)
            }
            "keepalive_timeout" => {
                let (t, header) = keepalive::timeout(a, name)?;
                self.keepalive_timeout = Some(t);
                self.keepalive_header = header.or(self.keepalive_header);
            }
            "open_log_file_cache" => {
                self.open_log_file_cache = Some(super::logs::log_file_cache(d)?)
            }
            "large_client_header_buffers" => {
                let n = values::number(&a[0], name)?;
                let size = values::size(&a[1], name)?;
                let n = usize::try_from(n).map_err(|_| size_error(&a[0], name))?;
                let size = usize::try_from(size).map_err(|_| size_error(&a[1], name))?;
                self.large_client_header_buffers = Some((n, size));
            }
            "keepalive_disable" => self.keepalive_disable = Some(keepalive::disable(a, name)?),
            "etag" => self.etag = Some(values::on_off(&a[0], name)?),
            // The rewrite module's logging switches: webserv's `--explain` shows each
            // rewrite decision instead; accepted, no effect.
            "rewrite_log" | "uninitialized_variable_warn" => {
                values::on_off(&a[0], name)?;
            }
            "expires" => self.expires = Some(caching::expires(a)?),
            "if_modified_since" => {
                self.if_modified_since = Some(caching::if_modified_since(&a[0])?)
            }
            _ if compat::KNOBS.contains(&name) => compat::check(d)?,
            _ if self.compression.apply(d)? => {}
            _ if self.bodies.apply(d)? => {}
            _ if self.dav.apply(d)? => {}
            _ if self.proxy.apply(d, Protocol::Http, prefix)? => {}
            _ if self.fastcgi.apply(d, Protocol::FastCgi, prefix)? => {}
            _ if self.charset.apply(d)? => {}
            _ if self.realip.apply(d)? => {}
            _ if self.http2.apply(d)? => {}
            _ if super::access::apply(&mut self.access, d)? => {}
            _ if self.limits.apply(d)? => {}
            _ if self.auth.apply(d, prefix)? => {}
            _ => self.apply_limit(name, &a[0])?,
        }
        Ok(())
    }

    /// The size, time and count directives.
    fn apply_limit(&mut self, name: &str, arg: &Arg) -> Result<(), ConfigError> {
        let time = || values::time(arg, name).map(Some);
        match name {
            "client_max_body_size" => self.client_max_body_size = Some(values::size(arg, name)?),
            "client_header_buffer_size" => {
                let n = values::size(arg, name)?;
                let n = usize::try_from(n).map_err(|_| size_error(arg, name))?;
                self.client_header_buffer_size = Some(n);
            }
            "client_header_timeout" => self.client_header_timeout = time()?,
            "client_body_timeout" => self.client_body_timeout = time()?,
            "send_timeout" => self.send_timeout = time()?,
            "keepalive_time" => self.keepalive_time = time()?,
            "cgi_timeout" => self.cgi_timeout = time()?,
            "open_file_cache_valid" => self.open_file_cache_valid = time()?,
            "keepalive_requests" => self.keepalive_requests = Some(values::number(arg, name)?),
            "max_headers" => self.max_headers = Some(values::number(arg, name)?),
            _ => {}
        }
        Ok(())
    }

    /// The keep-alive policy of this level, nginx's defaults for what is unset.
    pub fn keepalive(&self) -> KeepAlive {
        let d = KeepAlive::default();
        KeepAlive {
            timeout: self.keepalive_timeout.unwrap_or(d.timeout),
            header: self.keepalive_header,
            requests: self.keepalive_requests.unwrap_or(d.requests),
            time: self.keepalive_time.unwrap_or(d.time),
            disable: self.keepalive_disable.unwrap_or_default(),
        }
    }

    /// `absolute_redirect`, `port_in_redirect`, `server_name_in_redirect`, with
    /// nginx's defaults (on, on, off).
    pub fn redirect_style(&self) -> RedirectStyle {
        RedirectStyle {
            absolute: self.absolute_redirect.unwrap_or(true),
            port: self.port_in_redirect.unwrap_or(true),
            server_name: self.server_name_in_redirect.unwrap_or(false),
        }
    }

    /// The template of a path that contains variables, else `None`.
    pub fn path_vars(path: &Path, pos: &Pos) -> Result<Option<Template>, ConfigError> {
        let text = path.to_string_lossy();
        if !text.contains('$') {
            return Ok(None);
        }
        Template::compile(&text, pos).map(Some)
    }

    /// The final location, defaults filled in for anything no level set.
    pub fn to_location(&self, path: &str, kind: LocKind, pos: &Pos, prefix: &Path) -> Location {
        let s = self.clone();
        let redirect = s.redirect_style();
        let keepalive = s.keepalive();
        Location {
            path: path.to_string(),
            kind,
            internal: false,
            status_page: None,
            parent: None,
            children: Vec::new(),
            rewrite: Vec::new(),
            try_files: None,
            root_vars: s.root_vars.flatten(),
            alias_vars: None,
            root: s.root.unwrap_or_else(|| values::resolve(prefix, "www")),
            alias: None,
            index: s
                .index
                .unwrap_or_else(|| vec![Template::plain("index.html")]),
            autoindex: s.autoindex.unwrap_or(false),
            listing: {
                let d = ListingStyle::default();
                ListingStyle {
                    exact_size: s.autoindex_exact_size.unwrap_or(d.exact_size),
                    localtime: s.autoindex_localtime.unwrap_or(d.localtime),
                    format: s.autoindex_format.unwrap_or(d.format),
                }
            },
            charset: s.charset.finish(),
            realip: std::sync::Arc::new(s.realip.finish()),
            auth: std::sync::Arc::new(s.auth.finish(s.access.as_deref().unwrap_or_default())),
            access: s.access.unwrap_or_default(),
            limits: std::sync::Arc::new(s.limits.finish()),
            error_pages: s.error_pages.unwrap_or_default(),
            client_max_body_size: s.client_max_body_size.unwrap_or(DEFAULT_BODY_SIZE),
            allow_methods: s
                .allow_methods
                .unwrap_or_else(|| vec!["GET".into(), "HEAD".into()]),
            ret: None,
            upload_store: s.upload_store,
            cgi: s.cgi.unwrap_or_default(),
            cgi_timeout: s.cgi_timeout.unwrap_or(DEFAULT_CGI_TIMEOUT),
            cgi_path_info: s.cgi_path_info.unwrap_or_default(),
            sendfile: s.sendfile.unwrap_or(true),
            aio: s.aio.unwrap_or(false),
            open_file_cache: {
                let d = OpenFileCache::default();
                let (max, inactive) = s.open_file_cache.unwrap_or((d.max, None));
                OpenFileCache {
                    max,
                    inactive: inactive.unwrap_or(d.inactive),
                    valid: s.open_file_cache_valid.unwrap_or(d.valid),
                }
            },
            default_type: s.default_type.unwrap_or_else(|| DEFAULT_TYPE.into()),
            add_headers: s.add_headers.unwrap_or_default(),
            access_logs: s.access_logs.unwrap_or_default(),
            types: s.types,
            server_tokens: s.server_tokens.unwrap_or(true),
            log_not_found: s.log_not_found.unwrap_or(true),
            keepalive,
            send_timeout: s.send_timeout.unwrap_or(DEFAULT_SEND_TIMEOUT),
            log_file_cache: s.open_log_file_cache.flatten(),
            redirect,
            client_body_temp_path: s.client_body_temp_path,
            underscores_in_headers: s.underscores_in_headers.unwrap_or(false),
            expires: s.expires.as_ref().map(|e| e.0).unwrap_or_default(),
            expires_value: s.expires.and_then(|e| e.1),
            max_ranges: s.max_ranges,
            add_trailers: s.add_trailers.unwrap_or_default(),
            etag: s.etag.unwrap_or(true),
            if_modified_since: s.if_modified_since.unwrap_or_default(),
            compression: s.compression.finish(),
            bodies: s.bodies.finish(),
            dav: s.dav.finish(),
            proxy_pass: s.proxy.pass.clone(),
            proxy: std::sync::Arc::new(s.proxy.finish()),
            fastcgi_pass: s.fastcgi.pass.clone(),
            fastcgi: std::sync::Arc::new(s.fastcgi.finish()),
            noname: false,
            pos: pos.clone(),
        }
    }
}

/// The list this level is building (started on first use).
fn list<T>(slot: &mut Option<Vec<T>>) -> &mut Vec<T> {
    slot.get_or_insert_with(Vec::new)
}

fn list_map<K, V>(slot: &mut Option<HashMap<K, V>>) -> &mut HashMap<K, V> {
    slot.get_or_insert_with(HashMap::new)
}

/// `aio threads|on|off` (`on` means threads: the only kind there is).
fn aio(arg: &Arg) -> Result<bool, ConfigError> {
    match arg.0.as_str() {
        "threads" | "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("\"aio\" takes threads|off, got \"{}\"", arg.0),
        )),
    }
}

/// `cgi_path_info split|full`.
fn cgi_path_info(arg: &Arg) -> Result<CgiPathInfo, ConfigError> {
    match arg.0.as_str() {
        "split" => Ok(CgiPathInfo::Split),
        "full" => Ok(CgiPathInfo::Full),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("\"cgi_path_info\" takes split|full, got \"{}\"", arg.0),
        )),
    }
}

/// `open_file_cache off | max=N [inactive=TIME]` → `(max, inactive)`, max 0 = off.
fn open_file_cache(a: &[Arg]) -> Result<(usize, Option<Duration>), ConfigError> {
    const NAME: &str = "open_file_cache";
    if a[0].0 == "off" {
        return match a.get(1) {
            Some(extra) => Err(ConfigError::at(
                &extra.1,
                format!("\"{NAME} off\" takes no parameters, got \"{}\"", extra.0),
            )),
            None => Ok((0, None)),
        };
    }
    let mut max = None;
    let mut inactive = None;
    for arg in a {
        let value = |v: &str| (v.to_string(), arg.1.clone());
        if let Some(v) = arg.0.strip_prefix("max=") {
            let n = values::number(&value(v), NAME)?;
            max = Some(usize::try_from(n).map_err(|_| size_error(arg, NAME))?);
        } else if let Some(v) = arg.0.strip_prefix("inactive=") {
            inactive = Some(values::time(&value(v), NAME)?);
        } else {
            return Err(ConfigError::at(
                &arg.1,
                format!(
                    "invalid parameter \"{}\" in \"{NAME}\" (off, max=N or inactive=TIME)",
                    arg.0
                ),
            ));
        }
    }
    match max {
        Some(max) => Ok((max, inactive)),
        None => Err(ConfigError::at(
            &a[0].1,
            format!("\"{NAME}\" needs max=N or off"),
        )),
    }
}

fn size_error(arg: &Arg, name: &str) -> ConfigError {
    ConfigError::at(&arg.1, format!("invalid size \"{}\" in \"{name}\"", arg.0))
}

/// `error_page CODE... [=CODE] URI`.
fn error_page(pages: &mut HashMap<u16, ErrorPage>, d: &Directive) -> Result<(), ConfigError> {
    let (uri, rest) = d.args.split_last().ok_or_else(|| arity(d))?;
    let (status_override, codes) = match rest.split_last() {
        Some((last, codes)) if last.0.starts_with('=') => (Some(override_code(last)?), codes),
        _ => (None, rest),
    };
    if codes.is_empty() || uri.0.starts_with('=') {
        return Err(arity(d));
    }
    for code in codes {
        let code = values::status(code, "error_page", 300..=599)?;
        let page = ErrorPage {
            uri: script::template(uri)?,
            status_override,
        };
        pages.insert(code, page);
    }
    Ok(())
}

/// The `=CODE` of an error_page; a bare `=` (0 here) answers with the status of
/// the page's own response.
fn override_code(arg: &Arg) -> Result<u16, ConfigError> {
    if arg.0 == "=" {
        return Ok(0);
    }
    let stripped = (arg.0[1..].to_string(), arg.1.clone());
    values::status(&stripped, "error_page", 100..=599).map_err(|_| {
        ConfigError::at(
            &arg.1,
            format!("invalid status code \"{}\" in \"error_page\"", arg.0),
        )
    })
}

pub fn arity(d: &Directive) -> ConfigError {
    let msg = format!("invalid number of arguments in \"{}\" directive", d.name);
    ConfigError::at(&d.pos, msg)
}

/// `allow_methods METHOD...`, upper-cased, deduplicated, HEAD implied by GET
/// unless `!HEAD` is given (for setups such as the 42 webserv tester, which expect
/// HEAD refused where only GET is allowed).
fn allow_methods(args: &[Arg]) -> Result<Vec<String>, ConfigError> {
    let mut methods: Vec<String> = Vec::new();
    let mut no_head = false;
    for arg in args {
        if arg.0.eq_ignore_ascii_case("!HEAD") {
            no_head = true;
            continue;
        }
        let m = values::method(arg, "allow_methods")?;
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if no_head {
        methods.retain(|m| m != "HEAD");
    } else if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
        methods.push("HEAD".into());
    }
    Ok(methods)
}

/// `cgi EXT [INTERPRETER]`: the extension gets its dot; an interpreter naming a path
/// (it contains `/`) is resolved against the prefix, a bare name is looked up in PATH.
fn cgi(args: &[Arg], prefix: &Path) -> CgiHandler {
    let ext = &args[0].0;
    let ext = if ext.starts_with('.') {
        ext.clone()
    } else {
        format!(".{ext}")
    };
    let interpreter = args.get(1).map(|(p, _)| {
        if p.contains('/') {
            values::resolve(prefix, p)
        } else {
            PathBuf::from(p)
        }
    });
    CgiHandler { ext, interpreter }
}

/// `add_header NAME VALUE [always]`: NAME must be an RFC 9110 token, VALUE one line.
fn add_header(a: &[Arg], directive: &str) -> Result<AddHeader, ConfigError> {
    let (name, value) = (&a[0], &a[1]);
    let always = match a.get(2) {
        None => false,
        Some((s, _)) if s == "always" => true,
        Some((s, pos)) => {
            let msg = format!("invalid parameter \"{s}\" in \"{directive}\"");
            return Err(ConfigError::at(pos, msg));
        }
    };
    // RFC 9110 5.1: field-name = token; tchar excludes separators and controls.
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.0.is_empty() || !name.0.chars().all(tchar) {
        let msg = format!("invalid header name \"{}\" in \"{directive}\"", name.0);
        return Err(ConfigError::at(&name.1, msg));
    }
    if value.0.contains(['\r', '\n']) {
        let msg = format!("invalid header value in \"{directive}\"");
        return Err(ConfigError::at(&value.1, msg));
    }
    Ok(AddHeader {
        name: name.0.clone(),
        value: script::template(value)?,
        always,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;
    use std::sync::Arc;

    /// Applies every directive of `src` to fresh settings, prefix `/p`.
    fn settings(src: &str) -> Result<Settings, String> {
        let dirs = parse_str(src, &Arc::from("t.conf")).unwrap();
        let mut s = Settings::default();
        for d in &dirs {
            s.apply(d, Path::new("/p")).map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    #[test]
    fn paths_resolve_against_prefix() {
        let s = settings("root www2; upload_store /abs/up; access_log logs/a.log;").unwrap();
        assert_eq!(s.root, Some(PathBuf::from("/p/www2")));
        assert_eq!(s.upload_store, Some(PathBuf::from("/abs/up")));
        let logs = s.access_logs.unwrap();
        assert_eq!(logs[0].path, PathBuf::from("/p/logs/a.log"));
        assert_eq!(logs[0].format, "combined");
        let off = settings("access_log a.log; access_log off;").unwrap();
        assert!(off.access_logs.unwrap().is_empty());
    }

    #[test]
    fn lists_accumulate_within_a_level() {
        let s = settings("index a b; index c; add_header X 1; add_header Y 2;").unwrap();
        assert_eq!(s.index.unwrap(), ["a", "b", "c"]);
        assert_eq!(s.add_headers.unwrap().len(), 2);
    }

    #[test]
    fn error_page_forms() {
        let s = settings("error_page 404 500 502 /50x.html; error_page 403 =200 /x;").unwrap();
        let pages = s.error_pages.unwrap();
        assert_eq!(pages[&502].uri.source(), "/50x.html");
        assert_eq!(pages[&404].status_override, None);
        assert_eq!(pages[&403].status_override, Some(200));
        let errs = [
            (
                "error_page 99 /x;",
                "t.conf:1:12: invalid status code \"99\" in \"error_page\"",
            ),
            (
                "error_page 404 =2x /x;",
                "t.conf:1:16: invalid status code \"=2x\" in \"error_page\"",
            ),
            (
                "error_page =200 /x;",
                "t.conf:1:1: invalid number of arguments in \"error_page\" directive",
            ),
            (
                "error_page 404 =200;",
                "t.conf:1:1: invalid number of arguments in \"error_page\" directive",
            ),
        ];
        for (src, want) in errs {
            assert_eq!(settings(src).unwrap_err(), want, "{src}");
        }
    }

    #[test]
    fn allow_methods_get_implies_head() {
        let s = settings("allow_methods get POST GET;").unwrap();
        assert_eq!(s.allow_methods.unwrap(), ["GET", "POST", "HEAD"]);
        let s = settings("allow_methods DELETE;").unwrap();
        assert_eq!(s.allow_methods.unwrap(), ["DELETE"]);
    }

    #[test]
    fn cgi_entries() {
        let s = settings("cgi .py python3; cgi sh bin/sh; cgi .cgi;").unwrap();
        let cgi = s.cgi.unwrap();
        assert_eq!(cgi[0].interpreter, Some(PathBuf::from("python3")));
        assert_eq!(cgi[1].ext, ".sh");
        assert_eq!(cgi[1].interpreter, Some(PathBuf::from("/p/bin/sh")));
        assert_eq!(cgi[2].interpreter, None);
    }

    #[test]
    fn add_header_validation() {
        let err = settings("add_header \"X Y\" 1;").unwrap_err();
        assert_eq!(
            err,
            "t.conf:1:12: invalid header name \"X Y\" in \"add_header\""
        );
        let err = settings("add_header X \"a\\nb\";").unwrap_err();
        assert_eq!(err, "t.conf:1:14: invalid header value in \"add_header\"");
    }

    #[test]
    fn limits() {
        let s =
            settings("client_max_body_size 10k; keepalive_timeout 500ms; keepalive_requests 5;")
                .unwrap();
        assert_eq!(s.client_max_body_size, Some(10240));
        assert_eq!(s.keepalive_timeout, Some(Duration::from_millis(500)));
        assert_eq!(s.keepalive_requests, Some(5));
        let err = settings("keepalive_requests x;").unwrap_err();
        assert_eq!(
            err,
            "t.conf:1:20: invalid number \"x\" in \"keepalive_requests\""
        );
    }

    #[test]
    fn merge_prefers_inner_and_replaces_lists_whole() {
        let outer = settings("root /o; index a b; autoindex on;").unwrap();
        let inner = settings("index c;").unwrap();
        let m = inner.merge(&outer);
        assert_eq!(m.root, Some(PathBuf::from("/o")));
        assert_eq!(m.index.unwrap(), ["c"]);
        assert_eq!(m.autoindex, Some(true));
    }

    #[test]
    fn defaults_when_nothing_set() {
        let pos = Pos {
            file: Arc::from("t"),
            line: 1,
            col: 1,
        };
        let l = Settings::default().to_location("/", LocKind::Prefix, &pos, Path::new("/p"));
        assert_eq!(l.root, PathBuf::from("/p/www"));
        assert_eq!(l.index, ["index.html"]);
        assert_eq!(l.client_max_body_size, 1 << 20);
        assert_eq!(l.allow_methods, ["GET", "HEAD"]);
        assert_eq!(l.cgi_timeout, Duration::from_secs(30));
        assert!(l.sendfile && !l.autoindex);
        assert_eq!(l.default_type, "application/octet-stream");
        assert!(l.access_logs.is_empty());
    }
}
