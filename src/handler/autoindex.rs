//! HTML directory listings (`autoindex on`), in nginx's layout: names HTML-escaped,
//! hrefs percent-encoded, directories first, with modification dates and sizes.

use std::fs;
use std::path::Path;

use super::path::{encode, html_escape};
use crate::http::Response;
use crate::http::date::listing_date;

struct Entry {
    name: String,
    dir: bool,
    size: u64,
    modified: Option<std::time::SystemTime>,
}

/// The listing of `dir` for the request path `uri` (which ends with `/`).
pub fn listing(dir: &Path, uri: &str) -> std::io::Result<Response> {
    let mut entries = read_entries(dir)?;
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(uri);
    let mut html = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n\
         <h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for e in &entries {
        html.push_str(&row(e));
    }
    html.push_str("</pre><hr></body>\r\n</html>\r\n");
    Ok(Response::with_body(200, "text/html", html.into_bytes()))
}

/// Directory entries, hidden files (leading dot) skipped as nginx does. Names
/// that are not UTF-8 are shown lossily.
fn read_entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks for the listing as a browser would see the target.
        let meta = fs::metadata(item.path()).or_else(|_| item.metadata())?;
        out.push(Entry {
            name,
            dir: meta.is_dir(),
            size: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    Ok(out)
}

fn row(e: &Entry) -> String {
    let slash = if e.dir { "/" } else { "" };
    let shown = format!("{}{slash}", e.name);
    let href = format!("{}{slash}", encode(&e.name));
    // nginx pads the name column to 50 characters.
    let pad = 51usize.saturating_sub(shown.chars().count());
    let date = e.modified.map(listing_date).unwrap_or_default();
    let size = if e.dir {
        "-".to_owned()
    } else {
        e.size.to_string()
    };
    format!(
        "<a href=\"{href}\">{}</a>{:pad$}{date} {size:>19}\r\n",
        html_escape(&shown),
        ""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_names_and_encodes_hrefs() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a <b>&c.txt"), b"12345").unwrap();
        fs::create_dir(dir.path().join("sub dir")).unwrap();
        fs::write(dir.path().join(".hidden"), b"x").unwrap();
        let resp = listing(dir.path(), "/files/").unwrap();
        let crate::http::Body::Bytes(body) = resp.body else {
            panic!("bytes body")
        };
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains("<title>Index of /files/</title>"));
        assert!(html.contains("<a href=\"a%20%3Cb%3E%26c.txt\">a &lt;b&gt;&amp;c.txt</a>"));
        assert!(html.contains("<a href=\"sub%20dir/\">sub dir/</a>"));
        assert!(!html.contains(".hidden"));
        assert!(
            html.find("sub%20dir").unwrap() < html.find("a%20%3C").unwrap(),
            "dirs first"
        );
        assert!(html.contains("                  5\r\n"), "size column");
    }
}
