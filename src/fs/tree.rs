//! Changing the tree beneath a base directory (WebDAV's PUT, MKCOL, DELETE, COPY,
//! MOVE). Every change names one entry of a directory held open ([`Entry`]: the
//! parent, opened strictly beneath the base by [`beneath::dir`], and a single name),
//! so no symlink or `..` in a request can make it land outside. Walking a tree never
//! follows a symlink: a link is removed as a link, and left out of a copy.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::beneath::{self, c_path, escape};

/// Deepest directory tree removed or copied (each level holds a descriptor).
const MAX_DEPTH: usize = 128;

/// One name in a directory held open.
pub struct Entry {
    /// The parent directory (`O_PATH`).
    pub dir: File,
    name: CString,
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A single path segment as a C string; `.`, `..` and empty names are refused.
fn name_of(name: &str) -> io::Result<CString> {
    if matches!(name, "" | "." | "..") || name.contains('/') {
        return Err(escape());
    }
    c_path(name.as_bytes())
}

/// `fstatat(2)` without following a symlink; `Ok(None)` when the name is missing.
fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated and `st` a valid out-pointer for the call.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    match check(r) {
        Ok(()) => Ok(Some(st)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a `stat` is a directory's.
pub fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn is_file(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// `openat(2)` of one name, never through a symlink.
fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<File> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated; the result is checked.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0o600 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the result is checked.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode as libc::mode_t) })
}

fn unlink_at(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the result is checked.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) })
}

fn rename_at(from: RawFd, old: &CStr, to: RawFd, new: &CStr) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated; the result is checked.
    check(unsafe { libc::renameat(from, old.as_ptr(), to, new.as_ptr()) })
}

