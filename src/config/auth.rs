//! The access phase's directives beyond `allow`/`deny`: nginx's auth_basic module
//! (`auth_basic "REALM" | off;`, `auth_basic_user_file FILE;`, both may hold
//! variables), and the core's `satisfy all | any;`, `auth_delay TIME;` and
//! `limit_except METHOD ... { }`. Each is inherited on its own, as nginx merges
//! them, except `limit_except`, which belongs to its location alone. The block's
//! own `allow`/`deny`/`auth_basic*` inherit from the location around it.
//! The checks themselves are `handler::auth`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, access};
use crate::vars::Template;

/// How `allow`/`deny` and `auth_basic` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Satisfy {
    /// Both must let the request in (the default).
    #[default]
    All,
    /// Either may.
    Any,
}

/// `auth_basic` with its user file, once both are set and the realm is not `off`.
#[derive(Debug, Clone)]
pub struct Basic {
    /// The realm (`off` after expansion turns the check off, as in nginx).
    pub realm: Template,
    /// The htpasswd file: relative paths are resolved against `prefix` (a
    /// literal one when the configuration is read, one from variables when
    /// expanded).
    pub file: Template,
    pub prefix: PathBuf,
}

/// The access-phase settings of a location (or of its `limit_except` block).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub basic: Option<Basic>,
    pub satisfy: Satisfy,
    /// `auth_delay`: how long a 401 waits before it is sent.
    pub delay: Duration,
    /// `limit_except`: the methods it leaves alone, and the rules for the rest.
    pub limit: Option<Box<Limit>>,
}

/// A `limit_except` block as finished: `methods` (upper case; `GET` brings `HEAD`)
/// pass on the location's rules, every other method meets `access` and `basic`,
/// and goes to the block's own `proxy_pass` if it has one.
#[derive(Debug, Clone)]
pub struct Limit {
    pub methods: Vec<String>,
    pub access: Vec<access::Rule>,
    pub basic: Option<Basic>,
    /// Linked to its upstream group when the configuration is built.
    pub proxy_pass: Option<super::proxy::Pass>,
}

impl Limit {
    /// Whether `method` is one the block applies to (not listed).
    pub fn applies(&self, method: &str) -> bool {
        !self.methods.iter().any(|m| m == method)
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `auth_basic`: `Some(None)` for `off`.
    realm: Option<Option<Template>>,
    file: Option<(Template, PathBuf)>,
    satisfy: Option<Satisfy>,
    delay: Option<Duration>,
    /// This location's own `limit_except` (never inherited).
    limit: Option<Box<LimitDraft>>,
}

/// A `limit_except` block while it is read.
#[derive(Debug, Clone)]
pub struct LimitDraft {
    methods: Vec<String>,
    access: Option<Vec<access::Rule>>,
    realm: Option<Option<Template>>,
    file: Option<(Template, PathBuf)>,
    proxy_pass: Option<super::proxy::Pass>,
}

/// nginx's method names (`ngx_methods_names`).
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
];

