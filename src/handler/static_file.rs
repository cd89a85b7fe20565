//! Static content: files (with conditional GET; ranges are cut by `range`), directory
//! redirects and autoindex (`index` files are an internal redirect, see `phases`). Files are never read into memory here: the
//! response carries the open file and the connection sends it (sendfile).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::autoindex;
use super::file_cache::{self, Opened};
use super::path::encode;
use super::precompressed;
use super::precondition::{self, Validators, Verdict};
use crate::config::Location;
use crate::http::date::http_date;
use crate::http::{Body, Request, Response};

/// GET/HEAD of a clean path in `loc`. `Err(status)` asks for an error page.
pub fn serve(loc: &Location, path: &str, req: &Request) -> Result<Response, u16> {
    let target = loc.file_ref(path);
    let (base, rel) = (target.base, target.rel.as_ref());
    // A pre-compressed sibling answers first, as nginx's gzip_static does (the file
    // itself need not exist): one stat, not two.
    if let Some((sibling, enc)) = precompressed::find(loc, base, rel, req) {
        return serve_file(loc, rel, sibling, Some(enc), req);
    }
    let opened = open(loc, base, rel)?;
    if !opened.meta.is_dir() {
        return serve_file(loc, rel, opened, None, req);
    }
    if !path.ends_with('/') {
        return Ok(redirect_to_slash(path, req));
    }
    if loc.autoindex {
        // The directory just opened beneath the base, not its path again: what is
        // listed is what was checked.
        let dir = format!("/proc/self/fd/{}", opened.file.as_raw_fd());
        return autoindex::listing(Path::new(&dir), path, loc.listing, req.query());
    }
    Err(403)
}

/// An `error_page` target: a plain file (no ranges, no conditionals, no listing).
pub fn serve_error_page(loc: &Location, path: &str) -> Result<Response, u16> {
    let target = loc.file_ref(path);
    let opened = open(loc, target.base, &target.rel)?;
    if opened.meta.is_dir() && !path.ends_with('/') {
        return Err(301);
    }
    if !opened.meta.is_file() {
        return Err(404);
    }
    let mut resp = Response::new(200);
    resp.header("Content-Type", content_type(&target.rel, loc));
    let len = opened.meta.len();
    resp.body = file_body(loc, opened, 0, len);
    Ok(resp)
}

/// What a URI names, for `try_files` and `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Other,
}

/// What `uri` names in `loc`, with one `stat` (nothing is opened: the file is opened,
/// strictly below the root, only when it is served); `None` if nothing is there.
pub fn probe(loc: &Location, uri: &str) -> Option<Kind> {
    let target = loc.file_ref(uri);
    let full = target.full();
    let st = match loc.symlink_check(&full, loc.symlinks_from_value()) {
        Some(check) => crate::fs::symlinks::stat(&full, check).ok()?,
        None => crate::fs::beneath::stat(target.base, &target.rel).ok()?,
    };
    Some(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        _ => Kind::Other,
    })
}

/// Opens a path strictly below `base` (symlinks may not lead out: 403), through
/// the open file cache.
fn open(loc: &Location, base: &Path, rel: &str) -> Result<Opened, u16> {
    let rel_path = rel.trim_start_matches('/');
    let full = if rel_path.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel_path)
    };
    let opened = match loc.symlink_check(&full, loc.symlinks_from_value()) {
        // `disable_symlinks`: the path walked as nginx does, past the cache (whose
        // entries were opened under webserv's own rule).
        Some(check) => crate::fs::symlinks::open(&full, check)
            .and_then(|f| file_cache::wrap(f, &full))
            .inspect_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    log::error!(
                        "open() \"{}\" failed ({}: Too many levels of symbolic links)",
                        full.display(),
                        libc::ELOOP
                    );
                }
            }),
        None => file_cache::open(base, rel, loc.open_file_cache),
    };
    opened.map_err(|e| {
        let status = io_status(&e);
        // nginx's line for a missing file (log_not_found on); a FIFO has its own.
        if loc.log_not_found && e.raw_os_error() == Some(libc::ENOENT) {
            let file = base.join(rel.trim_start_matches('/'));
            let errno = libc::ENOENT;
            log::error!(
                "open() \"{}\" failed ({errno}: No such file or directory)",
                file.display()
            );
        }
        status
    })
}

/// The body for `len` bytes at `offset`: the cached bytes of a small file, or
/// the open file for the connection to send.
fn file_body(loc: &Location, opened: Opened, offset: u64, len: u64) -> Body {
    if let Some(data) = opened.data
        && offset + len <= data.len() as u64
    {
        return Body::Shared {
            data,
            offset: offset as usize,
            len: len as usize,
        };
    }
    Body::File {
        file: opened.file,
        offset,
        len,
        sendfile: loc.sendfile,
        aio: loc.aio,
    }
}

