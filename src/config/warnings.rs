//! Startup warnings: what a configuration may say without being wrong, but which
//! is almost always a mistake. They never stop the server (a missing root may be
//! mounted later, an interpreter installed later); `-t` and startup print them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Config, Location};

/// Every warning for `config`, each once, in configuration order.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.servers.is_empty() {
        out.push(format!(
            "{}: no \"server\" block: webserv listens on no address",
            config.file.display()
        ));
    }
    let mut seen = HashSet::new();
    for loc in config.servers.iter().flat_map(|s| &s.locations) {
        for w in location_warnings(loc) {
            if seen.insert(w.0) {
                out.push(w.1);
            }
        }
    }
    out
}

/// (what the warning is about, the message) for one location.
fn location_warnings(loc: &Location) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (kind, dir) = match &loc.alias {
        Some(alias) => ("alias", alias),
        None => ("root", &loc.root),
    };
    // The upload store is made at the first upload: serving it back before then
    // is expected to find nothing.
    let is_store = loc
        .upload_store
        .as_deref()
        .is_some_and(|s| dir.starts_with(s));
    if !dir.exists() && !is_store {
        out.push((
            format!("{kind} {}", dir.display()),
            format!(
                "{}: {kind} \"{}\" (location {}) does not exist",
                loc.pos,
                dir.display(),
                loc.path
            ),
        ));
    }
    for h in &loc.cgi {
        if let Some(interp) = &h.interpreter
            && find_program(interp).is_none()
        {
            out.push((
                format!("cgi {}", interp.display()),
                format!(
                    "{}: cgi {}: interpreter \"{}\" not found, so these scripts will answer 500",
                    loc.pos,
                    h.ext,
                    interp.display()
                ),
            ));
        }
    }
    out
}

/// Where `program` would be executed from: itself when it names a path, else the
/// first match in `PATH` (what the CGI launcher looks up).
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, dir: &Path) -> Config {
        let file = dir.join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir).unwrap()
    }

    #[test]
    fn missing_roots_aliases_and_interpreters_warn_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("www")).unwrap();
        let c = load(
            "server { listen 127.0.0.1:1; root nope;\n\
             location /a/ { } location /b/ { alias gone/; }\n\
             location /c/ { root www; cgi .x no-such-interpreter-here; cgi .sh /bin/sh; }\n\
             location /up/ { alias store/; upload_store store; } }",
            dir.path(),
        );
        let w = warnings(&c);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("root \"") && w[0].ends_with("nope\" (location /a/) does not exist"),
            "{w:?}"
        );
        assert!(
            w[1].contains(":2:18: alias \"") && w[1].contains("gone"),
            "{w:?}"
        );
        assert!(
            w[2].contains("interpreter \"no-such-interpreter-here\" not found"),
            "{w:?}"
        );
    }

    #[test]
    fn no_server_block_warns() {
        let dir = tempfile::tempdir().unwrap();
        let c = load("worker_processes 1;\n", dir.path());
        let w = warnings(&c);
        assert_eq!(w.len(), 1);
        assert!(w[0].ends_with("no \"server\" block: webserv listens on no address"));
    }

    #[test]
    fn programs_are_found_in_path_or_by_name() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("/bin/sh")).is_some());
        assert!(find_program(Path::new("no-such-program-xyz")).is_none());
        assert!(find_program(Path::new("/nonexistent/sh")).is_none());
    }
}
