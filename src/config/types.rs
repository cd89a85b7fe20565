//! `types { MIME EXT...; ... }`: the extension → MIME type map of a level, in
//! nginx's format (so `include mime.types;` reads nginx's own file or ours,
//! `conf/mime.types`). nginx's rules: a level with a `types` block replaces the
//! inherited map whole; several blocks in one level add up, a later extension
//! replacing an earlier one; extensions are matched case-insensitively. A level
//! with a map uses only the map (then `default_type`); without any, webserv falls
//! back to `mime_guess`'s table, which is its built-in `mime.types`.

use std::collections::HashMap;
use std::sync::Arc;

use super::ConfigError;
use super::parser::Directive;

/// Lower-cased extension (no dot) → MIME type.
pub type MimeTypes = HashMap<Box<str>, Box<str>>;

/// Adds the entries of one `types { }` block to the level's map.
pub fn apply(slot: &mut Option<Arc<MimeTypes>>, d: &Directive) -> Result<(), ConfigError> {
    let map = Arc::make_mut(slot.get_or_insert_with(Default::default));
    for entry in d.block.as_deref().unwrap_or_default() {
        if entry.block.is_some() {
            let msg = format!("unexpected \"{{\" after \"{}\" in \"types\"", entry.name);
            return Err(ConfigError::at(&entry.pos, msg));
        }
        if !entry.name.contains('/') {
            let msg = format!("invalid MIME type \"{}\" in \"types\"", entry.name);
            return Err(ConfigError::at(&entry.pos, msg));
        }
        let mime: Box<str> = entry.name.as_str().into();
        for (ext, _) in &entry.args {
            map.insert(ext.to_ascii_lowercase().into(), mime.clone());
        }
    }
    Ok(())
}

/// The type of the file named by `path`: its extension as nginx takes it (after
/// the last `.` of the last segment, so `.bashrc` has the extension `bashrc`),
/// looked up in `types`. One hash lookup; a second one only for a name with
/// upper-case letters in its extension.
pub fn lookup<'t>(types: &'t MimeTypes, path: &str) -> Option<&'t str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = name.rsplit_once('.')?;
    if let Some(found) = types.get(ext) {
        return Some(found);
    }
    if ext.bytes().any(|b| b.is_ascii_uppercase()) {
        return types.get(ext.to_ascii_lowercase().as_str()).map(|m| &**m);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;

    fn map(src: &str) -> Result<MimeTypes, String> {
        let dirs = parse_str(src, &Arc::from("t.conf")).map_err(|e| e.to_string())?;
        let mut slot = None;
        for d in &dirs {
            apply(&mut slot, d).map_err(|e| e.to_string())?;
        }
        Ok(slot.map(|m| (*m).clone()).unwrap_or_default())
    }

    #[test]
    fn entries_accumulate_and_later_wins() {
        let m = map("types { text/html html htm; image/png PNG; }\n\
             types { text/plain htm txt; application/x-empty; }")
        .unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(&*m["html"], "text/html");
        assert_eq!(&*m["htm"], "text/plain");
        assert_eq!(&*m["png"], "image/png");
    }

    #[test]
    fn lookups_follow_nginx_extension_rules() {
        let m = map("types { text/html html; text/x-sh bashrc; application/gzip gz; }").unwrap();
        let cases = [
            ("/a/index.html", Some("text/html")),
            ("/a/INDEX.HTML", Some("text/html")),
            ("/a/.bashrc", Some("text/x-sh")),
            ("/a/b.tar.gz", Some("application/gzip")),
            ("/a.html/readme", None),
            ("/a/file.", None),
            ("/a/noext", None),
            ("/a/x.css", None),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(&m, path), want, "{path}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            map("types { text/html html { } }").unwrap_err(),
            "t.conf:1:9: unexpected \"{\" after \"text/html\" in \"types\""
        );
        assert_eq!(
            map("types {\n  html text/html;\n}").unwrap_err(),
            "t.conf:2:3: invalid MIME type \"html\" in \"types\""
        );
    }
}
