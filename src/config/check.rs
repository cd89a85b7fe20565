//! The meaning pass, part one: walks the directive tree, checks every directive against
//! the [table](super::directives) (known, allowed in this context, `{` or `;`, number
//! of arguments, not repeated), parses its values and records them per level in
//! drafts. Inheritance and cross-server checks happen afterwards, in `build`, once
//! every level is complete (nginx also merges only after reading the whole file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::compat;
use super::directives::{self, Ctx, Spec};
use super::parser::Directive;
use super::server_names::NameRegex;
use super::settings::{Settings, arity};
use super::tls::{self, TlsSettings};
use super::values::{self, Arg};
use super::{ConfigError, ErrorLog, Listen, LocKind, LogFormat, Op, Pos, TryFiles, script};
use crate::vars::Template;

/// Everything read from the main level (and the optional `http` block).
#[derive(Debug, Default)]
pub struct MainDraft {
    pub worker_processes: Option<usize>,
    pub worker_connections: Option<usize>,
    pub pid: Option<PathBuf>,
    pub error_log: Option<ErrorLog>,
    pub worker_rlimit_nofile: Option<u64>,
    /// Settings written at the top level.
    pub main: Settings,
    /// Settings written inside `http { }` (they inherit from `main`).
    pub http: Settings,
    /// `ssl_*` written at the top level and inside `http { }`.
    pub main_tls: TlsSettings,
    pub http_tls: TlsSettings,
    pub servers: Vec<ServerDraft>,
    /// `log_format` definitions, in order.
    pub log_formats: Vec<(LogFormat, Pos)>,
    /// `upstream` blocks, in order.
    pub upstreams: Vec<super::upstream::Upstream>,
    /// `charset_map` blocks (main level and `http { }`).
    pub charset_maps: super::charset_map::CharsetMaps,
    /// `map` and `geo` variables, in order.
    pub computed: Vec<super::map::Definition>,
    /// `limit_req_zone` and `limit_conn_zone` definitions.
    pub limit_zones: super::limits::Zones,
}

/// A `server { }` block as written.
#[derive(Debug)]
pub struct ServerDraft {
    /// Inside `http { }` (inherits http settings) or at top level (main only).
    pub in_http: bool,
    pub settings: Settings,
    pub tls: TlsSettings,
    pub listen: Vec<Listen>,
    /// `server_name` arguments, lower-cased (regexes as written), with positions
    /// for conflict errors.
    pub names: Vec<Arg>,
    /// Server-level rewrite-module directives, in order.
    pub ops: Vec<Op>,
    /// A server-level `try_files` (it applies where no location is declared).
    pub try_files: Option<TryFiles>,
    /// The `~regex` names, compiled, in order.
    pub regexes: Vec<NameRegex>,
    pub locations: Vec<LocationDraft>,
    pub pos: Pos,
}

/// A `location` block as written.
#[derive(Debug)]
pub struct LocationDraft {
    pub path: String,
    pub kind: LocKind,
    pub settings: Settings,
    pub alias: Option<PathBuf>,
    /// `alias` when it contains variables.
    pub alias_vars: Option<Template>,
    pub ops: Vec<Op>,
    pub try_files: Option<TryFiles>,
    pub internal: bool,
    /// `stub_status` / `metrics`.
    pub status_page: Option<super::model::StatusPage>,
    /// Nested locations.
    pub children: Vec<LocationDraft>,
    /// The settings of each `if` block, in order (`IfBlock::location` counts
    /// them until `build` gives them their places).
    pub ifs: Vec<Settings>,
    pub pos: Pos,
}

impl LocationDraft {
    /// Two locations that would match the same requests in the same way.
    fn same_as(&self, other: &LocationDraft) -> bool {
        let kind = |k: &LocKind| match k {
            LocKind::Prefix | LocKind::NoRegex => 0,
            LocKind::Exact => 1,
            LocKind::Regex(p) if p.caseless() => 2,
            LocKind::Regex(_) => 3,
            LocKind::Named => 4,
        };
        self.path == other.path && kind(&self.kind) == kind(&other.kind)
    }
}

/// Checks the whole tree; relative paths resolve against `prefix`.
pub fn check(tree: &[Directive], prefix: &Path) -> Result<MainDraft, ConfigError> {
    let mut draft = MainDraft::default();
    each(tree, Ctx::Main, |d| main_directive(&mut draft, d, prefix))?;
    Ok(draft)
}

/// Validates each directive of a block against the table, then hands it to `f`.
fn each(
    dirs: &[Directive],
    ctx: Ctx,
    mut f: impl FnMut(&Directive) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for d in dirs {
        let spec = validate(d, ctx)?;
        if !spec.repeat && !seen.insert(spec.name) {
            return Err(ConfigError::at(
                &d.pos,
                format!("\"{}\" is duplicate", d.name),
            ));
        }
        f(d)?;
    }
    Ok(())
}

