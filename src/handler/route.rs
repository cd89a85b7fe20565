//! Finding the configuration for a request: the virtual server (address:port, then
//! Host) and the location (exact, longest prefix, `^~`, regexes, nested), as nginx does.

use crate::config::{Config, ListenGroup, LocKind, Location, Server};
use crate::vars::State;

/// Picks the server for `host` among those listening on `group`, in nginx's
/// order (see [`super::vhost::select`], which also keeps regex captures).
pub fn select_server<'c>(
    config: &'c Config,
    group: &ListenGroup,
    host: Option<&str>,
) -> &'c Server {
    &config.servers[super::vhost::select(config, group, host).server]
}

/// How a location was chosen (for `--explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `location = /uri`.
    Exact,
    /// The longest prefix, no regex matched (or it was `^~`).
    Prefix,
    /// A regex, the first that matched in declaration order.
    Regex,
}

/// The location for a clean URI, in nginx's order: at each level, an exact match
/// wins; otherwise the longest prefix is remembered and its nested locations are
/// searched (an exact or regex match there wins); then, unless that prefix is `^~`,
/// the level's regexes in order, the first match winning (its nested locations
/// searched in turn); else the longest prefix. Regex captures land in `vars`. The
/// checker guarantees a top-level `/` prefix location, so something always matches.
pub fn find_location(server: &Server, uri: &str, vars: &mut State) -> (usize, How) {
    match find_in(server, &server.top, uri, vars) {
        Some(found) => found,
        // Only a hand-built config lacks `/`; fall back to its last location.
        None => (server.locations.len().saturating_sub(1), How::Prefix),
    }
}

fn find_in(server: &Server, level: &[usize], uri: &str, vars: &mut State) -> Option<(usize, How)> {
    let locs = &server.locations;
    if let Some(&i) = level
        .iter()
        .find(|&&i| locs[i].is_exact() && locs[i].path == uri)
    {
        return Some((i, How::Exact));
    }
    let prefix = level
        .iter()
        .copied()
        .filter(|&i| locs[i].is_prefix() && prefix_matches(&locs[i], uri))
        .max_by_key(|&i| locs[i].path.len());
    let mut best = prefix.map(|i| (i, How::Prefix));
    if let Some(p) = prefix
        && !locs[p].children.is_empty()
    {
        match find_in(server, &locs[p].children, uri, vars) {
            Some((i, How::Prefix)) => best = Some((i, How::Prefix)),
            Some(found) => return Some(found),
            None => {}
        }
    }
    if prefix.is_some_and(|p| matches!(locs[p].kind, LocKind::NoRegex)) {
        return best;
    }
    for &i in level {
        if let LocKind::Regex(re) = &locs[i].kind
            && re.matches(uri, vars)
        {
            let nested = find_in(server, &locs[i].children, uri, vars);
            return Some(nested.unwrap_or((i, How::Regex)));
        }
    }
    best
}

/// nginx's `auto_redirect`: a URI that is a proxied prefix location's name without
/// its final slash (`/app` for `location /app/ { proxy_pass ...; }`) is redirected
/// to it, unless an exact location takes the URI.
pub fn auto_redirect(server: &Server, uri: &str, found: How) -> bool {
    found != How::Exact
        && server.locations.iter().any(|l| {
            !l.noname
                && l.is_prefix()
                && l.gateway().is_some()
                && l.path.len() == uri.len() + 1
                && l.path.ends_with('/')
                && l.path.starts_with(uri)
        })
}

/// The location for a clean path, when the captures do not matter.
pub fn match_location<'s>(server: &'s Server, path: &str) -> &'s Location {
    let (i, _) = find_location(server, path, &mut State::default());
    server
        .locations
        .get(i)
        .unwrap_or_else(|| unreachable_location())
}

/// The named location `@name`.
pub fn named_location(server: &Server, name: &str) -> Option<usize> {
    server
        .locations
        .iter()
        .position(|l| l.is_named() && l.path == name)
}