/// Sets a name's access and modification times (not through a symlink).
fn set_time_at(dir: RawFd, name: &CStr, secs: i64) -> io::Result<()> {
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: `name` is NUL-terminated and `times` two valid timespecs.
    check(unsafe {
        libc::utimensat(
            dir,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// Sets an open file's access and modification times.
pub fn set_time(file: &File, when: SystemTime) -> io::Result<()> {
    let secs = match when.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: an open descriptor and two valid timespecs.
    check(unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) })
}

/// The names in an open directory (without `.` and `..`).
fn list(dir: &File) -> io::Result<Vec<CString>> {
    // SAFETY: dup(2) of an open descriptor; the result is checked.
    let fd = unsafe { libc::dup(dir.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is ours; on success the DIR stream owns it.
    let stream = unsafe { libc::fdopendir(fd) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `fd` is still ours to close.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    let mut names = Vec::new();
    loop {
        // SAFETY: `stream` is a valid DIR stream until closedir below.
        let ent = unsafe { libc::readdir(stream) };
        if ent.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry whose d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if !matches!(name.to_bytes(), b"." | b"..") {
            names.push(name.to_owned());
        }
    }
    // SAFETY: closes the stream (and the duplicated descriptor) once.
    unsafe { libc::closedir(stream) };
    Ok(names)
}

impl Entry {
    /// `rel` beneath `base` (slashes around it ignored); `Ok(None)` for the base
    /// itself. The parent must exist; the name need not.
    pub fn open(base: &Path, rel: &str) -> io::Result<Option<Entry>> {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return Ok(None);
        }
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let name = name_of(name)?;
        Ok(Some(Entry {
            dir: beneath::dir(base, dir)?,
            name,
        }))
    }

    /// The name `name` in the directory `dir`.
    pub fn in_dir(dir: File, name: &str) -> io::Result<Entry> {
        Ok(Entry {
            dir,
            name: name_of(name)?,
        })
    }

    fn fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }

    /// What the name is (a symlink's own `stat`); `None` when it does not exist.
    pub fn stat(&self) -> io::Result<Option<libc::stat>> {
        lstat_at(self.fd(), &self.name)
    }

    /// Creates the name as a directory.
    pub fn mkdir(&self, mode: u32) -> io::Result<()> {
        mkdir_at(self.fd(), &self.name, mode)
    }

    /// Removes the name: a file or link is unlinked, a directory removed with
    /// everything in it (nothing below is followed). Failures below the top are
    /// passed over, as nginx does; the top's removal then reports.
    pub fn remove(&self) -> io::Result<()> {
        remove_at(self.fd(), &self.name, 0)
    }

    /// Renames the name to `to` (replacing a file there, never following a link).
    pub fn rename_to(&self, to: &Entry) -> io::Result<()> {
        rename_at(self.fd(), &self.name, to.fd(), &to.name)
    }

    /// Opens the name for reading; a symlink is refused (`ELOOP`).
    pub fn open_read(&self) -> io::Result<File> {
        open_at(self.fd(), &self.name, libc::O_RDONLY | libc::O_NONBLOCK)
    }

    /// Copies the directory `self` names into the new directory `to` (created with
    /// the source's mode), files with their modes and times; links and special
    /// files are left out.
    pub fn copy_dir_to(&self, to: &Entry, st: &libc::stat) -> io::Result<()> {
        let src = open_at(self.fd(), &self.name, libc::O_RDONLY | libc::O_DIRECTORY)?;
        to.mkdir(st.st_mode & 0o7777)?;
        let dst = open_at(to.fd(), &to.name, libc::O_PATH | libc::O_DIRECTORY)?;
        copy_tree(&src, &dst, 0);
        // Best effort, as nginx: the tree is there even if the time is not.
        let _ = set_time_at(to.fd(), &to.name, st.st_mtime);
        Ok(())
    }

    /// Copies the regular file `src` (open) to this name, through a temporary file
    /// in the same directory renamed into place, with `mode` and the time `mtime`.
    pub fn copy_file_from(&self, src: &mut File, mode: u32, mtime: i64) -> io::Result<()> {
        let mut tmp = TempFile::create(&self.dir)?;
        io::copy(src, &mut tmp.file)?;
        // SAFETY: an open descriptor; the result is checked.
        check(unsafe { libc::fchmod(tmp.file.as_raw_fd(), mode as libc::mode_t) })?;
        let when = UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64);
        set_time(&tmp.file, when)?;
        tmp.persist(self)
    }
}

fn remove_at(dir: RawFd, name: &CStr, depth: usize) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Err(io::ErrorKind::NotFound.into());
    };
    if !is_dir(&st) {
        return unlink_at(dir, name, 0);
    }
    if depth >= MAX_DEPTH {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let sub = open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY)?;
    for child in list(&sub)? {
        if let Err(e) = remove_at(sub.as_raw_fd(), &child, depth + 1) {
            log::error!("removing {:?} failed: {e}", child);
        }
    }
    unlink_at(dir, name, libc::AT_REMOVEDIR)
}

/// Copies what `src` (an open directory) holds into `dst`; failures are logged and
/// passed over, as nginx's tree walk does.
fn copy_tree(src: &File, dst: &File, depth: usize) {
    let names = match list(src) {
        Ok(n) => n,
        Err(e) => return log::error!("reading a directory to copy failed: {e}"),
    };
    for name in names {
        if let Err(e) = copy_one(src, dst, &name, depth) {
            log::error!("copying {name:?} failed: {e}");
        }
    }
}

fn copy_one(src: &File, dst: &File, name: &CStr, depth: usize) -> io::Result<()> {
    let Some(st) = lstat_at(src.as_raw_fd(), name)? else {
        return Ok(());
    };
    let from = Entry {
        dir: src.try_clone()?,
        name: name.to_owned(),
    };
    let to = Entry {
        dir: dst.try_clone()?,
        name: name.to_owned(),
    };
    if is_dir(&st) {
        if depth + 1 >= MAX_DEPTH {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let sub_src = open_at(src.as_raw_fd(), name, libc::O_RDONLY | libc::O_DIRECTORY)?;
        match to.mkdir(st.st_mode & 0o7777) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let sub_dst = open_at(dst.as_raw_fd(), name, libc::O_PATH | libc::O_DIRECTORY)?;
        copy_tree(&sub_src, &sub_dst, depth + 1);
        set_time_at(dst.as_raw_fd(), name, st.st_mtime)
    } else if is_file(&st) {
        let mut file = from.open_read()?;
        to.copy_file_from(&mut file, st.st_mode & 0o7777, st.st_mtime)
    } else {
        // Symlinks, FIFOs, sockets, devices: not copied.
        Ok(())
    }
}

/// Opens the directory `rel` beneath `base`, creating what is missing of it (each
/// with `mode`).
pub fn make_dirs(base: &Path, rel: &str, mode: u32) -> io::Result<File> {
    let rel = rel.trim_matches('/');
    match beneath::dir(base, rel) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut cur = beneath::dir(base, "")?;
    let mut end = 0;
    for seg in rel.split('/') {
        end += seg.len();
        let prefix = &rel[..end];
        end += 1;
        if seg.is_empty() {
            continue;
        }
        cur = match beneath::dir(base, prefix) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match mkdir_at(cur.as_raw_fd(), &name_of(seg)?, mode) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                beneath::dir(base, prefix)?
            }
            other => other?,
        };
    }
    Ok(cur)
}