/// Known, allowed in `ctx`, right terminator, right number of arguments.
fn validate(d: &Directive, ctx: Ctx) -> Result<&'static Spec, ConfigError> {
    let name = d.name.as_str();
    let Some(spec) = directives::lookup_in(name, ctx) else {
        let msg = super::unsupported::message(name).unwrap_or_else(|| unknown(name));
        return Err(ConfigError::at(&d.pos, msg));
    };
    if !spec.allowed_in(ctx) {
        let msg = format!("\"{name}\" is not allowed in {ctx} context");
        return Err(ConfigError::at(&d.pos, msg));
    }
    let msg = match (spec.block, d.block.is_some()) {
        (true, false) => format!("directive \"{name}\" has no opening \"{{\""),
        (false, true) => format!("directive \"{name}\" is not terminated by \";\""),
        _ if !spec.arity_ok(d.args.len()) => return Err(arity(d)),
        _ => return no_variables(d).map(|()| spec),
    };
    Err(ConfigError::at(&d.pos, msg))
}

/// Directives whose values are taken literally: a `$` there would silently mean a
/// dollar sign where nginx would expand a variable, so it is an error instead.
const LITERAL_ONLY: &[&str] = &["upload_store", "error_log", "pid", "default_type", "cgi"];

fn no_variables(d: &Directive) -> Result<(), ConfigError> {
    let literal = match d.name.as_str() {
        name if LITERAL_ONLY.contains(&name) => &d.args[..],
        _ => &[],
    };
    match literal.iter().find(|(a, _)| a.contains('$')) {
        Some((_, pos)) => {
            let msg = format!("variables are not supported in \"{}\"", d.name);
            Err(ConfigError::at(pos, msg))
        }
        None => Ok(()),
    }
}

/// "unknown directive", with the closest known name when one is near.
fn unknown(name: &str) -> String {
    match directives::suggest(name) {
        Some(s) => format!("unknown directive \"{name}\" (did you mean \"{s}\"?)"),
        None => format!("unknown directive \"{name}\""),
    }
}

fn main_directive(draft: &mut MainDraft, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
    match d.name.as_str() {
        "worker_processes" => draft.worker_processes = Some(values::worker_processes(&d.args[0])?),
        "worker_connections" => compat::events_directive(d, &mut draft.worker_connections)?,
        "events" => each(block_of(d), Ctx::Events, |d| {
            compat::events_directive(d, &mut draft.worker_connections)
        })?,
        "pid" => draft.pid = Some(values::resolve(prefix, &d.args[0].0)),
        "worker_rlimit_nofile" => {
            draft.worker_rlimit_nofile = Some(values::number(&d.args[0], "worker_rlimit_nofile")?)
        }
        name if compat::PROCESS.contains(&name) => compat::process_directive(d)?,
        "http" => each(block_of(d), Ctx::Http, |d| http_directive(draft, d, prefix))?,
        _ => top_directive(draft, d, prefix, false)?,
    }
    Ok(())
}

fn http_directive(draft: &mut MainDraft, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
    top_directive(draft, d, prefix, true)
}

/// Directives shared by the main level and `http { }`.
fn top_directive(
    draft: &mut MainDraft,
    d: &Directive,
    prefix: &Path,
    in_http: bool,
) -> Result<(), ConfigError> {
    match d.name.as_str() {
        "error_log" => draft.error_log = Some(error_log(&d.args, prefix)?),
        "server" => draft.servers.push(server(d, prefix, in_http)?),
        "upstream" => {
            each(block_of(d), Ctx::Upstream, |_| Ok(()))?;
            let up = super::upstream::block(d, block_of(d))?;
            if draft.upstreams.iter().any(|u| u.name == up.name) {
                let msg = format!("duplicate upstream \"{}\"", up.name);
                return Err(ConfigError::at(&d.args[0].1, msg));
            }
            draft.upstreams.push(up);
        }
        name if tls::DIRECTIVES.contains(&name) => {
            let level = if in_http {
                &mut draft.http_tls
            } else {
                &mut draft.main_tls
            };
            level.apply(name, &d.args, prefix)?;
        }
        "charset_map" => draft.charset_maps.add(d)?,
        "map" | "geo" => {
            let def = match d.name.as_str() {
                "map" => super::map::map(d)?,
                _ => super::map::geo(d)?,
            };
            if draft.computed.iter().any(|(n, _, _)| *n == def.0) {
                let msg = format!("the duplicate \"{}\" variable", def.0);
                return Err(ConfigError::at(&d.pos, msg));
            }
            draft.computed.push(def);
        }
        _ if super::limits::zone(&mut draft.limit_zones, d)? => {}
        "map_hash_max_size" | "map_hash_bucket_size" => {
            values::number(&d.args[0], &d.name)?;
        }
        "log_format" => {
            let f = script::log_format(d)?;
            if f.name == "combined" || draft.log_formats.iter().any(|(g, _)| g.name == f.name) {
                let msg = format!("duplicate \"log_format\" name \"{}\"", f.name);
                return Err(ConfigError::at(&d.args[0].1, msg));
            }
            draft.log_formats.push((f, d.pos.clone()));
        }
        _ if in_http => draft.http.apply(d, prefix)?,
        _ => draft.main.apply(d, prefix)?,
    }
    Ok(())
}

