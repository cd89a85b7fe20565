//! Reading files and expanding `include GLOB;` (allowed in any context).
//!
//! The glob is relative to the including file's directory. Matching files are pasted
//! in sorted order in place of the `include` directive. A pattern with wildcards may
//! match nothing; a literal path that does not exist is an error at the include's
//! argument, like nginx's `open() "PATH" failed (No such file or directory)`.
//! A file that includes itself, directly or not, is an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;
use super::parser::{Directive, parse_str};

/// Reads and parses `path` and everything it includes.
pub fn load_tree(path: &Path) -> Result<Vec<Directive>, ConfigError> {
    read_tree(path).map(|(tree, _)| tree)
}

/// Every file [`load_tree`] reads, once each, in the order first read, with its
/// text: what `-T` prints, as nginx's `# configuration file PATH:` sections.
pub fn files_read(path: &Path) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    read_tree(path).map(|(_, files)| files.read)
}

fn read_tree(path: &Path) -> Result<(Vec<Directive>, Files), ConfigError> {
    let mut files = Files::default();
    let tree =
        read_file(path, &mut files).map_err(|e| e.unwrap_or_else(|e| open_failed(path, &e)))?;
    Ok((tree, files))
}

/// The files being read (for cycles) and those read so far.
#[derive(Default)]
struct Files {
    stack: Vec<PathBuf>,
    read: Vec<(PathBuf, String)>,
}

/// Either a config error or the I/O error of opening this very file (which the
/// caller reports at its own position).
type ReadResult = Result<Vec<Directive>, Result<ConfigError, std::io::Error>>;

/// Parses one file and expands its includes (recorded in `files`).
fn read_file(path: &Path, files: &mut Files) -> ReadResult {
    let src = std::fs::read_to_string(path).map_err(Err)?;
    let tree = parse_str(&src, &Arc::from(path.display().to_string())).map_err(Ok)?;
    if !files.read.iter().any(|(p, _)| p == path) {
        files.read.push((path.to_path_buf(), src));
    }
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    files.stack.push(key);
    let dir = path.parent().unwrap_or(Path::new(""));
    let expanded = expand(tree, dir, files).map_err(Ok);
    files.stack.pop();
    expanded
}

/// Replaces every `include` in `dirs` (at any depth) by the directives it names.
fn expand(
    dirs: Vec<Directive>,
    dir: &Path,
    files: &mut Files,
) -> Result<Vec<Directive>, ConfigError> {
    let mut out = Vec::with_capacity(dirs.len());
    for mut d in dirs {
        if d.name == "include" {
            out.extend(include(&d, dir, files)?);
            continue;
        }
        if let Some(block) = d.block.take() {
            d.block = Some(expand(block, dir, files)?);
        }
        out.push(d);
    }
    Ok(out)
}

/// The directives of every file one `include` names, in sorted file order.
fn include(d: &Directive, dir: &Path, files: &mut Files) -> Result<Vec<Directive>, ConfigError> {
    if d.block.is_some() {
        return Err(ConfigError::at(
            &d.pos,
            "directive \"include\" is not terminated by \";\"",
        ));
    }
    let [(pattern, pos)] = d.args.as_slice() else {
        return Err(ConfigError::at(
            &d.pos,
            "invalid number of arguments in \"include\" directive",
        ));
    };
    let mut out = Vec::new();
    for file in matching_files(pattern, dir).map_err(|m| ConfigError::at(pos, m))? {
        let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if files.stack.contains(&key) {
            let msg = format!("include of \"{}\" is recursive", file.display());
            return Err(ConfigError::at(pos, msg));
        }
        let tree = read_file(&file, files)
            .map_err(|e| e.unwrap_or_else(|e| open_failed(&file, &e).placed(pos)))?;
        out.extend(tree);
    }
    Ok(out)
}

fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The files `pattern` names relative to `dir`: glob matches sorted, or the literal path.
fn matching_files(pattern: &str, dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !has_wildcards(pattern) {
        return Ok(vec![dir.join(pattern)]);
    }
    let full = if Path::new(pattern).is_absolute() || dir.as_os_str().is_empty() {
        pattern.to_string()
    } else {
        let escaped = glob::Pattern::escape(&dir.display().to_string());
        format!("{escaped}/{pattern}")
    };
    let paths = glob::glob(&full).map_err(|e| format!("invalid pattern \"{pattern}\": {e}"))?;
    let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    files.sort();
    Ok(files)
}

