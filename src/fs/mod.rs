//! The filesystem under the handlers: opening, stating and removing names strictly
//! beneath a base directory ([`beneath`]), whatever symlinks, FIFOs or `..` a request
//! puts in the path;
//! or under nginx's `disable_symlinks` policies ([`symlinks`]).

pub mod beneath;
pub mod symlinks;
pub mod tree;

use std::path::Path;

/// Whether `file` (which must exist) really lies inside `base` once symlinks are
/// resolved. Anything that cannot be resolved counts as outside.
pub fn inside(file: &Path, base: &Path) -> bool {
    match (file.canonicalize(), base.canonicalize()) {
        (Ok(f), Ok(b)) => f.starts_with(b),
        _ => false,
    }
}
