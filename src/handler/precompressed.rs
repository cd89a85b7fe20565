//! Pre-compressed siblings (`gzip_static`, `brotli_static`, `zstd_static`): for
//! `/app.js`, `app.js.br`, `app.js.zst` or `app.js.gz` next to it, when the client
//! accepts that coding, by its q-values then brotli, zstd, gzip. The sibling is
//! opened like any file (below the root, through the open file cache) and served
//! like one (sendfile, ranges on its bytes, its own ETag and Last-Modified); the
//! response keeps the original's Content-Type. A missing sibling falls through to
//! the next, then to the file itself. The sibling is tried before the file, as
//! nginx does: the file need not exist, and a hit costs one stat. `gzip_static always` serves `.gz` whatever
//! the client sent, as nginx does.

use std::path::Path;

use super::file_cache::{self, Opened};
use crate::config::Location;
use crate::config::compress::Static;
use crate::filter::{self, Accept, Encoding};
use crate::http::Request;

/// The codings whose siblings this location serves, in server preference order.
pub fn offered(loc: &Location) -> Vec<Encoding> {
    Encoding::PREFERENCE
        .into_iter()
        .filter(|&e| filter::codec(&loc.compression, e).precompressed != Static::Off)
        .collect()
}

/// Whether the answer depends on Accept-Encoding: some `*_static on` (`gzip_static
/// always` serves every client the same).
pub fn varies(loc: &Location) -> bool {
    Encoding::PREFERENCE
        .into_iter()
        .any(|e| filter::codec(&loc.compression, e).precompressed == Static::On)
}

/// The sibling to serve for `rel` below `base`, if any.
pub fn find(loc: &Location, base: &Path, rel: &str, req: &Request) -> Option<(Opened, Encoding)> {
    let mut offered = offered(loc);
    if offered.is_empty() || rel.ends_with('/') {
        return None;
    }
    let accept = Accept::parse(
        req.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v),
    );
    // nginx's gzip_http_version 1.1: HTTP/1.0 clients get the file itself.
    if req.http11 {
        while let Some(enc) = accept.choose(&offered) {
            if let Some(o) = open_sibling(loc, base, rel, enc) {
                return Some((o, enc));
            }
            offered.retain(|&e| e != enc);
        }
    }
    if loc.compression.gzip.precompressed == Static::Always {
        return open_sibling(loc, base, rel, Encoding::Gzip).map(|o| (o, Encoding::Gzip));
    }
    None
}

fn open_sibling(loc: &Location, base: &Path, rel: &str, enc: Encoding) -> Option<Opened> {
    let name = format!("{rel}{}", enc.suffix());
    file_cache::open(base, &name, loc.open_file_cache)
        .ok()
        .filter(|o| o.meta.is_file())
}