/// Maps a filesystem error to the status nginx gives it. A name too long for the
/// filesystem (ENAMETOOLONG) names no file: 404, as nginx answers; 414 is only for
/// a request line longer than `client_header_buffer_size`.
pub fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => 404,
        _ if e.raw_os_error() == Some(libc::ELOOP) => 403,
        _ => 500,
    }
}

/// `/dir` → 301 `/dir/` (query kept), as nginx does for directories.
fn redirect_to_slash(path: &str, req: &Request) -> Response {
    let mut location = encode(path);
    location.push('/');
    if let Some(q) = req.query() {
        location.push('?');
        location.push_str(q);
    }
    let mut resp = Response::with_body(
        301,
        super::charset::GENERATED_HTML,
        crate::http::response::error_body(301),
    );
    resp.header("Location", location);
    resp
}

fn content_type(rel: &str, loc: &Location) -> String {
    // A `types` map is the whole table, as in nginx; without one, mime_guess's.
    if let Some(types) = &loc.types {
        return crate::config::mime_lookup(types, rel)
            .unwrap_or(&loc.default_type)
            .to_owned();
    }
    match mime_for(rel) {
        Some(m) => m.to_owned(),
        None => loc.default_type.clone(),
    }
}

thread_local! {
    /// Extension → MIME type, remembered per worker (mime_guess searches its table).
    static MIME_CACHE: RefCell<HashMap<Box<str>, Option<&'static str>>> = RefCell::new(HashMap::new());
}

/// The MIME type mime_guess gives the file name's extension.
fn mime_for(rel: &str) -> Option<&'static str> {
    let ext = Path::new(rel).extension()?.to_str()?;
    MIME_CACHE.with(|cache| {
        if let Some(found) = cache.borrow().get(ext) {
            return *found;
        }
        let found = mime_guess::from_ext(ext).first_raw();
        let mut cache = cache.borrow_mut();
        if cache.len() < 1024 {
            cache.insert(ext.into(), found);
        }
        found
    })
}

/// `opened` is the file, or its pre-compressed sibling in `encoding`: served with
/// its own validators and byte ranges, and the file's Content-Type.
fn serve_file(
    loc: &Location,
    rel: &str,
    opened: Opened,
    encoding: Option<crate::filter::Encoding>,
    req: &Request,
) -> Result<Response, u16> {
    let meta = &opened.meta;
    if !meta.is_file() {
        return Err(403);
    }
    let mut current = Validators::of(meta);
    // `etag off`: no ETag, so If-None-Match and an entity-tag If-Range match only `*`.
    if !loc.etag {
        current.etag.clear();
    }
    let verdict = precondition::evaluate_with(req, Some(&current), loc.if_modified_since);
    if verdict == Verdict::Failed {
        return Err(412);
    }
    let Validators { etag, mtime } = current;
    let mut resp = Response::new(200);
    resp.header("Content-Type", content_type(rel, loc));
    if let Some(enc) = encoding {
        resp.header("Content-Encoding", enc.token());
    }
    if loc.compression.vary && precompressed::varies(loc) {
        crate::filter::add_vary(&mut resp);
    }
    resp.header("Last-Modified", http_date(mtime));
    if loc.etag {
        resp.header("ETag", etag.clone());
    }
    if verdict == Verdict::NotModified {
        resp.status = 304;
        return Ok(resp);
    }
    // The whole file; the range filter (`handler::range`) cuts it if asked.
    resp.allow_ranges = true;
    let len = meta.len();
    resp.body = file_body(loc, opened, 0, len);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(mime_for("/a/index.html"), Some("text/html"));
        assert_eq!(mime_for("/a/INDEX.HTML"), Some("text/html"));
        assert_eq!(mime_for("/img/logo.svg"), Some("image/svg+xml"));
        assert_eq!(mime_for("/a/b.html"), Some("text/html"), "cached answer");
        assert_eq!(mime_for("/noext"), None);
        assert_eq!(mime_for("/x.unknownext"), None);
    }

    #[test]
    fn filesystem_errors_map_to_nginx_statuses() {
        let cases = [
            (libc::ENOENT, 404),
            (libc::ENOTDIR, 404),
            (libc::ENAMETOOLONG, 404),
            (libc::EACCES, 403),
            (libc::ELOOP, 403),
            (libc::EIO, 500),
        ];
        for (errno, want) in cases {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(io_status(&e), want, "errno {errno}");
        }
    }
}