fn block_of(d: &Directive) -> &[Directive] {
    d.block.as_deref().unwrap_or_default()
}

/// `error_log PATH|stderr [LEVEL]`; the level defaults to `error`, as in nginx.
pub(crate) fn error_log(args: &[Arg], prefix: &Path) -> Result<ErrorLog, ConfigError> {
    let path = (args[0].0 != "stderr").then(|| values::resolve(prefix, &args[0].0));
    let level = match args.get(1) {
        Some(arg) => values::log_level(arg)?,
        None => log::LevelFilter::Error,
    };
    Ok(ErrorLog { path, level })
}

/// A `server { }` block.
fn server(d: &Directive, prefix: &Path, in_http: bool) -> Result<ServerDraft, ConfigError> {
    let mut s = ServerDraft {
        in_http,
        settings: Settings::default(),
        tls: TlsSettings::default(),
        listen: Vec::new(),
        names: Vec::new(),
        ops: Vec::new(),
        try_files: None,
        regexes: Vec::new(),
        locations: Vec::new(),
        pos: d.pos.clone(),
    };
    each(block_of(d), Ctx::Server, |d| {
        server_directive(&mut s, d, prefix)
    })?;
    if s.listen.is_empty() {
        let msg = "\"listen\" directive is missing in server block";
        return Err(ConfigError::at(&s.pos, msg));
    }
    Ok(s)
}

fn server_directive(s: &mut ServerDraft, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
    match d.name.as_str() {
        "listen" => {
            for addr in values::listen_addrs(&d.args[0])? {
                let l = listen(d, addr, &s.listen)?;
                s.listen.push(l);
            }
        }
        "server_name" => super::server_names::add(&mut s.names, &mut s.regexes, &d.args)?,
        "return" | "rewrite" | "set" | "break" => s.ops.push(script::op(d)?),
        "if" => s.ops.push(server_if(d)?),
        "try_files" => s.try_files = Some(script::try_files(d)?),
        name if tls::DIRECTIVES.contains(&name) => s.tls.apply(name, &d.args, prefix)?,
        "location" => add_location(&mut s.locations, location(d, prefix, None)?, d)?,
        _ => s.settings.apply(d, prefix)?,
    }
    Ok(())
}

/// `if (...) { }` in a server: rewrite directives only (nginx's SIF context).
fn server_if(d: &Directive) -> Result<Op, ConfigError> {
    let mut ops = Vec::new();
    each(block_of(d), Ctx::ServerIf, |d| match d.name.as_str() {
        "return" | "rewrite" | "set" | "break" => {
            ops.push(script::op(d)?);
            Ok(())
        }
        // `rewrite_log`, `uninitialized_variable_warn`: checked, no effect.
        _ => Settings::default().apply(d, Path::new("/")),
    })?;
    if_op(d, ops, None)
}

fn if_op(d: &Directive, ops: Vec<Op>, location: Option<usize>) -> Result<Op, ConfigError> {
    Ok(Op::If(Box::new(super::cond::IfBlock {
        cond: super::cond::condition(d)?,
        ops,
        location,
        pos: d.pos.clone(),
    })))
}

/// `listen ADDR [PARAMETER...]` (see `listen::params`); the same address twice in
/// one server is an error.
/// One address of a `listen` (a port range gives several).
fn listen(
    d: &Directive,
    addr: std::net::SocketAddr,
    earlier: &[Listen],
) -> Result<Listen, ConfigError> {
    let pos = &d.args[0].1;
    let params = super::listen::params(&d.args[1..], addr)?;
    if earlier.iter().any(|l| l.addr == addr) {
        let msg = format!("a duplicate listen {addr}");
        return Err(ConfigError::at(pos, msg));
    }
    Ok(Listen {
        addr,
        default_server: params.default_server,
        options: params.options,
        ssl: params.ssl,
        proxy_protocol: params.proxy_protocol,
        http2: params.http2,
        pos: pos.clone(),
    })
}

