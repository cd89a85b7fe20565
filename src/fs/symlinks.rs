//! Opening a file under nginx's `disable_symlinks` policies, by walking the path
//! one component at a time with `openat(2)` as nginx does:
//!
//! - `off`: the path is opened as it is, symlinks followed wherever they lead.
//! - `on`: no component may be a symlink (`O_NOFOLLOW` on each step).
//! - `if_not_owner`: a component may be a symlink only when the link and what it
//!   names have the same owner.
//!
//! The part of the path before `from` (nginx's `from=`) is opened as it is; only
//! the components after it are checked. A refused file link is `ELOOP` (nginx's
//! 403); a linked directory with `on` fails as no directory (`ENOTDIR`, a 404).
//! Without `disable_symlinks`, webserv keeps its own rule (see [`super::beneath`]).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `disable_symlinks off|on|if_not_owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    On,
    IfNotOwner,
}

/// How `path` is checked: the mode, and the length of the leading part that is
/// not (nginx's `from=`, resolved against this path by [`checked_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub mode: Mode,
    pub from: usize,
}

/// nginx's rule for `from=`: it counts only when it is a prefix of `path` ending
/// at a component boundary; a `from` equal to the whole path turns checks off.
pub fn checked_from(mode: Mode, path: &[u8], from: Option<&[u8]>) -> Check {
    let whole = Check { mode, from: 0 };
    let Some(from) = from.filter(|f| !f.is_empty() && path.starts_with(f)) else {
        return whole;
    };
    if from.len() == path.len() {
        return Check {
            mode: Mode::Off,
            from: 0,
        };
    }
    if path[from.len()] == b'/' {
        return Check {
            mode,
            from: from.len(),
        };
    }
    if from.ends_with(b"/") {
        return Check {
            mode,
            from: from.len() - 1,
        };
    }
    whole
}

/// Opens `path` (absolute) for reading, non-blocking, as `check` allows.
pub fn open(path: &Path, check: Check) -> io::Result<File> {
    if check.mode == Mode::Off {
        return std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
    }
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let fd = walk(path, check, flags)?;
    Ok(File::from(fd))
}

/// `stat(2)` of `path` as `check` allows (for `try_files` and `if -f`).
pub fn stat(path: &Path, check: Check) -> io::Result<libc::stat> {
    if check.mode == Mode::Off {
        let c = c_string(path.as_os_str().as_bytes())?;
        // SAFETY: `c` is NUL-terminated and alive; `st` is a valid out-pointer.
        return unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(c.as_ptr(), &mut st) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(st)
            }
        };
    }
    let fd = walk(path, check, libc::O_PATH | libc::O_CLOEXEC)?;
    fstat(&fd)
}

