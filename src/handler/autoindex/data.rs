//! `autoindex_format json|xml`: nginx's shapes, line for line.
//!
//! ```text
//! [
//! { "name":"docs", "type":"directory", "mtime":"Tue, 14 Nov 2023 22:13:20 GMT" },
//! { "name":"a.txt", "type":"file", "mtime":"Tue, 14 Nov 2023 22:13:20 GMT", "size":5 }
//! ]
//! ```
//! and `<list><directory mtime="2023-11-14T22:13:20Z">docs</directory>...</list>`.
//! Times are always GMT there, whatever `autoindex_localtime` says (as nginx).

use std::time::{Duration, UNIX_EPOCH};

use super::Entry;
use super::html::escape;
use crate::http::date::{civil, http_date};

pub(super) fn json(entries: &[Entry]) -> String {
    let items: Vec<String> = entries.iter().map(json_item).collect();
    format!("[\r\n{}\r\n]", items.join(",\r\n"))
}

fn json_item(e: &Entry) -> String {
    let kind = if e.dir { "directory" } else { "file" };
    let mtime = http_date(UNIX_EPOCH + Duration::from_secs(e.mtime.max(0) as u64));
    let size = if e.dir {
        String::new()
    } else {
        format!(", \"size\":{}", e.size)
    };
    format!(
        "{{ \"name\":\"{}\", \"type\":\"{kind}\", \"mtime\":\"{mtime}\"{size} }}",
        json_escape(&e.name)
    )
}

/// nginx's `ngx_escape_json`.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn xml(entries: &[Entry]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\r\n<list>\r\n");
    for e in entries {
        let c = civil(e.mtime.max(0) as u64);
        let mtime = format!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.min, c.sec
        );
        let name = escape(&e.name);
        if e.dir {
            out.push_str(&format!(
                "<directory mtime=\"{mtime}\">{name}</directory>\r\n"
            ));
        } else {
            out.push_str(&format!(
                "<file mtime=\"{mtime}\" size=\"{}\">{name}</file>\r\n",
                e.size
            ));
        }
    }
    out.push_str("</list>\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                name: "d".into(),
                raw: b"d".to_vec(),
                linked: true,
                dir: true,
                size: 4096,
                mtime: 1_700_000_000,
            },
            Entry {
                name: "a\"<b>\n.txt".into(),
                raw: b"a\"<b>\n.txt".to_vec(),
                linked: true,
                dir: false,
                size: 5,
                mtime: 1_700_000_000,
            },
        ]
    }

    #[test]
    fn json_shape() {
        assert_eq!(
            json(&entries()),
            "[\r\n{ \"name\":\"d\", \"type\":\"directory\", \"mtime\":\"Tue, 14 Nov 2023 22:13:20 GMT\" },\r\n\
             { \"name\":\"a\\\"<b>\\n.txt\", \"type\":\"file\", \"mtime\":\"Tue, 14 Nov 2023 22:13:20 GMT\", \"size\":5 }\r\n]"
        );
    }

    #[test]
    fn xml_shape() {
        assert_eq!(
            xml(&entries()),
            "<?xml version=\"1.0\"?>\r\n<list>\r\n\
             <directory mtime=\"2023-11-14T22:13:20Z\">d</directory>\r\n\
             <file mtime=\"2023-11-14T22:13:20Z\" size=\"5\">a&quot;&lt;b&gt;\n.txt</file>\r\n</list>\r\n"
        );
    }
}
