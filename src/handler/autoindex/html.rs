//! The HTML listing. Its `<pre>` rows are nginx's, byte for byte (with `charset
//! utf-8`): the name column is 50 characters wide, counted in characters, a longer
//! name is cut to 47 and ends in `..>`; then the date and the size. Scripts that
//! read nginx listings read these. Around them: a title, a readable style and links
//! that sort by name, date or size (`?sort=`), no JavaScript.

use super::{Entry, SortKey};
use crate::config::ListingStyle;
use crate::http::date;

/// nginx's `NGX_HTTP_AUTOINDEX_NAME_LEN`.
const NAME_COLUMN: usize = 50;

const STYLE: &str = "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1f2328;line-height:1.5}\
h1{font-size:1.4rem;font-weight:600;word-break:break-all}\
p.sort{color:#59636e;margin:.5rem 0}a{color:#0969da;text-decoration:none}\
a:hover{text-decoration:underline}hr{border:0;border-top:1px solid #d1d9e0}\
pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem;\
overflow-x:auto}";

/// The whole page.
pub(super) fn page(entries: &[Entry], uri: &str, style: ListingStyle, key: SortKey) -> String {
    let title = escape(uri);
    let mut html = format!(
        "<!DOCTYPE html>\r\n<html>\r\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title>\r\n<style>{STYLE}</style></head>\r\n<body>\r\n\
         <h1>Index of {title}</h1>\r\n{}<hr><pre><a href=\"../\">../</a>\r\n",
        sort_links(key)
    );
    for e in entries {
        html.push_str(&row(e, style));
    }
    html.push_str("</pre><hr></body>\r\n</html>\r\n");
    html
}

/// `Sort by name · date · size`, the current order in bold.
fn sort_links(key: SortKey) -> String {
    let link = |k: SortKey, name: &str| {
        if k == key {
            format!("<strong>{name}</strong>")
        } else {
            format!("<a href=\"?sort={name}\">{name}</a>")
        }
    };
    format!(
        "<p class=\"sort\">Sort by {} &middot; {} &middot; {}</p>",
        link(SortKey::Name, "name"),
        link(SortKey::Date, "date"),
        link(SortKey::Size, "size")
    )
}

/// One `<a href>name</a>  date  size` line, as nginx writes it; a name that is
/// not UTF-8 is shown in the same columns without a link (webserv cannot serve it).
fn row(e: &Entry, style: ListingStyle) -> String {
    let (shown, pad) = name_cell(&e.name, e.dir);
    let name = if e.linked {
        let slash = if e.dir { "/" } else { "" };
        format!("<a href=\"{}{slash}\">{shown}</a>", encode(&e.raw))
    } else {
        shown
    };
    let date = listing_date(e.mtime, style.localtime);
    let size = if style.exact_size {
        exact_size(e)
    } else {
        human_size(e)
    };
    format!("{name}{:pad$} {date} {size}\r\n", "")
}

/// The escaped name as shown and the spaces after it. A directory gets its `/`
/// only when it fits in the column.
fn name_cell(name: &str, dir: bool) -> (String, usize) {
    let len = name.chars().count();
    if len > NAME_COLUMN {
        let cut: String = name.chars().take(NAME_COLUMN - 3).collect();
        return (format!("{}..&gt;", escape(&cut)), 0);
    }
    let mut shown = escape(name);
    let mut len = len;
    if dir && len < NAME_COLUMN {
        shown.push('/');
        len += 1;
    }
    (shown, NAME_COLUMN - len)
}

/// `autoindex_exact_size on`: bytes, right-aligned in 19 columns.
fn exact_size(e: &Entry) -> String {
    if e.dir {
        format!("{:>19}", "-")
    } else {
        format!("{:>19}", e.size)
    }
}

