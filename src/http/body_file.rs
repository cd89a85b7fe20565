//! A request body's file and what variables see of a read body: the file a body
//! spills to has a name (`$request_body_file`), removed when the last holder of it
//! (the spool, the request's variables) lets go, unless `client_body_in_file_only
//! on` asked for it to stay; `$request_body` is the body kept in memory.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// The name of a request body's file. Cloned into the request's variables, so
/// the file outlives the spool that wrote it until the request is done.
#[derive(Debug, Clone)]
pub struct BodyFile(Arc<Name>);

#[derive(Debug)]
enum Name {
    /// Removed from the directory when dropped.
    Temporary(tempfile::TempPath),
    /// Left in place (`client_body_in_file_only on`).
    Kept(std::path::PathBuf),
}

impl BodyFile {
    pub fn path(&self) -> &Path {
        match &*self.0 {
            Name::Temporary(p) => p,
            Name::Kept(p) => p,
        }
    }

    /// A new empty file in `dir` (the system's temporary directory for `None`),
    /// made on first use as nginx makes its temp paths; `keep`: left in place
    /// after the request.
    pub fn create(dir: Option<&Path>, keep: bool) -> std::io::Result<(File, BodyFile)> {
        let named = match dir {
            Some(dir) => tempfile::Builder::new()
                .prefix("body-")
                .tempfile_in(dir)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        std::fs::create_dir_all(dir)?;
                        tempfile::Builder::new().prefix("body-").tempfile_in(dir)
                    }
                    _ => Err(e),
                })?,
            None => tempfile::Builder::new().prefix("body-").tempfile()?,
        };
        let (file, path) = named.into_parts();
        let name = if keep {
            match path.keep() {
                Ok(p) => Name::Kept(p),
                Err(e) => return Err(e.error),
            }
        } else {
            Name::Temporary(path)
        };
        Ok((file, BodyFile(Arc::new(name))))
    }
}

/// What the request's variables see of its body once read.
#[derive(Debug, Clone)]
pub enum BodyView {
    /// The body stayed in memory: `$request_body`.
    Memory(Arc<[u8]>),
    /// The body went to a file: `$request_body_file` (no `$request_body`).
    File(BodyFile),
}

impl BodyView {
    /// `$request_body`: the bytes, when the body is in memory.
    pub fn memory(&self) -> Option<&[u8]> {
        match self {
            BodyView::Memory(m) => Some(m),
            BodyView::File(_) => None,
        }
    }

    /// `$request_body_file`: the file's name, when the body is in a file.
    pub fn file(&self) -> Option<&Path> {
        match self {
            BodyView::Memory(_) => None,
            BodyView::File(f) => Some(f.path()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_go_with_their_last_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (_f, name) = BodyFile::create(Some(dir.path()), false).unwrap();
        let path = name.path().to_path_buf();
        assert!(path.starts_with(dir.path()) && path.exists());
        let copy = name.clone();
        drop(name);
        assert!(path.exists(), "a clone still holds it");
        drop(copy);
        assert!(!path.exists(), "removed with the last holder");
    }

    #[test]
    fn kept_names_stay_and_missing_dirs_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        let (_f, name) = BodyFile::create(Some(&sub), true).unwrap();
        let path = name.path().to_path_buf();
        drop(name);
        assert!(path.exists() && path.starts_with(&sub));
    }
}
