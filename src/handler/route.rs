//! Finding the configuration for a request: the virtual server (address:port, then
//! Host) and the location (`=` exact first, then the longest prefix), as nginx does.

use crate::config::{Config, ListenGroup, Location, Server};

/// Picks the server for `host` among those listening on `group`, in nginx's
/// order (see [`super::vhost::select`], which also keeps regex captures).
pub fn select_server<'c>(
    config: &'c Config,
    group: &ListenGroup,
    host: Option<&str>,
) -> &'c Server {
    &config.servers[super::vhost::select(config, group, host).server]
}

/// The location for a clean path: an exact `location = /uri` wins, otherwise the
/// longest prefix. The checker guarantees a `/` prefix location exists, so the
/// fallback to the last location only matters for hand-built configs.
pub fn match_location<'s>(server: &'s Server, path: &str) -> &'s Location {
    if let Some(exact) = server.locations.iter().find(|l| l.exact && l.path == path) {
        return exact;
    }
    server
        .locations
        .iter()
        .filter(|l| !l.exact && prefix_matches(l, path))
        .max_by_key(|l| l.path.len())
        .or_else(|| server.locations.last())
        .unwrap_or_else(|| unreachable_location())
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
    use crate::handler::path::{clean, map_to_fs};

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
        let fs = map_to_fs(&path, &loc.path, &loc.root, loc.alias.as_deref());
        assert!(!fs.starts_with("/srv/alias/.."), "{fs:?}");
        assert!(
            fs.components()
                .all(|c| !matches!(c, std::path::Component::ParentDir)),
            "{fs:?}"
        );
    }
}
