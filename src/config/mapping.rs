//! Where a request path's file is, in one place: every handler (static files,
//! `try_files`, `index`, autoindex, DELETE, CGI, `--explain`) and `$request_filename`
//! map a URI through [`Location::file_ref`], and open what it names strictly beneath
//! its `base` (see `handler::beneath`).
//!
//! The base is the part of `root`/`alias` that the configuration fixes: the whole
//! directive without variables, or the directory before the first variable when it
//! has some (`alias /srv/img/$1` → `/srv/img`). Everything a request controls (the
//! URI, captures, `$host`, headers) is in `rel`, so no symlink or `..` in it can lead
//! out of the base.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::{LocKind, Location};
use crate::vars::Template;

/// A URI's file: `rel` (no leading `/` needed) resolved beneath `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef<'a> {
    /// A directory named by the configuration, opened as it is.
    pub base: &'a Path,
    /// The rest, resolved strictly beneath `base`; `""` is the base itself.
    pub rel: Cow<'a, str>,
}

impl FileRef<'_> {
    /// The whole path, for messages, `$request_filename` and CGI's SCRIPT_FILENAME.
    pub fn full(&self) -> PathBuf {
        let rel = self.rel.trim_start_matches('/');
        if rel.is_empty() {
            self.base.to_path_buf()
        } else {
            self.base.join(rel)
        }
    }
}

impl Location {
    /// The file a clean URI names here: `root` + URI; with `alias`, the alias in place
    /// of the location prefix; in a regex (or named) location, the alias alone (it is
    /// built from the captures), as nginx maps them.
    pub fn file_ref<'a>(&'a self, uri: &'a str) -> FileRef<'a> {
        match &self.alias {
            Some(alias) if self.alias_is_whole() => {
                let tail = self.alias_tail.as_deref().unwrap_or("");
                match &self.alias_vars {
                    Some(t) => split_at_variables(t, alias, tail),
                    None if !tail.is_empty() => FileRef {
                        base: alias,
                        rel: Cow::Borrowed(tail),
                    },
                    // A fixed file: the configuration names it, its parent is the base.
                    None => file_itself(alias),
                }
            }
            Some(alias) => {
                let rest = match &self.alias_prefix {
                    Some(p) => uri.get(p.len()..).unwrap_or(""),
                    None => self.rest_of(uri),
                };
                match &self.alias_vars {
                    Some(t) => split_at_variables(t, alias, rest),
                    // `location /one { alias /data/one.txt; }`: the file itself.
                    None if rest.is_empty()
                        && !alias.as_os_str().as_encoded_bytes().ends_with(b"/") =>
                    {
                        file_itself(alias)
                    }
                    None => FileRef {
                        base: alias,
                        rel: Cow::Borrowed(rest),
                    },
                }
            }
            None => match &self.root_vars {
                Some(t) => split_at_variables(t, &self.root, uri),
                None => FileRef {
                    base: &self.root,
                    rel: Cow::Borrowed(uri),
                },
            },
        }
    }

    /// The URI after the location's prefix (what `alias` and `upload_store` append
    /// to); a regex or named location has no prefix, so it is the whole URI.
    pub fn rest_of<'a>(&self, uri: &'a str) -> &'a str {
        match self.kind {
            LocKind::Prefix | LocKind::NoRegex | LocKind::Exact => {
                uri.get(self.path.len()..).unwrap_or("")
            }
            LocKind::Regex(_) | LocKind::Named => uri,
        }
    }

    /// A regex or named location's alias names the file itself (unless it came
    /// from an enclosing prefix location).
    pub fn alias_is_whole(&self) -> bool {
        matches!(self.kind, LocKind::Regex(_) | LocKind::Named) && self.alias_prefix.is_none()
    }

    /// `$request_filename`: the file a URI maps to in this location.
    pub fn file_for(&self, uri: &str) -> PathBuf {
        self.file_ref(uri).full()
    }
}

/// A path the configuration names as a whole: its parent is the base.
fn file_itself(path: &Path) -> FileRef<'_> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(dir), Some(name)) => FileRef {
            base: dir,
            rel: Cow::Borrowed(name),
        },
        _ => FileRef {
            base: path,
            rel: Cow::Borrowed(""),
        },
    }
}

