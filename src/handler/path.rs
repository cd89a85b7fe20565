//! Request paths: percent-decoding, dot-segment removal, and encoding for URLs and
//! HTML (mapping a path to a file is `config::FileRef`).

/// Percent-decodes `raw` once (RFC 3986 §2.1). `%00`, malformed escapes and
/// invalid UTF-8 are rejected (the caller answers 400); other control characters
/// pass, as in nginx (the access log escapes them).
pub fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                i += 2;
                v
            }
            b => b,
        };
        if b == 0 {
            return None;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Removes `.` and `..` segments and merges repeated slashes (RFC 3986 §5.2.4, nginx
/// `merge_slashes`). A `..` that would climb above `/` is rejected. A trailing slash
/// (or a trailing `.`/`..` segment) is kept as a trailing slash.
pub fn normalize(path: &str) -> Option<String> {
    normalize_with(path, true)
}

/// [`normalize`]; with `merge_slashes` false (nginx's `merge_slashes off`) an empty
/// segment is kept as one (`/a//b` stays, `/a//../b` is `/a/b`), as nginx does.
pub fn normalize_with(path: &str, merge_slashes: bool) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    let mut split = path.split('/').skip(1).peekable();
    while let Some(seg) = split.next() {
        trailing = matches!(seg, "" | "." | "..");
        match seg {
            "" if !merge_slashes && split.peek().is_some() => segments.push(""),
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Decodes and normalizes a request path; `None` means 400.
pub fn clean(raw: &str) -> Option<String> {
    normalize(&percent_decode(raw)?)
}

/// [`clean`], keeping empty segments unless `merge_slashes`.
pub fn clean_with(raw: &str, merge_slashes: bool) -> Option<String> {
    if is_clean(raw) {
        return Some(raw.to_string());
    }
    normalize_with(&percent_decode(raw)?, merge_slashes)
}

/// Whether `raw` is its own cleaned form: absolute, with no escapes, no empty
/// segments and no dot segments (most request paths; they need no decoding).
pub fn is_clean(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let dots = |i: usize| {
        let end = |j: usize| j == b.len() || b[j] == b'/';
        b.get(i) == Some(&b'.') && (end(i + 1) || (b.get(i + 1) == Some(&b'.') && end(i + 2)))
    };
    b.iter().enumerate().all(|(i, &c)| match c {
        b'%' | 0 => false,
        b'/' => b.get(i + 1) != Some(&b'/') && !dots(i + 1),
        _ => true,
    })
}

/// Percent-encodes a path for a URL (hrefs, Location headers): everything but
/// unreserved characters and `/`.
pub fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/a%20b", Some("/a b")),
            ("/%2e%2E/x", Some("/../x")),
            ("/%252e", Some("/%2e")),
            ("/a%2fb", Some("/a/b")),
            ("/%00", None),
            ("/%0a%1B%7f", Some("/\n\u{1b}\u{7f}")),
            ("/%zz", None),
            ("/%2", None),
            ("/%", None),
            ("/%ff", None),
            ("/caf%C3%A9", Some("/café")),
        ];
        for (raw, want) in cases {
            assert_eq!(percent_decode(raw).as_deref(), *want, "{raw}");
        }
    }

    #[test]
    fn normalize_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/", Some("/")),
            ("/a/b", Some("/a/b")),
            ("/a/b/", Some("/a/b/")),
            ("//a///b", Some("/a/b")),
            ("/a/./b", Some("/a/b")),
            ("/a/../b", Some("/b")),
            ("/a/b/..", Some("/a/")),
            ("/a/.", Some("/a/")),
            ("/..", None),
            ("/../etc/passwd", None),
            ("/a/../../etc", None),
            ("/a/..%2f", Some("/a/..%2f")),
            ("a/b", None),
            ("/...", Some("/...")),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), *want, "{raw}");
        }
    }

    #[test]
    fn unmerged_slashes_as_nginx() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/foo//../bar", Some("/foo/bar")),
            ("/foo///../bar", Some("/foo//bar")),
            ("//a", Some("//a")),
            ("/a//", Some("/a//")),
            ("/a/", Some("/a/")),
            ("/", Some("/")),
            ("//..", Some("/")),
            ("/..//", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_with(raw, false).as_deref(), *want, "{raw}");
        }
    }

    #[test]
    fn clean_rejects_encoded_traversal() {
        assert_eq!(clean("/%2e%2e/etc/passwd"), None);
        assert_eq!(clean("/files/..%2f..%2fetc/passwd"), None);
        assert_eq!(clean("/files/%2e%2e/x").as_deref(), Some("/x"));
        // Double encoding decodes once: a literal "%2e%2e" name, not a parent.
        assert_eq!(clean("/%252e%252e/x").as_deref(), Some("/%2e%2e/x"));
    }

    #[test]
    fn encodes_and_escapes() {
        assert_eq!(encode("/a b/<x>&.txt"), "/a%20b/%3Cx%3E%26.txt");
        assert_eq!(html_escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn clean_paths_take_the_fast_way_and_agree_with_the_slow_one() {
        let cases = [
            ("/", true),
            ("/a/b.html", true),
            ("/a/.hidden", true),
            ("/a/..b", true),
            ("/a/b/", true),
            ("/a//b", false),
            ("/a/./b", false),
            ("/a/../b", false),
            ("/a/..", false),
            ("/a/.", false),
            ("/a%20b", false),
            ("a/b", false),
            ("", false),
        ];
        for (raw, clean) in cases {
            assert_eq!(is_clean(raw), clean, "{raw}");
            if clean {
                let slow = normalize_with(&percent_decode(raw).unwrap(), true);
                assert_eq!(slow.as_deref(), Some(raw), "{raw}");
            }
        }
    }
}
