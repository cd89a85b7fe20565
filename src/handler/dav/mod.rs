//! nginx's WebDAV module (`dav_methods`): PUT ([`put`]), DELETE and MKCOL
//! ([`ops`]), COPY and MOVE ([`copy`]), with nginx's status codes. Every file
//! operation names an entry of a directory opened strictly beneath the location's
//! base (`fs::tree`), so nothing a request sends (the URI, `Destination`, symlinks
//! in the tree) can make it read or change anything outside.
//!
//! Where `dav_methods` names a method it is served without `allow_methods`, as in
//! nginx; a configuration without `dav_methods` answers MKCOL, COPY and MOVE 501,
//! as before the module existed ([`gate`]).

pub mod copy;
pub mod headers;
pub mod ops;
pub mod put;

use std::io;

use super::{Cx, Routed, path};
use crate::config::Config;
use crate::http::request::HeadError;
use crate::http::{Framing, Method, Request, Response};

/// What a successful operation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// 204.
    NoContent,
    /// 201 with `Location` (PUT, MKCOL).
    Created,
    /// 201 without `Location` (a directory copied or moved).
    CreatedTree,
}

/// A parsed head with a WebDAV-only method becomes 501 (an unknown method) when no
/// location of the configuration has `dav_methods`, exactly as before the module.
pub fn gate(
    config: &Config,
    head: Option<(Request, usize)>,
) -> Result<Option<(Request, usize)>, HeadError> {
    match &head {
        Some((req, _)) if req.method.is_dav_only() && !any_dav(config) => {
            Err(HeadError::UnknownMethod)
        }
        _ => Ok(head),
    }
}

fn any_dav(config: &Config) -> bool {
    config
        .servers
        .iter()
        .any(|s| s.locations.iter().any(|l| l.dav.methods != 0))
}

/// Serves DELETE, MKCOL, COPY or MOVE in a location whose `dav_methods` names it.
pub fn serve(cx: &Cx, r: &Routed) -> Result<Response, u16> {
    let loc = r.location(cx.config);
    let req = cx.req;
    let has_body = match req.framing {
        Framing::Length(n) => n > 0,
        Framing::Chunked => true,
        Framing::None => false,
    };
    if has_body {
        log::error!("{} with body is unsupported", req.method);
        return Err(415);
    }
    let done = match req.method {
        Method::Delete => ops::delete(loc, &r.path, req)?,
        Method::Mkcol => ops::mkcol(loc, &r.path)?,
        Method::Copy | Method::Move => copy::copy_move(loc, &r.path, req, cx.origin.tls)?,
        _ => return Err(405),
    };
    Ok(respond(cx, r, done))
}

/// The response for a finished operation.
pub fn respond(cx: &Cx, r: &Routed, done: Done) -> Response {
    match done {
        Done::NoContent => Response::new(204),
        Done::CreatedTree => Response::new(201),
        Done::Created => {
            let mut resp = Response::new(201);
            resp.header("Location", cx.absolute(r, &path::encode(&r.path), true));
            resp
        }
    }
}

/// nginx's `ngx_http_dav_error`: the status for a failed file operation, with
/// `not_found` for a missing name (or a file where a directory should be).
pub fn status(e: &io::Error, not_found: u16) -> u16 {
    let code = match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => not_found,
        Some(libc::EACCES | libc::EPERM | libc::ELOOP) => 403,
        Some(libc::EEXIST) => 405,
        Some(libc::ENOSPC | libc::EDQUOT) => 507,
        // A path that would leave the base.
        None if e.kind() == io::ErrorKind::PermissionDenied => 403,
        None if e.kind() == io::ErrorKind::NotFound => not_found,
        _ => 500,
    };
    if code >= 500 {
        log::error!("WebDAV file operation failed: {e}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        let os = io::Error::from_raw_os_error;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("x")).unwrap();
        // A path climbing out of its base.
        let escape = crate::fs::beneath::dir(&root.path().join("x"), "..").unwrap_err();
        let cases = [
            (os(libc::ENOENT), 409, 409),
            (os(libc::ENOTDIR), 404, 404),
            (os(libc::ENAMETOOLONG), 404, 404),
            (os(libc::EACCES), 404, 403),
            (os(libc::EPERM), 404, 403),
            (os(libc::ELOOP), 404, 403),
            (os(libc::EEXIST), 409, 405),
            (os(libc::ENOSPC), 404, 507),
            (os(libc::EIO), 404, 500),
            (escape, 404, 403),
        ];
        for (e, not_found, want) in cases {
            assert_eq!(status(&e, not_found), want, "{e}");
        }
    }
}
