//! FastCGI's own directives: `fastcgi_pass ADDRESS`, `fastcgi_param`,
//! `fastcgi_index`, `fastcgi_split_path_info`, `fastcgi_keep_conn` and
//! `fastcgi_catch_stderr`. The
//! settings FastCGI shares with the reverse proxy (timeouts, next upstream,
//! hide/pass headers, intercept errors...) are the proxy's [`Draft`] under the
//! `fastcgi_` prefix (see `proxy::Draft::apply`).
//!
//! [`Draft`]: super::proxy::Draft

use regex::Regex;

use super::parser::Directive;
use super::proxy::{Pass, proxy_host};
use super::values::{self, Arg};
use super::{ConfigError, Pos};
use crate::vars::Template;

/// `fastcgi_param NAME VALUE [if_not_empty]`.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub value: Template,
    /// `if_not_empty`: the parameter is left out when its value is empty.
    pub if_not_empty: bool,
}

/// A location's FastCGI-only settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `fastcgi_param`, in order (a level with any replaces the inherited list).
    pub params: Vec<Param>,
    /// `fastcgi_index`: appended to `$fastcgi_script_name` for a URI ending in `/`.
    pub index: Option<String>,
    /// `fastcgi_split_path_info`: capture 1 is the script name, 2 the path info.
    pub split_path_info: Option<Regex>,
    /// `fastcgi_keep_conn on`: ask the application to keep the connection.
    pub keep_conn: bool,
    /// `fastcgi_catch_stderr`: stderr text that makes the answer a failure (while
    /// the header is read), tried on the next server as an invalid header.
    pub catch_stderr: Vec<String>,
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    params: Option<Vec<Param>>,
    index: Option<String>,
    split_path_info: Option<Regex>,
    keep_conn: Option<bool>,
    catch_stderr: Option<Vec<String>>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            params: self.params.clone().or_else(|| outer.params.clone()),
            index: self.index.clone().or_else(|| outer.index.clone()),
            split_path_info: (self.split_path_info.clone())
                .or_else(|| outer.split_path_info.clone()),
            keep_conn: self.keep_conn.or(outer.keep_conn),
            catch_stderr: (self.catch_stderr.clone()).or_else(|| outer.catch_stderr.clone()),
        }
    }

    pub fn finish(&self) -> Settings {
        Settings {
            params: self.params.clone().unwrap_or_default(),
            index: self.index.clone(),
            split_path_info: self.split_path_info.clone(),
            keep_conn: self.keep_conn.unwrap_or(false),
            catch_stderr: self.catch_stderr.clone().unwrap_or_default(),
        }
    }

    /// Records one of FastCGI's own directives; `Ok(false)` if `d` is not one.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let a = &d.args;
        match d.name.as_str() {
            "fastcgi_param" => {
                let if_not_empty = match a.get(2) {
                    None => false,
                    Some((w, _)) if w == "if_not_empty" => true,
                    Some((w, pos)) => {
                        let msg = format!("invalid parameter \"{w}\" in \"fastcgi_param\"");
                        return Err(ConfigError::at(pos, msg));
                    }
                };
                self.params.get_or_insert_with(Vec::new).push(Param {
                    name: a[0].0.clone(),
                    value: Template::compile(&a[1].0, &a[1].1)?,
                    if_not_empty,
                });
            }
            "fastcgi_index" => self.index = Some(a[0].0.clone()),
            "fastcgi_catch_stderr" => {
                self.catch_stderr
                    .get_or_insert_with(Vec::new)
                    .push(a[0].0.clone());
            }
            "fastcgi_split_path_info" => {
                let (src, pos) = &a[0];
                let re = Regex::new(&crate::vars::from_pcre(src))
                    .map_err(|e| ConfigError::at(pos, format!("invalid regex \"{src}\": {e}")))?;
                if re.captures_len() < 3 {
                    let msg = format!(
                        "pattern \"{src}\" must have 2 captures in \"fastcgi_split_path_info\""
                    );
                    return Err(ConfigError::at(pos, msg));
                }
                self.split_path_info = Some(re);
            }
            "fastcgi_keep_conn" => {
                self.keep_conn = Some(values::on_off(&a[0], "fastcgi_keep_conn")?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The templates this level's parameters hold, for linking their variables.
    pub fn templates(s: &mut Settings) -> impl Iterator<Item = &mut Template> {
        s.params.iter_mut().map(|p| &mut p.value)
    }
}

/// `fastcgi_pass HOST:PORT | unix:/path | NAME | $variable`: an address with no
/// scheme and no URI part.
pub fn pass((addr, pos): &Arg, at: &Pos) -> Result<Pass, ConfigError> {
    if addr.contains("://") {
        return Err(ConfigError::at(
            pos,
            format!(
                "invalid address \"{addr}\" in \"fastcgi_pass\" (no scheme: HOST:PORT, unix:PATH or an upstream name)"
            ),
        ));
    }
    let mut p = Pass {
        url: addr.clone(),
        authority: addr.clone(),
        uri: None,
        dynamic: None,
        upstream: 0,
        host: String::new(),
        port: 80,
        tls: false,
        pos: at.clone(),
    };
    if addr.contains('$') {
        p.dynamic = Some(Template::compile(addr, pos)?);
        return Ok(p);
    }
    if addr.is_empty() {
        return Err(ConfigError::at(pos, "no address in \"fastcgi_pass\""));
    }
    (p.host, p.port) = proxy_host(addr, 80);
    Ok(p)
}

/// `$fastcgi_script_name` and `$fastcgi_path_info` for `uri`.
pub fn split<'a>(s: &Settings, uri: &'a str) -> (std::borrow::Cow<'a, str>, &'a str) {
    let (script, info) = match s.split_path_info.as_ref().and_then(|re| re.captures(uri)) {
        Some(c) => {
            let part = |i| c.get(i).map_or(0..0, |m: regex::Match| m.range());
            (&uri[part(1)], &uri[part(2)])
        }
        None => (uri, ""),
    };
    match &s.index {
        Some(index) if script.ends_with('/') => (format!("{script}{index}").into(), info),
        _ => (script.into(), info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(split: Option<&str>, index: Option<&str>) -> Settings {
        Settings {
            split_path_info: split.map(|s| Regex::new(s).unwrap()),
            index: index.map(str::to_string),
            ..Settings::default()
        }
    }

    #[test]
    fn script_name_and_path_info() {
        let s = settings(Some(r"^(.+\.php)(.*)$"), Some("index.php"));
        let cases = [
            ("/a/b.php/c/d", "/a/b.php", "/c/d"),
            ("/a/b.php", "/a/b.php", ""),
            ("/dir/", "/dir/index.php", ""),
            ("/x.html", "/x.html", ""),
        ];
        for (uri, script, info) in cases {
            let (got_script, got_info) = split(&s, uri);
            assert_eq!((got_script.as_ref(), got_info), (script, info), "{uri}");
        }
        let plain = settings(None, None);
        assert_eq!(split(&plain, "/dir/").0, "/dir/");
    }
}