/// A file being written in a directory held open, removed unless persisted.
pub struct TempFile {
    dir: File,
    name: CString,
    pub file: File,
    kept: bool,
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    /// A new, empty file `.dav-…` (mode 0600) in `dir`.
    pub fn create(dir: &File) -> io::Result<TempFile> {
        let dir = dir.try_clone()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for _ in 0..16 {
            let n = SERIAL.fetch_add(1, Ordering::Relaxed);
            let name = format!(".dav-{:x}-{n:x}-{nanos:x}", std::process::id());
            let name = c_path(name.as_bytes())?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            match open_at(dir.as_raw_fd(), &name, flags) {
                Ok(file) => {
                    return Ok(TempFile {
                        dir,
                        name,
                        file,
                        kept: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::ErrorKind::AlreadyExists.into())
    }

    /// Renames the file to `to` (which replaces a file of that name).
    pub fn persist(mut self, to: &Entry) -> io::Result<()> {
        rename_at(self.dir.as_raw_fd(), &self.name, to.fd(), &to.name)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = unlink_at(self.dir.as_raw_fd(), &self.name, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A tree with a link to a directory outside: removing it removes the link,
    /// never what it points to; copying it leaves the link out.
    #[test]
    fn remove_and_copy_never_follow_links() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let t = root.path().join("t");
        std::fs::create_dir_all(t.join("sub")).unwrap();
        std::fs::write(t.join("sub/f"), "data").unwrap();
        symlink(outside.path(), t.join("out")).unwrap();
        let src = Entry::open(root.path(), "t").unwrap().unwrap();
        let dst = Entry::open(root.path(), "c").unwrap().unwrap();
        let st = src.stat().unwrap().unwrap();
        src.copy_dir_to(&dst, &st).unwrap();
        assert_eq!(std::fs::read(root.path().join("c/sub/f")).unwrap(), b"data");
        assert!(std::fs::symlink_metadata(root.path().join("c/out")).is_err());
        src.remove().unwrap();
        assert!(!t.exists());
        assert!(outside.path().join("keep").exists());
        // The entry's parent is opened beneath the base: a link out is refused.
        symlink(outside.path(), root.path().join("link")).unwrap();
        let err = Entry::open(root.path(), "link/keep").err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(Entry::open(root.path(), "").unwrap().is_none());
        assert!(Entry::open(root.path(), "a/..").is_err());
    }

    #[test]
    fn make_dirs_and_temp_files() {
        let root = tempfile::tempdir().unwrap();
        let dir = make_dirs(root.path(), "a/b/c", 0o755).unwrap();
        assert!(root.path().join("a/b/c").is_dir());
        let tmp = TempFile::create(&dir).unwrap();
        drop(tmp);
        assert_eq!(
            std::fs::read_dir(root.path().join("a/b/c"))
                .unwrap()
                .count(),
            0
        );
        let mut tmp = TempFile::create(&dir).unwrap();
        io::Write::write_all(&mut tmp.file, b"hi").unwrap();
        tmp.persist(&Entry::in_dir(dir, "f").unwrap()).unwrap();
        assert_eq!(std::fs::read(root.path().join("a/b/c/f")).unwrap(), b"hi");
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("out")).unwrap();
        assert!(make_dirs(root.path(), "out/x", 0o755).is_err());
        assert!(!outside.path().join("x").exists());
    }
}
