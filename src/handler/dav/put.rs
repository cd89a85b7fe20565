//! WebDAV PUT: the body is written, as it arrives, to a temporary file in the
//! target's directory (held open beneath the location's base from the head on),
//! then given `dav_access`, the `Date` header's time when it has a valid one (as
//! nginx does), and renamed over the target: a reader sees the old file or the
//! whole new one, and a body that never completes leaves nothing behind.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::time::SystemTime;

use super::{Done, status};
use crate::config::Location;
use crate::fs::beneath;
use crate::fs::tree::{self, Entry, TempFile};
use crate::http::Request;
use crate::http::body::{BodyError, BodySink};
use crate::http::date::parse_http_date;

/// A PUT whose body is being received.
pub struct Put {
    tmp: TempFile,
    target: Entry,
    access: u32,
    date: Option<SystemTime>,
}

/// Checks a PUT's head and opens its temporary file: a URI ending in `/` is 409, a
/// `Content-Range` 501 (nginx's answers), a missing directory 409 unless
/// `create_full_put_path`, a directory in the way 409.
pub fn begin(loc: &Location, uri: &str, req: &Request) -> Result<Put, u16> {
    if uri.ends_with('/') {
        log::error!("cannot PUT to a collection: \"{uri}\"");
        return Err(409);
    }
    if req.header("content-range").is_some() {
        log::error!("PUT with range is unsupported: \"{uri}\"");
        return Err(501);
    }
    let file = loc.file_ref(uri);
    let rel = file.rel.trim_matches('/');
    let (dirs, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if name.is_empty() {
        return Err(409);
    }
    let dir = if loc.dav.create_full_put_path {
        tree::make_dirs(file.base, dirs, loc.dav.dir_access())
    } else {
        beneath::dir(file.base, dirs)
    };
    let dir = dir.map_err(|e| status(&e, 409))?;
    let target = Entry::in_dir(dir, name).map_err(|e| status(&e, 409))?;
    if target
        .stat()
        .map_err(|e| status(&e, 409))?
        .is_some_and(|st| tree::is_dir(&st))
    {
        log::error!(
            "\"{}\" could not be created: a directory",
            file.full().display()
        );
        return Err(409);
    }
    let tmp = TempFile::create(&target.dir).map_err(|e| status(&e, 409))?;
    Ok(Put {
        tmp,
        target,
        access: loc.dav.access,
        date: req.header("date").and_then(parse_http_date),
    })
}

impl BodySink for Put {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.tmp.file.write_all(data).map_err(|e| BodyError::io(&e))
    }
}

impl Put {
    /// Renames the complete body into place: 201 for a new file, 204 for a
    /// replaced one, 409 if a directory took the name meanwhile.
    pub fn finish(self) -> Result<Done, u16> {
        let existed = match self.target.stat().map_err(|e| status(&e, 409))? {
            Some(st) if tree::is_dir(&st) => return Err(409),
            Some(_) => true,
            None => false,
        };
        let fd = self.tmp.file.as_raw_fd();
        // SAFETY: an open descriptor; the result is checked.
        if unsafe { libc::fchmod(fd, self.access as libc::mode_t) } < 0 {
            return Err(status(&io::Error::last_os_error(), 500));
        }
        if let Some(date) = self.date {
            tree::set_time(&self.tmp.file, date).map_err(|e| status(&e, 500))?;
        }
        self.tmp
            .persist(&self.target)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EISDIR) => 409,
                _ => status(&e, 409),
            })?;
        Ok(if existed {
            Done::NoContent
        } else {
            Done::Created
        })
    }
}
