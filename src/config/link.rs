//! The last pass over a built configuration: every `set` variable and named regex
//! capture is declared (each gets a slot), then every template's variables are
//! linked to their slots, and every `access_log` to its `log_format`. A name that is
//! neither built in nor declared anywhere is an error at its `file:line:col`, as
//! nginx's "unknown variable", even when it is declared later in the file.

use std::sync::Arc;

use super::{Config, ConfigError, Fallback, LocKind, Location, LogFormat, Op, Pos, script};
use crate::vars::computed::Item;
use crate::vars::{self, Names, Template, Var};

/// Declares and links everything in `config`; `formats` are the `log_format`s read.
pub fn link(
    config: &mut Config,
    formats: Vec<(LogFormat, Pos)>,
    computed: Vec<super::map::Definition>,
    zones: &mut super::limits::Zones,
) -> Result<(), ConfigError> {
    let mut names = Names::default();
    let mut table = crate::vars::computed::Computed::default();
    for (i, (name, _, mut item)) in computed.into_iter().enumerate() {
        if let Item::Map(m) = &mut item {
            for (p, _) in &mut m.regexes {
                p.declare(&mut names);
            }
        }
        names.computed.push((name, i as u16));
        table.items.push(item);
    }
    for server in &mut config.servers {
        for re in &server.name_regexes {
            for name in re.regex.capture_names().flatten() {
                names.declare(name);
            }
        }
        declare_ops(&mut server.rewrite, &mut names);
        for loc in &mut server.locations {
            if let LocKind::Regex(p) = &mut loc.kind {
                p.declare(&mut names);
            }
            declare_ops(&mut loc.rewrite, &mut names);
        }
    }
    let mut all: Vec<Arc<LogFormat>> = vec![Arc::new(script::combined())];
    for (mut f, _) in formats {
        link_template(&mut f.template, &names)?;
        all.push(Arc::new(f));
    }
    let mut numbered = all.iter().any(|f| reads_captures(&f.template));
    let mut ssl = all.iter().any(|f| reads_ssl(&f.template));
    for server in &mut config.servers {
        for t in op_templates(&mut server.rewrite) {
            link_template(t, &names)?;
            numbered |= reads_captures(t);
            ssl |= reads_ssl(t);
        }
        for loc in &mut server.locations {
            for t in location_templates(loc) {
                link_template(t, &names)?;
                numbered |= reads_captures(t);
                ssl |= reads_ssl(t);
            }
            for log in &mut loc.access_logs {
                let Some(f) = all
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(&log.format))
                else {
                    let msg = format!("unknown log format \"{}\"", log.format);
                    return Err(ConfigError::at(&log.pos, msg));
                };
                log.compiled = Some(f.clone());
            }
        }
    }
    for server in &mut config.servers {
        for p in patterns(&mut server.rewrite) {
            p.set_numbered(numbered);
        }
        for loc in &mut server.locations {
            if let LocKind::Regex(p) = &mut loc.kind {
                p.set_numbered(numbered);
            }
            for p in patterns(&mut loc.rewrite) {
                p.set_numbered(numbered);
            }
        }
    }
    for item in &mut table.items {
        let templates: Vec<&mut Template> = match item {
            Item::Map(m) => m.templates_mut().collect(),
            Item::Geo(g) => g.source.iter_mut().collect(),
        };
        for t in templates {
            link_template(t, &names)?;
        }
    }
    let table = Arc::new(table);
    for server in &mut config.servers {
        server.computed = table.clone();
    }
    for up in &mut config.upstreams {
        if let super::upstream::Balance::Hash { key, .. } = &mut up.balance {
            link_template(key, &names)?;
        }
    }
    for z in zones.req.iter_mut().chain(zones.conn.iter_mut()) {
        link_template(&mut z.key, &names)?;
    }
    super::logs::check_buffers(&mut config.servers)?;
    config.vars = names.names;
    // A server that verifies client certificates reads the handshake's verdict.
    ssl |= config.servers.iter().any(|s| {
        let mode = s.tls.verify_client;
        mode.is_some_and(|m| m != super::tls::VerifyClient::Off)
    });
    config.ssl_vars = ssl;
    Ok(())
}

fn reads_captures(t: &Template) -> bool {
    t.vars().any(|v| matches!(v, Var::Capture(_)))
}

fn reads_ssl(t: &Template) -> bool {
    t.vars().any(|v| matches!(v, Var::Ssl(_)))
}

fn patterns(ops: &mut [Op]) -> Vec<&mut crate::vars::Pattern> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Rewrite { pattern, .. } => out.push(&mut **pattern),
            Op::If(b) => {
                out.extend(b.cond.pattern_mut());
                out.extend(patterns(&mut b.ops));
            }
            _ => {}
        }
    }
    out
}

fn declare_ops(ops: &mut [Op], names: &mut Names) {
    for op in ops {
        match op {
            Op::Rewrite { pattern, .. } => pattern.declare(names),
            Op::Set { var, .. } => {
                if let Var::Unlinked(b) = var {
                    *var = Var::User(names.declare(&b.0));
                }
            }
            Op::If(b) => {
                if let Some(p) = b.cond.pattern_mut() {
                    p.declare(names);
                }
                declare_ops(&mut b.ops, names);
            }
            Op::Return(_) | Op::Break => {}
        }
    }
}

fn link_template(t: &mut Template, names: &Names) -> Result<(), ConfigError> {
    t.vars_mut().try_for_each(|v| vars::link(v, names))
}

fn op_templates(ops: &mut [Op]) -> Vec<&mut Template> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Rewrite { replacement, .. } => out.push(replacement),
            Op::Return(r) => out.extend(r.target.as_mut()),
            Op::Set { value, .. } => out.push(value),
            Op::If(b) => {
                out.extend(b.cond.templates_mut());
                out.extend(op_templates(&mut b.ops));
            }
            Op::Break => {}
        }
    }
    out
}

/// Every template a location holds.
fn location_templates(loc: &mut Location) -> Vec<&mut Template> {
    let mut out = op_templates(&mut loc.rewrite);
    if let Some(tf) = &mut loc.try_files {
        out.extend(tf.files.iter_mut());
        if let Fallback::Uri(t) = &mut tf.fallback {
            out.push(t);
        }
    }
    out.extend(loc.index.iter_mut());
    out.extend(loc.root_vars.as_mut());
    out.extend(loc.alias_vars.as_mut());
    out.extend(loc.disable_symlinks.as_mut().and_then(|d| d.from.as_mut()));
    out.extend(loc.add_headers.iter_mut().map(|h| &mut h.value));
    out.extend(loc.add_trailers.iter_mut().map(|h| &mut h.value));
    out.extend(loc.expires_value.as_mut());
    out.extend(loc.charset.templates_mut());
    out.extend(loc.error_pages.values_mut().map(|p| &mut p.uri));
    for pass in [&mut loc.proxy_pass, &mut loc.fastcgi_pass]
        .into_iter()
        .flatten()
    {
        out.extend(pass.dynamic.as_mut());
    }
    // Each location's proxy settings are its own until the configuration is shared.
    for settings in [&mut loc.proxy, &mut loc.fastcgi] {
        if let Some(s) = Arc::get_mut(settings) {
            out.extend(super::proxy::Draft::templates(s));
        }
    }
    if let Some(l) = Arc::get_mut(&mut loc.limits) {
        out.extend(l.templates_mut());
    }
    for log in &mut loc.access_logs {
        out.extend(log.condition.as_mut());
        out.extend(log.path_vars.as_mut());
    }
    out
}
