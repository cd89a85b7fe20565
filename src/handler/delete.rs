//! DELETE: removes one file. In a location with `upload_store` the path names a
//! file in the store (what an upload created); elsewhere the file GET would serve.

use std::borrow::Cow;

use super::precondition::{self, Validators, Verdict};
use super::static_file::io_status;
use crate::config::{FileRef, Location};
use crate::fs::beneath::Doomed;
use crate::http::{Request, Response};

/// file → 204; missing → 404; directory (or the base itself) → 409; outside the
/// base or not permitted → 403; a failed `If-Match`/`If-Unmodified-Since` → 412.
/// The path is mapped as GET maps it (`Location::file_ref`), or into the store.
pub fn delete(loc: &Location, path: &str, req: &Request) -> Result<Response, u16> {
    let target = match &loc.upload_store {
        Some(store) => FileRef {
            base: store,
            rel: Cow::Borrowed(loc.rest_of(path)),
        },
        None => loc.file_ref(path),
    };
    let doomed = Doomed::open(target.base, &target.rel)
        .map_err(|e| io_status(&e))?
        .ok_or(409u16)?;
    let meta = doomed.metadata().map_err(|e| io_status(&e))?;
    if meta.is_dir() {
        return Err(409);
    }
    if precondition::evaluate(req, Some(&Validators::of(&meta))) != Verdict::Proceed {
        return Err(412);
    }
    doomed.remove().map_err(|e| io_status(&e))?;
    super::file_cache::forget(&meta);
    Ok(Response::new(204))
}
