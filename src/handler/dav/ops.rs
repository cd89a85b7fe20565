//! WebDAV DELETE (a file, or a directory and all it holds) and MKCOL, with nginx's
//! checks and status codes. The base directory itself is never removed or created.

use super::headers::{self, Depth};
use super::{Done, status};
use crate::config::Location;
use crate::fs::tree::{self, Entry};
use crate::http::Request;

/// Whether `uri` has `min` segments before its last one (nginx's count: a `/`
/// numbered `min` or more followed by something).
pub fn deep_enough(uri: &str, min: u32) -> bool {
    if min == 0 {
        return true;
    }
    let mut slashes = 0;
    for (i, b) in uri.bytes().enumerate() {
        if b == b'/' {
            slashes += 1;
            if slashes >= min && i + 1 < uri.len() {
                return true;
            }
        }
    }
    false
}

/// DELETE: 204; a directory needs a URI ending in `/` (409) and `Depth: infinity`
/// (the default; else 400); a file `Depth` 0 or infinity. Too shallow for
/// `min_delete_depth` is 409, missing 404.
pub fn delete(loc: &Location, uri: &str, req: &Request) -> Result<Done, u16> {
    if !deep_enough(uri, loc.dav.min_delete_depth) {
        log::error!("insufficient URI depth to DELETE \"{uri}\"");
        return Err(409);
    }
    let file = loc.file_ref(uri);
    let entry = Entry::open(file.base, &file.rel)
        .map_err(|e| status(&e, not_found_or_conflict(&e)))?
        .ok_or(409u16)?;
    let st = entry.stat().map_err(|e| status(&e, 404))?.ok_or(404u16)?;
    let depth_header = req.header("depth");
    if tree::is_dir(&st) {
        if !uri.ends_with('/') {
            log::error!("DELETE \"{}\" failed: a directory", file.full().display());
            return Err(409);
        }
        if headers::depth(depth_header, Depth::Infinity) != Depth::Infinity {
            log::error!("\"Depth\" header must be infinity");
            return Err(400);
        }
    } else {
        if uri.ends_with('/') {
            // nginx's lstat("file/") fails with ENOTDIR.
            return Err(409);
        }
        if !matches!(
            headers::depth(depth_header, Depth::Zero),
            Depth::Zero | Depth::Infinity
        ) {
            log::error!("\"Depth\" header must be 0 or infinity");
            return Err(400);
        }
    }
    entry.remove().map_err(|e| status(&e, 404))?;
    Ok(Done::NoContent)
}

/// nginx answers 409 when a directory on the way is a file (ENOTDIR), else 404.
fn not_found_or_conflict(e: &std::io::Error) -> u16 {
    if e.raw_os_error() == Some(libc::ENOTDIR) {
        409
    } else {
        404
    }
}

/// MKCOL: the URI must end in `/` (409); 201, 405 when the name exists, 409 when
/// the parent is missing.
pub fn mkcol(loc: &Location, uri: &str) -> Result<Done, u16> {
    if !uri.ends_with('/') {
        log::error!("MKCOL can create a collection only: \"{uri}\"");
        return Err(409);
    }
    let file = loc.file_ref(uri);
    let entry = Entry::open(file.base, &file.rel)
        .map_err(|e| status(&e, 409))?
        .ok_or(405u16)?;
    entry
        .mkdir(loc.dav.dir_access())
        .map_err(|e| status(&e, 409))?;
    Ok(Done::Created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_delete_depth_table() {
        let cases = [
            ("/file", 0, true),
            ("/file", 1, true),
            ("/", 1, false),
            ("/min3/shallow", 3, false),
            ("/min3/a/b/deep", 3, true),
            ("/min3/a/b/", 3, true),
            ("/min3/a/", 3, false),
            ("/a/b", 2, true),
            ("/a/", 2, false),
        ];
        for (uri, min, want) in cases {
            assert_eq!(deep_enough(uri, min), want, "{uri} {min}");
        }
    }
}
