//! Opening files strictly beneath a base directory, symlinks included, with one
//! `openat2(2)` call (`RESOLVE_BENEATH`): the kernel refuses any path that would
//! leave the base, so there is no window between a check and the open. Base
//! directories stay open in a small per-thread cache; each use checks (one `stat`)
//! that the path still names the same directory, so a replaced document root
//! (`rm -rf www; mkdir www`, `mv www.new www`) is seen by the next request. Kernels
//! without openat2 fall back to an open followed by a canonical-path check.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// A directory's (device, inode).
type DirId = (u64, u64);

thread_local! {
    /// Open base directories, with the identity they were opened as.
    static BASES: RefCell<HashMap<PathBuf, (OwnedFd, DirId)>> = RefCell::new(HashMap::new());
    /// Scratch for building NUL-terminated paths without allocating.
    static PATH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Set once openat2 turned out to be missing (ENOSYS).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (a clean relative path, `""` for the base itself) below `base` for
/// reading. An escape attempt fails with `PermissionDenied`.
pub fn open(base: &Path, rel: &str) -> io::Result<File> {
    let rel = rel.trim_start_matches('/');
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match with_base(base, |dir| openat2(dir, rel)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed)
            }
            // RESOLVE_BENEATH refuses every absolute symlink, even one that points
            // back inside; those (rare) cases get the canonical-path check.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && was_escape(&e) => {}
            other => return other,
        }
    }
    fallback(base, rel)
}
/// `stat(2)` of `base/rel` as the tree is now (symlinks followed, one syscall), so a
/// replaced base directory is seen. Not a containment check: callers compare the
/// result with a file they opened below the base.
pub fn stat(base: &Path, rel: &str) -> io::Result<libc::stat> {
    let rel = rel.trim_start_matches('/');
    PATH.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.extend_from_slice(base.as_os_str().as_bytes());
        if !rel.is_empty() {
            buf.push(b'/');
            buf.extend_from_slice(rel.as_bytes());
        }
        if buf.contains(&0) {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        buf.push(0);
        stat_c(buf.as_ptr().cast())
    })
}

/// `stat(2)` of a NUL-terminated path.
fn stat_c(path: *const libc::c_char) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the caller passes a NUL-terminated path alive across the call, and
    // `st` is a valid out-pointer.
    let r = unsafe { libc::stat(path, &mut st) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(st)
    }
}

/// Runs `f` with a descriptor of `base`, reopened when the path no longer names the
/// directory the held descriptor was opened as.
fn with_base<T>(base: &Path, f: impl FnOnce(&OwnedFd) -> io::Result<T>) -> io::Result<T> {
    let now = stat(base, "")?;
    let id = (now.st_dev, now.st_ino);
    BASES.with(|cell| {
        let mut map = cell.borrow_mut();
        if map.get(base).is_none_or(|(_, held)| *held != id) {
            let fd = open_dir(base)?;
            // What was really opened (the path may have changed since the stat).
            let opened = File::from(fd.try_clone()?).metadata()?;
            let id = (opened.dev(), opened.ino());
            if map.len() > 256 {
                map.clear();
            }
            map.insert(base.to_path_buf(), (fd, id));
        }
        match map.get(base) {
            Some((fd, _)) => f(fd),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    })
}

pub(super) fn c_path(p: &[u8]) -> io::Result<CString> {
    CString::new(p).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = c_path(path.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated string; the result is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `struct open_how` of openat2(2) (libc's is marked non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Flags of every read open: `O_NONBLOCK` so that a FIFO (or a device) in the tree
/// opens at once instead of blocking the worker until a writer comes; the caller
/// then refuses what is not a regular file or a directory.
const READ_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;

fn openat2(dir: &OwnedFd, rel: &str) -> io::Result<File> {
    openat2_with(dir, rel, READ_FLAGS)
}

fn openat2_with(dir: &OwnedFd, rel: &str, flags: libc::c_int) -> io::Result<File> {
    let c = c_path(if rel.is_empty() { b"." } else { rel.as_bytes() })?;
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2(2) reads `how` (of the size we pass) and the path string;
    // both live across the call. The result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // EXDEV: the path tried to leave the base.
        return Err(if e.raw_os_error() == Some(libc::EXDEV) {
            escape()
        } else {
            e
        });
    }
    // SAFETY: a new descriptor returned by the kernel, owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

/// The error for a path that leaves its base.
pub(super) fn escape() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, EscapeError)
}

fn was_escape(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<EscapeError>())
}

#[derive(Debug)]
struct EscapeError;

impl std::fmt::Display for EscapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("path leaves its base directory")
    }
}

impl std::error::Error for EscapeError {}

fn fallback(base: &Path, rel: &str) -> io::Result<File> {
    let full = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&full)?;
    if super::inside(&full, base) {
        Ok(file)
    } else {
        Err(escape())
    }
}

