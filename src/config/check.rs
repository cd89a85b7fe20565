//! The meaning pass, part one: walks the directive tree, checks every directive against
//! the [table](super::directives) (known, allowed in this context, `{` or `;`, number
//! of arguments, not repeated), parses its values and records them per level in
//! drafts. Inheritance and cross-server checks happen afterwards, in `build`, once
//! every level is complete (nginx also merges only after reading the whole file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::directives::{self, Ctx, Spec};
use super::parser::Directive;
use super::settings::{Settings, arity};
use super::tls::{self, TlsSettings};
use super::values::{self, Arg};
use super::{ConfigError, ErrorLog, Listen, Pos, Return};

/// Everything read from the main level (and the optional `http` block).
#[derive(Debug, Default)]
pub struct MainDraft {
    pub worker_processes: Option<usize>,
    pub worker_connections: Option<usize>,
    pub pid: Option<PathBuf>,
    pub error_log: Option<ErrorLog>,
    /// Settings written at the top level.
    pub main: Settings,
    /// Settings written inside `http { }` (they inherit from `main`).
    pub http: Settings,
    /// `ssl_*` written at the top level and inside `http { }`.
    pub main_tls: TlsSettings,
    pub http_tls: TlsSettings,
    pub servers: Vec<ServerDraft>,
}

/// A `server { }` block as written.
#[derive(Debug)]
pub struct ServerDraft {
    /// Inside `http { }` (inherits http settings) or at top level (main only).
    pub in_http: bool,
    pub settings: Settings,
    pub tls: TlsSettings,
    pub listen: Vec<Listen>,
    /// `server_name` arguments, lower-cased, with positions for conflict errors.
    pub names: Vec<Arg>,
    pub ret: Option<Return>,
    pub locations: Vec<LocationDraft>,
    pub pos: Pos,
}

/// A `location` block as written.
#[derive(Debug)]
pub struct LocationDraft {
    pub path: String,
    pub exact: bool,
    pub settings: Settings,
    pub alias: Option<PathBuf>,
    pub ret: Option<Return>,
    pub pos: Pos,
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
    let Some(spec) = directives::lookup(name) else {
        let msg = match directives::suggest(name) {
            Some(s) => format!("unknown directive \"{name}\" (did you mean \"{s}\"?)"),
            None => format!("unknown directive \"{name}\""),
        };
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
        _ => return Ok(spec),
    };
    Err(ConfigError::at(&d.pos, msg))
}

fn main_directive(draft: &mut MainDraft, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
    match d.name.as_str() {
        "worker_processes" => draft.worker_processes = Some(values::worker_processes(&d.args[0])?),
        "worker_connections" => {
            let n = values::number(&d.args[0], "worker_connections")?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            draft.worker_connections = Some(n);
        }
        "pid" => draft.pid = Some(values::resolve(prefix, &d.args[0].0)),
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
        name if tls::DIRECTIVES.contains(&name) => {
            let level = if in_http {
                &mut draft.http_tls
            } else {
                &mut draft.main_tls
            };
            level.apply(name, &d.args, prefix)?;
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
fn error_log(args: &[Arg], prefix: &Path) -> Result<ErrorLog, ConfigError> {
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
        ret: None,
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
        "listen" => s.listen.push(listen(d, &s.listen)?),
        "server_name" => s
            .names
            .extend(d.args.iter().map(|(n, p)| (n.to_lowercase(), p.clone()))),
        "return" => s.ret = Some(ret(&d.args)?),
        name if tls::DIRECTIVES.contains(&name) => s.tls.apply(name, &d.args, prefix)?,
        "location" => {
            let loc = location(d, prefix)?;
            if s.locations
                .iter()
                .any(|l| l.path == loc.path && l.exact == loc.exact)
            {
                let msg = format!("duplicate location \"{}\"", loc.path);
                return Err(ConfigError::at(&d.pos, msg));
            }
            s.locations.push(loc);
        }
        _ => s.settings.apply(d, prefix)?,
    }
    Ok(())
}

/// `listen ADDR [default_server] [ssl]`; the same address twice in one server is
/// an error.
fn listen(d: &Directive, earlier: &[Listen]) -> Result<Listen, ConfigError> {
    let pos = &d.args[0].1;
    let addr = values::listen_addr(&d.args[0])?;
    let (mut default_server, mut ssl) = (false, false);
    for (flag, flag_pos) in &d.args[1..] {
        let slot = match flag.as_str() {
            "default_server" => &mut default_server,
            "ssl" => &mut ssl,
            _ => {
                let msg = format!("invalid parameter \"{flag}\" in \"listen\"");
                return Err(ConfigError::at(flag_pos, msg));
            }
        };
        if std::mem::replace(slot, true) {
            let msg = format!("duplicate parameter \"{flag}\" in \"listen\"");
            return Err(ConfigError::at(flag_pos, msg));
        }
    }
    if earlier.iter().any(|l| l.addr == addr) {
        let msg = format!("a duplicate listen {addr}");
        return Err(ConfigError::at(pos, msg));
    }
    Ok(Listen {
        addr,
        default_server,
        ssl,
        pos: pos.clone(),
    })
}

/// `return CODE [URL|TEXT]` or `return URL` (302).
fn ret(args: &[Arg]) -> Result<Return, ConfigError> {
    let first = &args[0].0;
    let is_url = ["http://", "https://", "/"]
        .iter()
        .any(|p| first.starts_with(p));
    if args.len() == 1 && is_url {
        return Ok(Return {
            code: 302,
            target: Some(first.clone()),
        });
    }
    let code = values::status(&args[0], "return", 100..=599)?;
    let target = args.get(1).map(|(t, _)| t.clone());
    Ok(Return { code, target })
}

/// `location [=|^~] URI { }` (also `=URI` glued, as nginx accepts).
fn location(d: &Directive, prefix: &Path) -> Result<LocationDraft, ConfigError> {
    let (exact, path) = location_path(d)?;
    let mut loc = LocationDraft {
        path,
        exact,
        settings: Settings::default(),
        alias: None,
        ret: None,
        pos: d.pos.clone(),
    };
    each(block_of(d), Ctx::Location, |d| {
        location_directive(&mut loc, d, prefix)
    })?;
    Ok(loc)
}

fn location_path(d: &Directive) -> Result<(bool, String), ConfigError> {
    match d.args.as_slice() {
        [(uri, _)] => Ok(match uri.strip_prefix('=') {
            Some(glued) if !glued.is_empty() => (true, glued.to_string()),
            _ => (false, uri.clone()),
        }),
        [(m, _), (uri, _)] if m == "=" => Ok((true, uri.clone())),
        [(m, _), (uri, _)] if m == "^~" => Ok((false, uri.clone())),
        [(m, pos), _] => {
            let msg = format!("invalid location modifier \"{m}\"");
            Err(ConfigError::at(pos, msg))
        }
        _ => Err(arity(d)),
    }
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
        "alias" => loc.alias = Some(values::resolve(prefix, &d.args[0].0)),
        "return" => loc.ret = Some(ret(&d.args)?),
        _ => loc.settings.apply(d, prefix)?,
    }
    Ok(())
}
