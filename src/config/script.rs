//! The directives whose values are programs rather than settings: nginx's rewrite
//! module (`rewrite`, `return`, `set`, `break`), `try_files`, location modifiers
//! (`=`, `^~`, `~`, `~*`, `@name`) and `log_format` (`access_log` is in `logs`). Each value is
//! compiled here, once, into patterns and templates (see `crate::vars`).

use super::parser::Directive;
use super::settings::arity;
use super::values::{self, Arg};
use super::{ConfigError, Fallback, LocKind, LogFormat, Op, Return, RewriteFlag, TryFiles};
use crate::vars::{Escape, Pattern, Template, Var};

/// A template from one argument.
pub fn template(arg: &Arg) -> Result<Template, ConfigError> {
    Template::compile(&arg.0, &arg.1)
}

/// `return CODE [URL|TEXT]` or `return URL` (302).
pub fn ret(args: &[Arg]) -> Result<Return, ConfigError> {
    let first = &args[0].0;
    let is_url = ["http://", "https://", "/", "$scheme"]
        .iter()
        .any(|p| first.starts_with(p));
    if args.len() == 1 && is_url {
        return Ok(Return {
            code: 302,
            target: Some(template(&args[0])?),
        });
    }
    let code = values::status(&args[0], "return", 0..=999)?;
    let target = args.get(1).map(template).transpose()?;
    Ok(Return { code, target })
}

/// One rewrite-module directive (`rewrite`, `return`, `set`, `break`).
pub fn op(d: &Directive) -> Result<Op, ConfigError> {
    let a = &d.args;
    Ok(match d.name.as_str() {
        "return" => Op::Return(ret(a)?),
        "break" => Op::Break,
        "set" => {
            let Some(name) = a[0].0.strip_prefix('$').filter(|n| valid_name(n)) else {
                let msg = format!("invalid variable name \"{}\"", a[0].0);
                return Err(ConfigError::at(&a[0].1, msg));
            };
            let var = Var::named(name, &a[0].1);
            // `$limit_rate` has its own setter, as in nginx.
            if !matches!(var, Var::Unlinked(_) | Var::LimitRate) {
                let msg = format!("the built-in variable \"${name}\" cannot be set");
                return Err(ConfigError::at(&a[0].1, msg));
            }
            Op::Set {
                var,
                value: template(&a[1])?,
            }
        }
        _ => rewrite(d)?,
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `rewrite REGEX REPLACEMENT [last|break|redirect|permanent]`.
fn rewrite(d: &Directive) -> Result<Op, ConfigError> {
    let a = &d.args;
    let pattern = Pattern::compile(&a[0].0, false, &a[0].1)?;
    let flag = match a.get(2) {
        None => RewriteFlag::None,
        Some((f, pos)) => match f.as_str() {
            "last" => RewriteFlag::Last,
            "break" => RewriteFlag::Break,
            "redirect" => RewriteFlag::Redirect,
            "permanent" => RewriteFlag::Permanent,
            _ => {
                let msg = format!("invalid parameter \"{f}\" in \"rewrite\"");
                return Err(ConfigError::at(pos, msg));
            }
        },
    };
    Ok(Op::Rewrite {
        pattern: Box::new(pattern),
        replacement: template(&a[1])?,
        flag,
        pos: d.pos.clone(),
    })
}

/// `try_files FILE... URI|=CODE|@name`.
pub fn try_files(d: &Directive) -> Result<TryFiles, ConfigError> {
    let (last, files) = d.args.split_last().ok_or_else(|| arity(d))?;
    let fallback = match last.0.strip_prefix('=') {
        Some(code) => Fallback::Status(values::status(
            &(code.to_string(), last.1.clone()),
            "try_files",
            0..=999,
        )?),
        None => Fallback::Uri(template(last)?),
    };
    Ok(TryFiles {
        files: files.iter().map(template).collect::<Result<_, _>>()?,
        fallback,
    })
}

/// `location [=|^~|~|~*] URI` / `location @name` (also `=URI` and `~RE` glued, as
/// nginx accepts): the kind and the URI as written.
pub fn location_kind(d: &Directive) -> Result<(LocKind, String), ConfigError> {
    let regex = |src: &Arg, caseless| {
        let p = Pattern::compile(&src.0, caseless, &src.1)?;
        Ok((LocKind::Regex(Box::new(p)), src.0.clone()))
    };
    match d.args.as_slice() {
        [(uri, pos)] => {
            if let Some(re) = uri.strip_prefix("~*").filter(|r| !r.is_empty()) {
                return regex(&(re.to_string(), pos.clone()), true);
            }
            if let Some(re) = uri.strip_prefix('~').filter(|r| !r.is_empty()) {
                return regex(&(re.to_string(), pos.clone()), false);
            }
            if uri.starts_with('@') {
                return Ok((LocKind::Named, uri.clone()));
            }
            Ok(match uri.strip_prefix('=') {
                Some(glued) if !glued.is_empty() => (LocKind::Exact, glued.to_string()),
                _ => (LocKind::Prefix, uri.clone()),
            })
        }
        [(m, _), (uri, _)] if m == "=" => Ok((LocKind::Exact, uri.clone())),
        [(m, _), (uri, _)] if m == "^~" => Ok((LocKind::NoRegex, uri.clone())),
        [(m, _), re] if m == "~" => regex(re, false),
        [(m, _), re] if m == "~*" => regex(re, true),
        [(m, pos), _] => {
            let msg = format!("invalid location modifier \"{m}\"");
            Err(ConfigError::at(pos, msg))
        }
        _ => Err(arity(d)),
    }
}

/// `log_format NAME [escape=default|json|none] STRING...` (the strings are joined).
pub fn log_format(d: &Directive) -> Result<LogFormat, ConfigError> {
    let mut args = &d.args[1..];
    let mut escape = Escape::Log;
    if let Some((first, pos)) = args.first()
        && let Some(mode) = first.strip_prefix("escape=")
    {
        escape = match mode {
            "default" => Escape::Log,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => {
                let msg = format!("unknown log format escaping \"{mode}\"");
                return Err(ConfigError::at(pos, msg));
            }
        };
        args = &args[1..];
    }
    let Some(first) = args.first() else {
        return Err(arity(d));
    };
    let text: String = args.iter().map(|(s, _)| s.as_str()).collect();
    Ok(LogFormat {
        name: d.args[0].0.clone(),
        escape,
        template: Template::compile(&text, &first.1)?,
    })
}

/// The `combined` format nginx predefines.
pub fn combined() -> LogFormat {
    const TEXT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                        $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";
    let pos = super::Pos {
        file: "(built in)".into(),
        line: 1,
        col: 1,
    };
    LogFormat {
        name: "combined".into(),
        escape: Escape::Log,
        template: Template::compile(TEXT, &pos).unwrap_or_else(|_| Template::plain(TEXT)),
    }
}
