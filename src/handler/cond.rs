//! The conditions of `if` (see `config::cond`), tested on a request as nginx's
//! script engine does: a variable is false when empty or "0"; `=` compares the
//! exact strings; a regex match sets the captures for what follows; the file
//! operators look at the path as it is now (following symlinks, as `stat`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Cx, Routed};
use crate::config::cond::{Cond, FileTest};
use crate::fs::symlinks::{self, Check};

/// Whether `cond` holds for `r`; a regex match leaves its captures in `r`.
pub fn holds(cx: &Cx, cond: &Cond, r: &mut Routed, in_location: bool) -> bool {
    let held = match cond {
        Cond::Set(var) => {
            let v = var.expand(&cx.env(r, in_location));
            !(v.is_empty() || v == "0")
        }
        Cond::Equal {
            var,
            value,
            negated,
        } => {
            let env = cx.env(r, in_location);
            (var.expand(&env) == value.expand(&env)) != *negated
        }
        Cond::Regex {
            var,
            pattern,
            negated,
        } => {
            let v = var.expand(&cx.env(r, in_location));
            pattern.matches(&v, &mut r.vars) != *negated
        }
        Cond::File {
            test,
            path,
            negated,
        } => {
            let env = cx.env(r, in_location);
            let path = path.expand(&env);
            // `disable_symlinks` applies to the file operators too, as in nginx.
            let loc = in_location.then(|| r.location(cx.config));
            let check = loc.and_then(|l| {
                let from = l.disable_symlinks.as_ref()?.from.as_ref();
                l.symlink_check(Path::new(&path), from.map(|t| t.expand(&env)).as_deref())
            });
            file_test_checked(*test, &path, check) != *negated
        }
    };
    cx.note(|| format!("if condition {}", if held { "holds" } else { "fails" }));
    held
}

/// `-f`, `-d`, `-e`, `-x` on `path`.
pub fn file_test(test: FileTest, path: &str) -> bool {
    file_test_checked(test, path, None)
}

/// [`file_test`], the path walked under `disable_symlinks` when `check` is set.
fn file_test_checked(test: FileTest, path: &str, check: Option<Check>) -> bool {
    if let Some(check) = check {
        let Ok(st) = symlinks::stat(Path::new(path), check) else {
            return false;
        };
        let kind = st.st_mode & libc::S_IFMT;
        return match test {
            FileTest::Plain => kind == libc::S_IFREG,
            FileTest::Dir => kind == libc::S_IFDIR,
            FileTest::Exists => true,
            FileTest::Exec => st.st_mode & 0o100 != 0,
        };
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    match test {
        FileTest::Plain => meta.is_file(),
        FileTest::Dir => meta.is_dir(),
        FileTest::Exists => true,
        FileTest::Exec => meta.permissions().mode() & 0o100 != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_operators() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let exe = dir.path().join("x");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path().to_str().unwrap();
        let f = file.to_str().unwrap();
        let x = exe.to_str().unwrap();
        let missing = dir.path().join("nope");
        let m = missing.to_str().unwrap();
        let cases = [
            (FileTest::Plain, f, true),
            (FileTest::Plain, d, false),
            (FileTest::Plain, m, false),
            (FileTest::Dir, d, true),
            (FileTest::Dir, f, false),
            (FileTest::Exists, f, true),
            (FileTest::Exists, d, true),
            (FileTest::Exists, m, false),
            (FileTest::Exec, x, true),
            (FileTest::Exec, f, false),
            (FileTest::Exists, "", false),
        ];
        for (test, path, want) in cases {
            assert_eq!(file_test(test, path), want, "{test:?} {path}");
        }
    }
}
