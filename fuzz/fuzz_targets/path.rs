//! `handler::path::clean` and `map_to_fs` on arbitrary request paths.
//!
//! Whatever `clean` accepts starts with `/` and has no `.` or `..` segment, and
//! mapping it under a root (or through an alias) never leaves that directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};
use webserv::handler::path::{clean, map_to_fs};

fn assert_under(p: &Path, base: &Path) {
    assert!(p.starts_with(base), "{p:?} is not under {base:?}");
    for c in p.strip_prefix(base).unwrap().components() {
        assert!(
            matches!(c, Component::Normal(_)),
            "{p:?} has a {c:?} component below {base:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(p) = clean(raw) else {
        return;
    };
    assert!(p.starts_with('/'), "{raw:?} -> {p:?} is not absolute");
    assert!(!p.contains('\0'), "{raw:?} -> {p:?} has a NUL");
    for seg in p.split('/') {
        assert!(
            seg != ".." && seg != ".",
            "{raw:?} -> {p:?} has a dot segment"
        );
    }
    // Idempotent on the decoded form's structure: cleaning a clean path with no '%'
    // gives it back.
    if !p.contains('%') {
        assert_eq!(clean(&p).as_deref(), Some(p.as_str()), "not idempotent");
    }
    let root = Path::new("/srv/www");
    assert_under(&map_to_fs(&p, "/", root, None), root);
    let alias = Path::new("/srv/alias");
    // An alias location only matches at a segment boundary (route::prefix_match):
    // `location /files { alias DIR; }` never takes `/files..`.
    for loc in ["/", "/files/", "/files"] {
        if webserv::handler::route::prefix_match(loc, true, &p) {
            assert_under(&map_to_fs(&p, loc, root, Some(alias)), alias);
        }
    }
});