/// `expanded` (the value of `template` for this request) + `tail`, split into the
/// directory before the template's first variable and the rest.
fn split_at_variables<'a>(template: &'a Template, expanded: &'a Path, tail: &str) -> FileRef<'a> {
    let src = template.source();
    let fixed = &src[..src.find('$').unwrap_or(src.len())];
    let dir = match fixed.rfind('/') {
        Some(0) => "/",
        Some(i) => &fixed[..i],
        None => "",
    };
    let expanded_str = expanded.to_str().unwrap_or("");
    let rel = match expanded_str.strip_prefix(dir) {
        Some(rest) if !dir.is_empty() => format!("{rest}{tail}"),
        // The expansion always starts with the fixed part; anything else names
        // nothing beneath the base.
        _ => String::from("\0"),
    };
    FileRef {
        base: Path::new(dir),
        rel: Cow::Owned(rel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> crate::config::Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, Path::new("/p")).unwrap()
    }

    /// Each way a location names files, with what the configuration fixes as the
    /// base and what the request controls beneath it.
    #[test]
    fn base_is_what_the_configuration_fixes() {
        let c = config(
            r#"server { listen 127.0.0.1:1; root /srv/www;
                location /files/ { alias /data/f/; }
                location /one { alias /data/one.txt; }
                location ~ ^/img/(.*)$ { alias /srv/img/$1; }
                location ~ ^/x/(.*)$ { alias /srv/x/pre$1; }
                location ~ \.png$ { alias /srv/logo.png; }
                location /h/ { root /srv/hosts/$host; }
            }"#,
        );
        let locs = &c.servers[0].locations;
        let find = |p: &str| locs.iter().find(|l| l.path == p).unwrap();
        let mut root = find("/").clone();
        root.root = "/srv/www".into();
        let cases: Vec<(&Location, &str, &str, &str)> = vec![
            (&root, "/a/b.txt", "/srv/www", "/a/b.txt"),
            (find("/files/"), "/files/x/y", "/data/f/", "x/y"),
            (find("/one"), "/one", "/data", "one.txt"),
        ];
        for (loc, uri, base, rel) in cases {
            let f = loc.file_ref(uri);
            assert_eq!((f.base, f.rel.as_ref()), (Path::new(base), rel), "{uri}");
        }
        // Variables: the expanded value is in `alias`/`root`, as the phases leave it.
        let mut img = find(r"^/img/(.*)$").clone();
        img.alias = Some("/srv/img/x/L/hostname".into());
        let f = img.file_ref("/img/x/L/hostname");
        assert_eq!(
            (f.base, f.rel.as_ref()),
            (Path::new("/srv/img"), "/x/L/hostname")
        );
        let mut x = find(r"^/x/(.*)$").clone();
        x.alias = Some("/srv/x/pre../../etc".into());
        let f = x.file_ref("/x/../../etc");
        assert_eq!(
            (f.base, f.rel.as_ref()),
            (Path::new("/srv/x"), "/pre../../etc")
        );
        let png = find(r"\.png$");
        let f = png.file_ref("/a/b.png");
        assert_eq!((f.base, f.rel.as_ref()), (Path::new("/srv"), "logo.png"));
        let mut h = find("/h/").clone();
        h.root = "/srv/hosts/example.org".into();
        let f = h.file_ref("/h/i.html");
        assert_eq!(
            (f.base, f.rel.as_ref()),
            (Path::new("/srv/hosts"), "/example.org/h/i.html")
        );
        assert_eq!(
            h.file_for("/h/i.html"),
            Path::new("/srv/hosts/example.org/h/i.html")
        );
    }

    #[test]
    fn rest_of_a_regex_location_is_the_whole_uri() {
        let c =
            config(r#"server { listen 127.0.0.1:1; location ~ ^/i/(.*)$ { } location /p/ { } }"#);
        let locs = &c.servers[0].locations;
        let re = locs.iter().find(|l| l.path == r"^/i/(.*)$").unwrap();
        assert_eq!(re.rest_of("/i/photos2023/"), "/i/photos2023/");
        let p = locs.iter().find(|l| l.path == "/p/").unwrap();
        assert_eq!(p.rest_of("/p/a/b"), "a/b");
    }
}
