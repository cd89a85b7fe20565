//! DELETE: removes one file. In a location with `upload_store` the path names a
//! file in the store (what an upload created); elsewhere the file GET would serve.

use std::fs;
use std::path::Path;

use super::path::{inside, map_to_fs};
use super::precondition::{self, Validators, Verdict};
use super::static_file::io_status;
use crate::config::Location;
use crate::http::{Request, Response};

/// file → 204; missing → 404; directory → 409; outside the base or not
/// permitted → 403; a failed `If-Match`/`If-Unmodified-Since` → 412.
pub fn delete(loc: &Location, path: &str, req: &Request) -> Result<Response, u16> {
    let (target, base) = match &loc.upload_store {
        Some(store) => (
            map_to_fs(path, &loc.path, store, Some(store)),
            store.as_path(),
        ),
        None => {
            let base = loc.alias.as_deref().unwrap_or(&loc.root);
            (
                map_to_fs(path, &loc.path, &loc.root, loc.alias.as_deref()),
                base,
            )
        }
    };
    let meta = fs::symlink_metadata(&target).map_err(|e| io_status(&e))?;
    if meta.is_dir() {
        return Err(409);
    }
    let parent = target.parent().unwrap_or(Path::new("/"));
    if !inside(parent, base) || target == base {
        return Err(403);
    }
    if precondition::evaluate(req, Some(&Validators::of(&meta))) != Verdict::Proceed {
        return Err(412);
    }
    fs::remove_file(&target).map_err(|e| io_status(&e))?;
    super::file_cache::forget(&meta);
    Ok(Response::new(204))
}