impl LimitDraft {
    /// The block's methods, from `limit_except`'s arguments.
    pub fn new(d: &Directive) -> Result<LimitDraft, ConfigError> {
        let mut methods = Vec::new();
        for (text, pos) in &d.args {
            let upper = text.to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                return Err(ConfigError::at(pos, format!("invalid method \"{text}\"")));
            }
            methods.push(upper);
        }
        if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
            methods.push("HEAD".into());
        }
        Ok(LimitDraft {
            methods,
            access: None,
            realm: None,
            file: None,
            proxy_pass: None,
        })
    }

    /// One directive of the block (the table allows only access ones there).
    pub fn apply(&mut self, d: &Directive, prefix: &Path) -> Result<(), ConfigError> {
        if access::apply(&mut self.access, d)? {
            return Ok(());
        }
        match d.name.as_str() {
            "auth_basic" => self.realm = Some(realm(&d.args[0])?),
            "auth_basic_user_file" => self.file = Some(user_file(&d.args[0], prefix)?),
            "proxy_pass" => {
                let mut draft = super::proxy::Draft::default();
                draft.apply(d, super::proxy::Protocol::Http, prefix)?;
                if draft.pass.as_ref().is_some_and(|p| p.tls) {
                    let msg =
                        "\"proxy_pass https://\" inside \"limit_except\" is not supported yet";
                    return Err(ConfigError::at(&d.pos, msg));
                }
                self.proxy_pass = draft.pass;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Draft {
    /// This level's values, unset ones taken from `outer`; `limit_except` stays
    /// this level's own.
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            realm: self.realm.clone().or_else(|| outer.realm.clone()),
            file: self.file.clone().or_else(|| outer.file.clone()),
            satisfy: self.satisfy.or(outer.satisfy),
            delay: self.delay.or(outer.delay),
            limit: self.limit.clone(),
        }
    }

    /// Records `d` if it is one of ours; `false` otherwise.
    pub fn apply(&mut self, d: &Directive, prefix: &Path) -> Result<bool, ConfigError> {
        let a = &d.args;
        match d.name.as_str() {
            "auth_basic" => self.realm = Some(realm(&a[0])?),
            "auth_basic_user_file" => self.file = Some(user_file(&a[0], prefix)?),
            "satisfy" => {
                self.satisfy = Some(match a[0].0.as_str() {
                    "all" => Satisfy::All,
                    "any" => Satisfy::Any,
                    other => {
                        let msg = format!(
                            "invalid value \"{other}\" in \"satisfy\" directive, it must be \"all\" or \"any\""
                        );
                        return Err(ConfigError::at(&a[0].1, msg));
                    }
                })
            }
            "auth_delay" => self.delay = Some(values::time(&a[0], "auth_delay")?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Takes this location's `limit_except` block (one per location).
    pub fn set_limit(&mut self, limit: LimitDraft, d: &Directive) -> Result<(), ConfigError> {
        if self.limit.is_some() {
            return Err(ConfigError::at(&d.pos, "\"limit_except\" is duplicate"));
        }
        self.limit = Some(Box::new(limit));
        Ok(())
    }

    /// The finished settings; `access` is the location's own `allow`/`deny`
    /// list, which a `limit_except` block without rules inherits.
    pub fn finish(&self, access: &[access::Rule]) -> Auth {
        let limit = self.limit.as_ref().map(|l| {
            let realm = l.realm.clone().or_else(|| self.realm.clone());
            let file = l.file.clone().or_else(|| self.file.clone());
            Box::new(Limit {
                methods: l.methods.clone(),
                access: l.access.clone().unwrap_or_else(|| access.to_vec()),
                basic: basic(realm, file),
                proxy_pass: l.proxy_pass.clone(),
            })
        });
        Auth {
            basic: basic(self.realm.clone(), self.file.clone()),
            satisfy: self.satisfy.unwrap_or_default(),
            delay: self.delay.unwrap_or(Duration::ZERO),
            limit,
        }
    }
}

/// The check is on when a realm other than `off` and a file are both set.
fn basic(realm: Option<Option<Template>>, file: Option<(Template, PathBuf)>) -> Option<Basic> {
    let (file, prefix) = file?;
    Some(Basic {
        realm: realm.flatten()?,
        file,
        prefix,
    })
}

/// `auth_basic`'s argument: `off`, or the realm (which may hold variables).
fn realm(arg: &Arg) -> Result<Option<Template>, ConfigError> {
    let (text, pos) = arg;
    if text == "off" {
        return Ok(None);
    }
    Template::compile(text, pos).map(Some)
}

/// `auth_basic_user_file`'s argument: a path, relative to the prefix.
fn user_file(arg: &Arg, prefix: &Path) -> Result<(Template, PathBuf), ConfigError> {
    let (text, pos) = arg;
    let t = if text.starts_with('/') || text.starts_with('$') {
        Template::compile(text, pos)?
    } else {
        let path = values::resolve(prefix, text);
        Template::compile(&path.to_string_lossy(), pos)?
    };
    Ok((t, prefix.to_path_buf()))
}

impl Auth {
    /// The directives as `-T` writes them.
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(b) = &self.basic {
            v.push(format!("auth_basic \"{}\"", b.realm.source()));
            v.push(format!("auth_basic_user_file {}", b.file.source()));
        }
        if self.satisfy == Satisfy::Any {
            v.push("satisfy any".into());
        }
        if let Some(l) = &self.limit {
            v.push(format!("limit_except {} {{ ... }}", l.methods.join(" ")));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn dir(name: &str, args: &[&str]) -> Directive {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        Directive {
            name: name.into(),
            args: args.iter().map(|a| (a.to_string(), pos.clone())).collect(),
            pos,
            block: None,
        }
    }

    fn level(lines: &[(&str, &[&str])]) -> Draft {
        let mut d = Draft::default();
        for (name, args) in lines {
            assert!(d.apply(&dir(name, args), Path::new("/p")).expect("valid"));
        }
        d
    }

    #[test]
    fn inherits_each_directive_on_its_own() {
        let outer = level(&[("auth_basic", &["R"]), ("satisfy", &["any"])]);
        let inner = level(&[("auth_basic_user_file", &["conf/htpasswd"])]);
        let a = inner.merge(&outer).finish(&[]);
        let b = a.basic.expect("on");
        assert_eq!(b.realm.source(), "R");
        assert_eq!(b.file.source(), "/p/conf/htpasswd");
        assert_eq!(a.satisfy, Satisfy::Any);
        let off = level(&[("auth_basic", &["off"])]).merge(&inner.merge(&outer));
        assert!(off.finish(&[]).basic.is_none());
        // A realm without a file is no check.
        assert!(outer.finish(&[]).basic.is_none());
    }

    #[test]
    fn limit_except_methods() {
        let l = LimitDraft::new(&dir("limit_except", &["get", "POST"])).expect("valid");
        let mut d = Draft::default();
        d.set_limit(l.clone(), &dir("limit_except", &["GET"]))
            .expect("first");
        let fin = d.finish(&[]).limit.expect("limit");
        for (m, applies) in [
            ("GET", false),
            ("HEAD", false),
            ("POST", false),
            ("PUT", true),
        ] {
            assert_eq!(fin.applies(m), applies, "{m}");
        }
        let head = LimitDraft::new(&dir("limit_except", &["HEAD"])).expect("valid");
        assert!(head.methods == ["HEAD"]);
        let err = LimitDraft::new(&dir("limit_except", &["FETCH"])).expect_err("bad");
        assert!(err.msg.contains("invalid method \"FETCH\""), "{}", err.msg);
        let dup = d.set_limit(l, &dir("limit_except", &["GET"]));
        assert!(dup.is_err());
        // The location's own limit is not inherited.
        assert!(Draft::default().merge(&d).limit.is_none());
    }

    #[test]
    fn bad_satisfy() {
        let mut d = Draft::default();
        let err = d
            .apply(&dir("satisfy", &["some"]), Path::new("/"))
            .expect_err("bad");
        assert!(err.msg.contains("\"some\""), "{}", err.msg);
    }
}