/// nginx's wording for an unreadable file: `open() "PATH" failed (REASON)`.
pub fn open_failed(path: &Path, e: &std::io::Error) -> ConfigError {
    let reason = e.to_string();
    let reason = match reason.find(" (os error") {
        Some(cut) => &reason[..cut],
        None => &reason,
    };
    ConfigError::new(format!("open() \"{}\" failed ({reason})", path.display()))
}

impl ConfigError {
    /// The same error, placed at `pos`.
    fn placed(mut self, pos: &super::Pos) -> Self {
        self.pos = Some(pos.clone());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn names(dirs: &[Directive]) -> Vec<String> {
        dirs.iter().map(|d| d.name.clone()).collect()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn glob_pastes_sorted_files_relative_to_includer() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "conf.d/b.conf", "b;");
        write(tmp.path(), "conf.d/a.conf", "a1; a2;");
        let main = write(
            tmp.path(),
            "main.conf",
            "first;\nx { include conf.d/*.conf; }\nlast;",
        );
        let tree = load_tree(&main).unwrap();
        assert_eq!(names(&tree), ["first", "x", "last"]);
        let inner = tree[1].block.as_ref().unwrap();
        assert_eq!(names(inner), ["a1", "a2", "b"]);
        assert!(inner[0].pos.file.ends_with("conf.d/a.conf"));
    }

    #[test]
    fn nested_include_is_relative_to_its_own_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "sub/inner.conf", "include deeper/*.conf;");
        write(tmp.path(), "sub/deeper/d.conf", "deep;");
        let main = write(tmp.path(), "main.conf", "include sub/inner.conf;");
        assert_eq!(names(&load_tree(&main).unwrap()), ["deep"]);
    }

    #[test]
    fn wildcard_matching_nothing_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(tmp.path(), "main.conf", "include none/*.conf; a;");
        assert_eq!(names(&load_tree(&main).unwrap()), ["a"]);
    }

    #[test]
    fn missing_literal_include_is_an_error_at_its_argument() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(tmp.path(), "main.conf", "a;\n  include nope.conf;");
        let err = load_tree(&main).unwrap_err().to_string();
        let want = format!(
            "{m}:2:11: open() \"{d}/nope.conf\" failed (No such file or directory)",
            m = main.display(),
            d = tmp.path().display()
        );
        assert_eq!(err, want);
    }

    #[test]
    fn include_cycle_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write(tmp.path(), "a.conf", "include b.conf;");
        let b = write(tmp.path(), "b.conf", "x;\ninclude a.conf;");
        let err = load_tree(&a).unwrap_err().to_string();
        let want = format!(
            "{}:2:9: include of \"{}\" is recursive",
            b.display(),
            a.display()
        );
        assert_eq!(err, want);
    }

    #[test]
    fn include_arity_and_block() {
        let tmp = tempfile::tempdir().unwrap();
        let main = write(tmp.path(), "m.conf", "include a b;");
        let err = load_tree(&main).unwrap_err().to_string();
        assert!(err.ends_with(":1:1: invalid number of arguments in \"include\" directive"));
        let main = write(tmp.path(), "m.conf", "include a { }");
        let err = load_tree(&main).unwrap_err().to_string();
        assert!(err.ends_with(":1:1: directive \"include\" is not terminated by \";\""));
    }

    #[test]
    fn syntax_error_in_included_file_names_that_file() {
        let tmp = tempfile::tempdir().unwrap();
        let inc = write(tmp.path(), "inc.conf", "a {\n");
        let main = write(tmp.path(), "m.conf", "include inc.conf;");
        let err = load_tree(&main).unwrap_err().to_string();
        let want = format!(
            "{}:2:1: unexpected end of file, expecting \"}}\"",
            inc.display()
        );
        assert_eq!(err, want);
    }

    #[test]
    fn unreadable_main_file_has_no_position() {
        let err = load_tree(Path::new("conf/x.conf")).unwrap_err();
        assert_eq!(err.pos, None);
        assert_eq!(
            err.to_string(),
            "open() \"conf/x.conf\" failed (No such file or directory)"
        );
    }
}
