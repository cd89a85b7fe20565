//! Tests of the whole pipeline (text → [`Config`]) that belong to no single pass:
//! one test per error message, asserting the exact `file:line:col: message`, and
//! the inheritance rules.

mod bodies;
mod errors;
mod inherit;
mod mapif;
mod nginx;

use std::path::Path;
use std::sync::Arc;

use super::{Config, build, check, parser};

/// Parses, checks and builds `src` as the file `t.conf`, prefix `/p` (no includes).
fn load_src(src: &str) -> Result<Config, String> {
    let run = || {
        let tree = parser::parse_str(src, &Arc::from("t.conf"))?;
        let draft = check::check(&tree, Path::new("/p"))?;
        build::build(draft, Path::new("t.conf"), Path::new("/p"))
    };
    run().map_err(|e| e.to_string())
}