/// Opens the directory `rel` (`""` for the base itself) strictly beneath `base` as
/// an `O_PATH` descriptor, for the `*at` calls of [`super::tree`]. An escape fails
/// with `PermissionDenied`, as [`open`] does.
pub fn dir(base: &Path, rel: &str) -> io::Result<File> {
    let rel = rel.trim_matches('/');
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match with_base(base, |fd| openat2_with(fd, rel, flags)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed)
            }
            // An absolute symlink: judged by its canonical path below.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && was_escape(&e) => {}
            other => return other,
        }
    }
    let full = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let fd = open_dir(&full)?;
    if super::inside(&full, base) {
        Ok(File::from(fd))
    } else {
        Err(escape())
    }
}

/// A name beneath a base directory, held by its parent directory, to be removed
/// (DELETE): the parent is opened strictly beneath the base and the name is
/// removed from that descriptor, so neither a symlink nor a renamed directory on
/// the way can make the removal land outside.
pub struct Doomed {
    parent: File,
    name: CString,
    /// The name itself (`O_PATH | O_NOFOLLOW`: a symlink is the link, not its target).
    entry: File,
}

impl Doomed {
    /// The last segment of `rel` below `base`; `Ok(None)` when `rel` names the base
    /// itself. An escape fails with `PermissionDenied`, a missing name `NotFound`.
    pub fn open(base: &Path, rel: &str) -> io::Result<Option<Doomed>> {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return Ok(None);
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if matches!(name, "." | "..") {
            return Err(escape());
        }
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let parent = if NO_OPENAT2.load(Ordering::Relaxed) {
            let full = base.join(dir);
            if !super::inside(&full, base) {
                return Err(escape());
            }
            File::from(open_dir(&full)?)
        } else {
            with_base(base, |fd| openat2_with(fd, dir, dir_flags))?
        };
        let name = c_path(name.as_bytes())?;
        // SAFETY: `parent` is an open directory, `name` a NUL-terminated single name
        // (no `/`); the result is checked.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor, owned by nobody else.
        let entry = unsafe { File::from_raw_fd(fd) };
        Ok(Some(Doomed {
            parent,
            name,
            entry,
        }))
    }

    /// What the name is (a symlink's own metadata).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.entry.metadata()
    }

    /// Removes the name (not a directory).
    pub fn remove(self) -> io::Result<()> {
        // SAFETY: both arguments are valid for the call; the result is checked.
        let r = unsafe { libc::unlinkat(self.parent.as_raw_fd(), self.name.as_ptr(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A document root replaced by another directory is seen by the very next open
    /// and stat (no descriptor of the old tree is trusted).
    #[test]
    fn a_replaced_base_is_seen_at_once() {
        use std::io::Read;
        let parent = tempfile::tempdir().unwrap();
        let base = parent.path().join("www");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("f"), "old").unwrap();
        let read = || {
            let mut s = String::new();
            open(&base, "f").unwrap().read_to_string(&mut s).unwrap();
            s
        };
        assert_eq!(read(), "old");
        let old_ino = stat(&base, "f").unwrap().st_ino;
        // mv www.new www
        let new = parent.path().join("www.new");
        std::fs::create_dir(&new).unwrap();
        std::fs::write(new.join("f"), "new").unwrap();
        std::fs::rename(&base, parent.path().join("www.old")).unwrap();
        std::fs::rename(&new, &base).unwrap();
        assert_eq!(read(), "new");
        assert_ne!(stat(&base, "f").unwrap().st_ino, old_ino);
        // rm -rf www; mkdir www
        std::fs::remove_dir_all(&base).unwrap();
        assert!(open(&base, "f").is_err());
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("f"), "again").unwrap();
        assert_eq!(read(), "again");
    }

    #[test]
    fn opens_inside_and_refuses_escapes() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.txt"), b"inside").unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        std::os::unix::fs::symlink("../a.txt", root.path().join("sub/up")).unwrap();
        let mut s = String::new();
        open(root.path(), "a.txt")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "inside");
        assert!(
            open(root.path(), "sub/up").is_ok(),
            "a link that stays inside is fine"
        );
        assert!(open(root.path(), "").unwrap().metadata().unwrap().is_dir());
        let denied = |rel: &str| open(root.path(), rel).unwrap_err().kind();
        assert_eq!(denied("link"), io::ErrorKind::PermissionDenied);
        let name = outside.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(
            denied(&format!("../{name}/secret")),
            io::ErrorKind::PermissionDenied
        );
        let abs_inside = root.path().join("a.txt");
        std::os::unix::fs::symlink(&abs_inside, root.path().join("abs")).unwrap();
        assert!(
            open(root.path(), "abs").is_ok(),
            "an absolute link back inside is fine"
        );
        assert_eq!(
            open(root.path(), "missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            fallback(root.path(), "link").unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
    }
}
