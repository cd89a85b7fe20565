//! WebDAV COPY and MOVE, in nginx's order of checks: `Destination` (400), both
//! URIs collections or neither (409), `Depth` (COPY 0 or infinity, MOVE infinity:
//! 400), `Overwrite` (400), the same or a nested place (403), a directory in the
//! way of a file (409), an existing target with `Overwrite: F` (412). The
//! destination is mapped by this location's `root`/`alias`, as nginx maps it.
//!
//! Unlike nginx, a copy never reads through a symlink that leads out of the tree
//! (a copied link to a file inside is copied as that file; links inside a copied
//! directory are left out), and a copied file replaces its target by a rename, so
//! a link at the destination is replaced, never written through.

use std::io;

use super::headers::{self, Depth};
use super::{Done, status};
use crate::config::Location;
use crate::fs::beneath;
use crate::fs::tree::{self, Entry};
use crate::http::{Method, Request};

/// COPY or MOVE of `uri` to the request's `Destination`.
pub fn copy_move(loc: &Location, uri: &str, req: &Request, tls: bool) -> Result<Done, u16> {
    let is_move = req.method == Method::Move;
    let Some(dest) = req.header("destination") else {
        log::error!("client sent no \"Destination\" header");
        return Err(400);
    };
    let duri = headers::destination(dest, req.host.as_deref(), tls).ok_or_else(|| {
        log::error!("client sent invalid \"Destination\" header: \"{dest}\"");
        400u16
    })?;
    let slash = duri.ends_with('/');
    if uri.ends_with('/') != slash {
        log::error!("both \"{uri}\" and \"Destination\" \"{dest}\" should be collections or not");
        return Err(409);
    }
    if loc.alias.is_some() && duri.len() < loc.path.len() {
        return Err(400);
    }
    match headers::depth(req.header("depth"), Depth::Infinity) {
        Depth::Infinity => {}
        Depth::Zero if !is_move => {}
        _ => {
            log::error!("invalid \"Depth\" header for {}", req.method);
            return Err(400);
        }
    }
    let overwrite = headers::overwrite(req.header("overwrite")).ok_or(400u16)?;
    let src = loc.file_ref(uri);
    let dst = loc.file_ref(&duri);
    let (src_path, dst_path) = (src.full(), dst.full());
    if nested(
        &src_path.to_string_lossy(),
        &dst_path.to_string_lossy(),
        slash,
    ) {
        log::error!("\"{uri}\" and \"Destination\" \"{dest}\" overlap");
        return Err(403);
    }
    // The base itself is never a source or a target.
    let to = match Entry::open(dst.base, &dst.rel) {
        Ok(Some(e)) => Some(e),
        Ok(None) => return Err(403),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(status(&e, 404)),
    };
    let existing = match &to {
        Some(e) => e.stat().map_err(|e| status(&e, 404))?,
        None => None,
    };
    let mut replace = false;
    if let Some(st) = &existing {
        let dir = tree::is_dir(st);
        if slash && !dir {
            return Err(404);
        }
        if dir && !slash {
            return Err(409);
        }
        if !overwrite {
            return Err(412);
        }
        replace = true;
    }
    let from = Entry::open(src.base, &src.rel)
        .map_err(|e| status(&e, 404))?
        .ok_or(403u16)?;
    let st = from.stat().map_err(|e| status(&e, 404))?.ok_or(404u16)?;
    if tree::is_dir(&st) {
        if !uri.ends_with('/') {
            return Err(400);
        }
        let Some(to) = to else {
            // nginx: creating the directory fails (ENOENT).
            return Err(404);
        };
        if replace {
            to.remove().map_err(|e| status(&e, 404))?;
        }
        if is_move && from.rename_to(&to).is_ok() {
            return Ok(Done::CreatedTree);
        }
        from.copy_dir_to(&to, &st).map_err(|e| status(&e, 404))?;
        if is_move {
            from.remove().map_err(|e| status(&e, 404))?;
        }
        return Ok(Done::CreatedTree);
    }
    if uri.ends_with('/') {
        return Err(404);
    }
    if is_move {
        move_file(loc, &from, to, &dst.rel, dst.base)?;
    } else {
        let to = to.ok_or(500u16)?;
        // Through beneath-open: a link is copied as what it points to inside the
        // tree; one leading out is refused.
        let mut file = beneath::open(src.base, &src.rel).map_err(|e| status(&e, 404))?;
        let meta = file.metadata().map_err(|e| status(&e, 404))?;
        if !meta.is_file() {
            return Err(403);
        }
        use std::os::unix::fs::MetadataExt;
        to.copy_file_from(&mut file, meta.mode() & 0o7777, meta.mtime())
            .map_err(|e| status(&e, 500).max(500))?;
    }
    Ok(Done::NoContent)
}

/// MOVE of a file: a rename, creating the destination's missing directories with
/// `dav_access` (as nginx does for MOVE); 500 when it fails.
fn move_file(
    loc: &Location,
    from: &Entry,
    to: Option<Entry>,
    rel: &str,
    base: &std::path::Path,
) -> Result<(), u16> {
    let to = match to {
        Some(to) => to,
        None => {
            let rel = rel.trim_matches('/');
            let (dirs, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let dir = tree::make_dirs(base, dirs, loc.dav.dir_access())
                .map_err(|e| status(&e, 500).max(500))?;
            Entry::in_dir(dir, name).map_err(|e| status(&e, 500))?
        }
    };
    from.rename_to(&to).map_err(|e| {
        log::error!("MOVE failed: {e}");
        500u16
    })
}

/// nginx's `ngx_http_dav_validate_paths` (after merging slashes): the same path, or
/// (for collections) one directory inside the other.
fn nested(src: &str, dst: &str, slash: bool) -> bool {
    let src = merge_slashes(src);
    let dst = merge_slashes(dst);
    let src = src.trim_end_matches('/');
    let dst = dst.trim_end_matches('/');
    if src == dst {
        return true;
    }
    if !slash {
        return false;
    }
    let (short, long) = if src.len() < dst.len() {
        (src, dst)
    } else {
        (dst, src)
    };
    long.starts_with(short) && long.as_bytes().get(short.len()) == Some(&b'/')
}

fn merge_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_table() {
        let cases = [
            ("/r/a", "/r/a", false, true),
            ("/r/a/", "/r/a/", true, true),
            ("/r//a/", "/r/a", true, true),
            ("/r/a/", "/r/a/b", true, true),
            ("/r/a/b/", "/r/a", true, true),
            ("/r/a/", "/r/ab", true, false),
            ("/r/a", "/r/a/b", false, false),
            ("/r/a", "/r/b", false, false),
        ];
        for (src, dst, slash, want) in cases {
            assert_eq!(nested(src, dst, slash), want, "{src} {dst}");
        }
    }
}
