//! The body a script or an upstream reads: its spool sized and kept as the
//! location's `client_body_*` directives say, and what the request's variables
//! (`$request_body`, `$request_body_file`) see of it once read.

use super::Routed;
use crate::config::Location;
use crate::http::body::Spool;
use crate::http::{Framing, Request};

/// The spool of a body a script or an upstream reads, sized and kept as the
/// location's `client_body_*` directives say.
pub(super) fn spool_for(loc: &Location) -> Spool {
    use crate::config::bodies::InFile;
    let file_only = match loc.bodies.in_file {
        InFile::Off => None,
        InFile::On => Some(true),
        InFile::Clean => Some(false),
    };
    Spool::in_dir(loc.client_body_temp_path.clone())
        .with_limits(loc.bodies.memory_limit(), file_only)
}

/// Ends a script's or an upstream's body: its file (for `client_body_in_file_only`)
/// exists and the request's variables see it; `Err` is a status (disk full).
pub(super) fn settle(routed: &mut Routed, req: &Request, spool: &mut Spool) -> Result<(), u16> {
    if req.framing != Framing::None {
        spool.finish().map_err(|e| e.status())?;
    }
    routed.vars.body = spool.view();
    Ok(())
}