/// Opens the part before `check.from` as it is, then each later component below
/// the last, checked; the final one with `flags`.
fn walk(path: &Path, check: Check, flags: libc::c_int) -> io::Result<OwnedFd> {
    let bytes = path.as_os_str().as_bytes();
    if !bytes.starts_with(b"/") {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let from = check.from.min(bytes.len());
    let (head, tail) = bytes.split_at(from);
    let head = if head.is_empty() { &b"/"[..] } else { head };
    let names: Vec<&[u8]> = tail
        .split(|&b| b == b'/')
        .filter(|n| !n.is_empty() && *n != b".")
        .collect();
    let Some((last, dirs)) = names.split_last() else {
        // The path is the unchecked part itself.
        return open_at(libc::AT_FDCWD, head, flags);
    };
    let search = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let mut dir = open_at(libc::AT_FDCWD, head, search)?;
    for name in dirs {
        dir = step(&dir, name, search, check.mode)?;
    }
    // A trailing slash asks for a directory, as the kernel reads one.
    let last_flags = if bytes.ends_with(b"/") {
        flags | libc::O_DIRECTORY
    } else {
        flags
    };
    step(&dir, last, last_flags, check.mode)
}

/// One component below `dir`.
fn step(dir: &OwnedFd, name: &[u8], flags: libc::c_int, mode: Mode) -> io::Result<OwnedFd> {
    match mode {
        // O_PATH with O_NOFOLLOW opens a link itself (refused here); a linked
        // directory fails O_DIRECTORY with ENOTDIR, a 404, as in nginx.
        Mode::On => match open_at(dir.as_raw_fd(), name, flags | libc::O_NOFOLLOW) {
            Ok(fd) if is_link(&fstat(&fd)?) => Err(refused()),
            other => other,
        },
        Mode::IfNotOwner => {
            let fd = open_at(dir.as_raw_fd(), name, flags)?;
            let target = fstat(&fd)?;
            let entry = lstat_at(dir, name)?;
            if entry.st_uid != target.st_uid {
                return Err(refused());
            }
            Ok(fd)
        }
        Mode::Off => open_at(dir.as_raw_fd(), name, flags),
    }
}

fn refused() -> io::Error {
    io::Error::from_raw_os_error(libc::ELOOP)
}

fn is_link(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

fn c_string(p: &[u8]) -> io::Result<CString> {
    CString::new(p).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_at(dir: libc::c_int, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = c_string(name)?;
    // SAFETY: `c` is NUL-terminated and alive across the call; the result is checked.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is valid to overwrite; `fd` is open.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<libc::stat> {
    let c = c_string(name)?;
    // SAFETY: `c` is NUL-terminated, `dir` open, `st` a valid out-pointer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let r = libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn from_counts_at_component_boundaries() {
        let on = |from| Check {
            mode: Mode::On,
            from,
        };
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Check);
        let cases: [Case; 7] = [
            (b"/a/b/c", None, on(0)),
            (b"/a/b/c", Some(b"/a/b"), on(4)),
            (b"/a/b/c", Some(b"/a/b/"), on(4)),
            (b"/a/bc", Some(b"/a/b"), on(0)),
            (b"/a/b/c", Some(b"/x"), on(0)),
            (b"/a/b/c", Some(b""), on(0)),
            (
                b"/a/b/c",
                Some(b"/a/b/c"),
                Check {
                    mode: Mode::Off,
                    from: 0,
                },
            ),
        ];
        for (path, from, want) in cases {
            assert_eq!(
                checked_from(Mode::On, path, from),
                want,
                "{path:?} {from:?}"
            );
        }
    }

    #[test]
    fn links_are_refused_or_followed_by_mode() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "x").unwrap();
        symlink("f", d.join("sub/link")).unwrap();
        symlink("sub", d.join("dirlink")).unwrap();
        let check = |mode| Check { mode, from: 0 };
        let errno = |r: io::Result<File>| r.err().and_then(|e| e.raw_os_error());
        for mode in [Mode::Off, Mode::On, Mode::IfNotOwner] {
            assert!(open(&d.join("sub/f"), check(mode)).is_ok(), "{mode:?}");
            assert_eq!(
                errno(open(&d.join("sub/none"), check(mode))),
                Some(libc::ENOENT)
            );
        }
        // The same owner: only `on` refuses.
        assert!(open(&d.join("sub/link"), check(Mode::Off)).is_ok());
        assert!(open(&d.join("sub/link"), check(Mode::IfNotOwner)).is_ok());
        assert_eq!(
            errno(open(&d.join("sub/link"), check(Mode::On))),
            Some(libc::ELOOP)
        );
        assert_eq!(
            errno(open(&d.join("dirlink/f"), check(Mode::On))),
            Some(libc::ENOTDIR)
        );
        assert!(stat(&d.join("sub/link"), check(Mode::On)).is_err());
        assert!(stat(&d.join("sub/f"), check(Mode::On)).is_ok());
        // `from=` past the link: not checked.
        let path = d.join("dirlink/f");
        let from = d.join("dirlink");
        let c = checked_from(
            Mode::On,
            path.as_os_str().as_bytes(),
            Some(from.as_os_str().as_bytes()),
        );
        assert!(open(&path, c).is_ok());
        // A file asked for as a directory.
        assert_eq!(
            errno(open(&d.join("sub/f/"), check(Mode::Off))),
            Some(libc::ENOTDIR)
        );
        assert!(open(&d.join("sub/f/"), check(Mode::IfNotOwner)).is_err());
    }
}