/// Adds a location to its level, refusing a duplicate.
fn add_location(
    level: &mut Vec<LocationDraft>,
    loc: LocationDraft,
    d: &Directive,
) -> Result<(), ConfigError> {
    if level.iter().any(|l| l.same_as(&loc)) {
        let msg = format!("duplicate location \"{}\"", loc.path);
        return Err(ConfigError::at(&d.pos, msg));
    }
    level.push(loc);
    Ok(())
}

/// `location [=|^~|~|~*] URI { }` or `location @name { }`; `parent` is the enclosing
/// location of a nested one.
fn location(
    d: &Directive,
    prefix: &Path,
    parent: Option<&LocationDraft>,
) -> Result<LocationDraft, ConfigError> {
    let (kind, path) = script::location_kind(d)?;
    if let Some(parent) = parent {
        nesting_allowed(parent, &kind, &path, d)?;
    }
    let mut loc = LocationDraft {
        path,
        kind,
        settings: Settings::default(),
        alias: None,
        alias_vars: None,
        ops: Vec::new(),
        try_files: None,
        internal: false,
        status_page: None,
        children: Vec::new(),
        ifs: Vec::new(),
        pos: d.pos.clone(),
    };
    each(block_of(d), Ctx::Location, |d| {
        location_directive(&mut loc, d, prefix)
    })?;
    Ok(loc)
}

/// nginx's rules for nested locations.
fn nesting_allowed(
    parent: &LocationDraft,
    kind: &LocKind,
    path: &str,
    d: &Directive,
) -> Result<(), ConfigError> {
    let outer = &parent.path;
    let msg = match (&parent.kind, kind) {
        (LocKind::Exact, _) => {
            format!("location \"{path}\" cannot be inside the exact location \"{outer}\"")
        }
        (LocKind::Named, _) => {
            format!("location \"{path}\" cannot be inside the named location \"{outer}\"")
        }
        (_, LocKind::Named) => format!("named location \"{path}\" can be on the server level only"),
        (
            LocKind::Prefix | LocKind::NoRegex,
            LocKind::Prefix | LocKind::NoRegex | LocKind::Exact,
        ) if !path.starts_with(outer.as_str()) => {
            format!("location \"{path}\" is outside location \"{outer}\"")
        }
        _ => return Ok(()),
    };
    Err(ConfigError::at(&d.pos, msg))
}

/// `stub_status [on]` or `metrics`.
fn status_page(d: &Directive) -> Result<super::model::StatusPage, ConfigError> {
    use super::model::StatusPage;
    if let Some((arg, pos)) = d.args.first()
        && arg != "on"
    {
        let msg = format!("invalid parameter \"{arg}\" in \"{}\" directive", d.name);
        return Err(ConfigError::at(pos, msg));
    }
    Ok(match d.name.as_str() {
        "metrics" => StatusPage::Prometheus,
        _ => StatusPage::Stub,
    })
}

fn location_directive(
    loc: &mut LocationDraft,
    d: &Directive,
    prefix: &Path,
) -> Result<(), ConfigError> {
    let root_alias_clash = match d.name.as_str() {
        "alias" => loc.settings.root.is_some().then_some("root"),
        "root" => loc.alias.is_some().then_some("alias"),
        _ => None,
    };
    if let Some(earlier) = root_alias_clash {
        let msg = format!(
            "\"{}\" directive is duplicate, \"{earlier}\" directive was specified earlier",
            d.name
        );
        return Err(ConfigError::at(&d.pos, msg));
    }
    match d.name.as_str() {
        "alias" => {
            let path = values::resolve(prefix, &d.args[0].0);
            loc.alias_vars = Settings::path_vars(&path, &d.args[0].1)?;
            loc.alias = Some(path);
        }
        "return" | "rewrite" | "set" | "break" => loc.ops.push(script::op(d)?),
        "if" => {
            let mut settings = Settings::default();
            let mut ops = Vec::new();
            each(block_of(d), Ctx::LocationIf, |d| match d.name.as_str() {
                "return" | "rewrite" | "set" | "break" => {
                    ops.push(script::op(d)?);
                    Ok(())
                }
                _ => settings.apply(d, prefix),
            })?;
            loc.ops.push(if_op(d, ops, Some(loc.ifs.len()))?);
            loc.ifs.push(settings);
        }
        "try_files" => loc.try_files = Some(script::try_files(d)?),
        "internal" => loc.internal = true,
        "stub_status" | "metrics" => loc.status_page = Some(status_page(d)?),
        "limit_except" => {
            let mut limit = super::auth::LimitDraft::new(d)?;
            each(block_of(d), Ctx::LimitExcept, |d| limit.apply(d, prefix))?;
            loc.settings.auth.set_limit(limit, d)?;
        }
        "location" => {
            let child = location(d, prefix, Some(loc))?;
            add_location(&mut loc.children, child, d)?;
        }
        _ => loc.settings.apply(d, prefix)?,
    }
    Ok(())
}
