//! Directory listings (`autoindex on`). The entries are read and sorted here
//! (directories first, then by name as bytes, as nginx does, or by `?sort=size` /
//! `?sort=date`); [`html`] writes the page a browser sees, [`data`] nginx's JSON and
//! XML shapes (`autoindex_format`). Dates and sizes follow `autoindex_localtime` and
//! `autoindex_exact_size`.

mod data;
mod html;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{ListingFormat, ListingStyle};
use crate::http::Response;

/// One name in a listed directory.
struct Entry {
    /// The name as shown (a name that is not UTF-8 is shown lossily).
    name: String,
    /// The name's bytes, for the link and the order.
    raw: Vec<u8>,
    /// The name is UTF-8, so webserv can serve the file it names; other names are
    /// listed without a link (a request path must decode to UTF-8, or it is 400).
    linked: bool,
    dir: bool,
    size: u64,
    /// Seconds since the epoch (0 when the file system gives no time).
    mtime: i64,
}

/// The order a listing is shown in (`?sort=` in the query string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Name,
    /// Largest first.
    Size,
    /// Newest first.
    Date,
}

impl SortKey {
    /// `sort=name|size|date` among the query's `&`-separated parameters.
    fn from_query(query: Option<&str>) -> SortKey {
        let value = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|p| p.strip_prefix("sort="));
        match value {
            Some("size") => SortKey::Size,
            Some("date") => SortKey::Date,
            _ => SortKey::Name,
        }
    }
}

/// The listing of `dir` for the request path `uri` (which ends with `/`); `Err` is
/// the status to answer (400 for a JSONP callback name nginx would refuse).
pub fn listing(
    dir: &Path,
    uri: &str,
    style: ListingStyle,
    query: Option<&str>,
) -> Result<Response, u16> {
    let callback = match style.format {
        ListingFormat::Jsonp => jsonp_callback(query)?,
        _ => None,
    };
    let mut entries = read_entries(dir).map_err(|e| super::static_file::io_status(&e))?;
    let key = SortKey::from_query(query);
    sort(&mut entries, key);
    let (content_type, body) = match style.format {
        ListingFormat::Html => (
            super::charset::GENERATED_HTML,
            html::page(&entries, uri, style, key),
        ),
        ListingFormat::Json => ("application/json", data::json(&entries)),
        // As nginx: without a callback it is the plain JSON.
        ListingFormat::Jsonp => match callback {
            Some(name) => (
                "application/javascript",
                format!("/* callback */\r\n{name}({});", data::json(&entries)),
            ),
            None => ("application/json", data::json(&entries)),
        },
        ListingFormat::Xml => ("text/xml; charset=utf-8", data::xml(&entries)),
    };
    Ok(Response::with_body(200, content_type, body.into_bytes()))
}

/// The `callback` query argument, as nginx checks it: at most 128 letters, digits,
/// `_` and `.`; anything else is 400 (and logged). `None` when there is none.
fn jsonp_callback(query: Option<&str>) -> Result<Option<&str>, u16> {
    let Some(name) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|p| p.strip_prefix("callback="))
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    if name.len() > 128 || !name.bytes().all(ok) {
        log::info!("client sent invalid callback name: \"{name}\"");
        return Err(400);
    }
    Ok(Some(name))
}

/// Directory entries, hidden files (leading dot) skipped as nginx does. Names
/// that are not UTF-8 are shown lossily and not linked.
fn read_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        let file_name = item.file_name();
        let raw = file_name.as_bytes().to_vec();
        let name = file_name.to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let linked = file_name.to_str().is_some();
        if !linked {
            log::info!(
                "autoindex: {:?} in {} is not UTF-8: listed without a link",
                file_name,
                dir.display()
            );
        }
        // Follow symlinks for the listing as a browser would see the target.
        let meta = fs::metadata(item.path()).or_else(|_| item.metadata())?;
        out.push(Entry {
            name,
            raw,
            linked,
            dir: meta.is_dir(),
            size: meta.len(),
            mtime: meta.modified().map_or(0, epoch_secs),
        });
    }
    Ok(out)
}

fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Directories first; then the key; names (as bytes) break ties.
fn sort(entries: &mut [Entry], key: SortKey) {
    entries.sort_by(|a, b| {
        let by_key = match key {
            SortKey::Name => std::cmp::Ordering::Equal,
            SortKey::Size => b.size.cmp(&a.size),
            SortKey::Date => b.mtime.cmp(&a.mtime),
        };
        b.dir
            .cmp(&a.dir)
            .then(by_key)
            .then_with(|| a.raw.cmp(&b.raw))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, dir: bool, size: u64, mtime: i64) -> Entry {
        Entry {
            name: name.into(),
            raw: name.as_bytes().to_vec(),
            linked: true,
            dir,
            size,
            mtime,
        }
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn sort_keys_from_the_query() {
        let cases = [
            (None, SortKey::Name),
            (Some("sort=size"), SortKey::Size),
            (Some("a=1&sort=date"), SortKey::Date),
            (Some("sort=bogus"), SortKey::Name),
            (Some("xsort=size"), SortKey::Name),
        ];
        for (q, want) in cases {
            assert_eq!(SortKey::from_query(q), want, "{q:?}");
        }
    }

    #[test]
    fn directories_first_then_the_key() {
        let mut e = vec![
            entry("b", false, 5, 30),
            entry("z", true, 0, 10),
            entry("a", false, 9, 20),
            entry("é", false, 1, 40),
            entry("c", true, 0, 50),
        ];
        sort(&mut e, SortKey::Name);
        assert_eq!(names(&e), ["c", "z", "a", "b", "é"]);
        sort(&mut e, SortKey::Size);
        assert_eq!(names(&e), ["c", "z", "a", "b", "é"]);
        sort(&mut e, SortKey::Date);
        assert_eq!(names(&e), ["c", "z", "é", "b", "a"]);
    }
}