/// `autoindex_exact_size off`: nginx's rounding, to the nearest whole K (from
/// 10,000 bytes), M or G, in 7 columns.
fn human_size(e: &Entry) -> String {
    const K: u64 = 1024;
    if e.dir {
        return format!("{:>7}", "-");
    }
    let n = e.size;
    let scaled =
        |unit: u64, c: char| format!("{:>6}{c}", n / unit + u64::from(n % unit >= unit / 2));
    if n >= K * K * K {
        scaled(K * K * K, 'G')
    } else if n >= K * K {
        scaled(K * K, 'M')
    } else if n > 9999 {
        scaled(K, 'K')
    } else {
        format!(" {n:>6}")
    }
}

/// `14-Nov-2023 22:13`, in GMT or (`autoindex_localtime on`) the server's zone.
fn listing_date(mtime: i64, localtime: bool) -> String {
    let secs = if localtime {
        mtime + utc_offset(mtime)
    } else {
        mtime
    };
    let secs = u64::try_from(secs).unwrap_or(0);
    date::listing_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// The local zone's offset from UTC at `secs`, in seconds (`TZ`, else
/// /etc/localtime), as `localtime_r` finds it.
fn utc_offset(secs: i64) -> i64 {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we own; a zeroed tm is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

/// nginx's `NGX_ESCAPE_URI_COMPONENT` for a name's bytes: all but `A-Z a-z 0-9 - . _ ~`
/// become `%XX`, so a name that is not UTF-8 still links to its file.
fn encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// nginx's `ngx_escape_html`: `<`, `>`, `&` and `"`.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> Entry {
        Entry {
            name: name.into(),
            raw: name.as_bytes().to_vec(),
            linked: true,
            dir: false,
            size,
            mtime: 1_700_000_000,
        }
    }

    #[test]
    fn human_sizes_round_as_nginx() {
        // Expected values read from nginx 1.22 on files of these sizes.
        let cases = [
            (0, "      0"),
            (9999, "   9999"),
            (10000, "    10K"),
            (10751, "    10K"),
            (10752, "    11K"),
            (1_048_575, "  1024K"),
            (1_048_576, "     1M"),
            (1_572_863, "     1M"),
            (1_572_864, "     2M"),
            (1_610_612_736, "     2G"),
        ];
        for (size, want) in cases {
            assert_eq!(human_size(&file("f", size)), want, "{size}");
        }
    }

    #[test]
    fn names_are_cut_and_padded_by_characters() {
        let cases: &[(&str, bool, &str, usize)] = &[
            ("a.txt", false, "a.txt", 45),
            ("ü.txt", false, "ü.txt", 45),
            ("d", true, "d/", 48),
            ("a&b", false, "a&amp;b", 47),
        ];
        for (name, dir, shown, pad) in cases {
            assert_eq!(name_cell(name, *dir), (shown.to_string(), *pad), "{name}");
        }
        let fifty = "é".repeat(50);
        assert_eq!(
            name_cell(&fifty, true),
            (fifty.clone(), 0),
            "no room for the slash"
        );
        let long = "é".repeat(60);
        assert_eq!(
            name_cell(&long, false),
            (format!("{}..&gt;", "é".repeat(47)), 0)
        );
        let amps = "&".repeat(55);
        assert_eq!(
            name_cell(&amps, false).0,
            format!("{}..&gt;", "&amp;".repeat(47))
        );
    }

    #[test]
    fn row_layout() {
        let style = ListingStyle::default();
        let mut unlinked = file("a\u{fffd}.txt", 5);
        unlinked.raw = b"a\xff.txt".to_vec();
        unlinked.linked = false;
        let cases = [
            (file("a b.txt", 5), "<a href=\"a%20b.txt\">a b.txt</a>", 43),
            (unlinked, "a\u{fffd}.txt", 44),
        ];
        for (entry, name, pad) in cases {
            assert_eq!(
                row(&entry, style),
                format!("{name}{} 14-Nov-2023 22:13 {:>19}\r\n", " ".repeat(pad), 5),
                "{name}"
            );
        }
    }
}