/// A prefix location matches the start of the path. For an `alias` location the
/// match must end at a segment boundary: `location /files { alias DIR; }` must not
/// take `/files..` (that would be `DIR/..`, nginx's alias traversal) nor `/filesX`.
fn prefix_matches(l: &Location, path: &str) -> bool {
    prefix_match(&l.path, l.alias.is_some(), path)
}

/// The prefix rule on its own: `prefix` starts `path`, and for an alias location
/// the match ends at a segment boundary.
pub fn prefix_match(prefix: &str, alias: bool, path: &str) -> bool {
    path.starts_with(prefix)
        && (!alias
            || prefix.ends_with('/')
            || matches!(path.as_bytes().get(prefix.len()), None | Some(b'/')))
}

#[cold]
fn unreachable_location() -> &'static Location {
    // A Server always has at least the synthesized `/` location (see config::check).
    panic!("server without locations: the config checker must add `location /`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::path::clean;

    fn config(text: &str) -> crate::config::Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).unwrap()
    }

    #[test]
    fn alias_locations_match_at_segment_boundaries_only() {
        let c = config("server { listen 127.0.0.1:1; location /files { alias /srv/alias; } }");
        let s = &c.servers[0];
        for (path, alias) in [
            ("/files", true),
            ("/files/a", true),
            ("/files..", false),
            ("/filesX", false),
        ] {
            let loc = match_location(s, path);
            assert_eq!(loc.alias.is_some(), alias, "{path}");
        }
        // The fuzzer's input: never a path above the alias.
        let path = clean("//files..").unwrap();
        let loc = match_location(s, &path);
        let fs = loc.file_for(&path);
        assert!(!fs.starts_with("/srv/alias/.."), "{fs:?}");
        assert!(
            fs.components()
                .all(|c| !matches!(c, std::path::Component::ParentDir)),
            "{fs:?}"
        );
    }

    /// Every kind of location in one server, and which one each URI gets: nginx's
    /// order (exact, longest prefix, `^~` stops, regexes in order, nested).
    #[test]
    fn matching_order_table() {
        let c = config(
            r#"server { listen 127.0.0.1:1;
                location = / { }
                location / { }
                location /docs/ { location ~ \.md$ { } location /docs/api/ { } }
                location ^~ /static/ { }
                location ~* \.(png|jpg)$ { }
                location ~ ^/static/x { }
                location ~ ^/users/(?<name>\w+)/(\d+)$ { }
                location ~ \.png$ { }
                location @fallback { }
                location /app { location = /app/exact { } }
            }"#,
        );
        let s = &c.servers[0];
        let cases: &[(&str, &str, How)] = &[
            ("/", "/", How::Exact),
            ("/index.html", "/", How::Prefix),
            ("/docs/", "/docs/", How::Prefix),
            ("/docs/a.md", r"\.md$", How::Regex),
            ("/docs/api/x", "/docs/api/", How::Prefix),
            ("/docs/api/x.md", r"\.md$", How::Regex),
            ("/static/a.png", "/static/", How::Prefix),
            ("/static/x", "/static/", How::Prefix),
            ("/img/A.PNG", r"\.(png|jpg)$", How::Regex),
            ("/img/a.png", r"\.(png|jpg)$", How::Regex),
            ("/users/ann/42", r"^/users/(?<name>\w+)/(\d+)$", How::Regex),
            ("/users/ann/x", "/", How::Prefix),
            ("/@fallback", "/", How::Prefix),
            ("/app/exact", "/app/exact", How::Exact),
            ("/app/exact/", "/app", How::Prefix),
            ("/application", "/app", How::Prefix),
        ];
        for (uri, want, how) in cases {
            let mut st = crate::vars::State::default();
            let (i, h) = find_location(s, uri, &mut st);
            assert_eq!((s.locations[i].path.as_str(), h), (*want, *how), "{uri}");
        }
        let mut st = crate::vars::State::default();
        find_location(s, "/users/ann/42", &mut st);
        assert_eq!(st.captures, ["/users/ann/42", "ann", "42"]);
        let slot = c.vars.iter().position(|v| v == "name").unwrap() as u16;
        assert_eq!(st.user(slot), Some("ann"));
        assert!(named_location(s, "@fallback").is_some());
        assert!(named_location(s, "@nope").is_none());
    }
}
