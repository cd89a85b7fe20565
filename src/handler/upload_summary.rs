//! The answer to a multipart upload: JSON `{"stored":[{"name":..,"url":..}]}` for a
//! client that accepts it, else a small styled page that lists the stored files and
//! links back to the form the upload came from (its `Referer`) and to the store's
//! listing, so a person who uploaded from a browser is never left at a dead end.

use super::charset::GENERATED_HTML;
use super::path::html_escape;
use crate::http::{Request, Response};

const STYLE: &str = "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;\
margin:3rem auto;max-width:40rem;padding:0 1rem;color:#1f2328;line-height:1.5}\
h1{font-size:1.5rem;font-weight:600}ul{padding-left:1.2rem}a{color:#0969da}\
.actions a{display:inline-block;margin:1rem 1rem 0 0;padding:.45rem .9rem;border-radius:6px;\
background:#0969da;color:#fff;text-decoration:none}.actions a.secondary{background:#eef1f4;\
color:#1f2328}";

/// 201 for the files `names`, served at `uris`; `listing` is the store's URI.
pub fn summary(names: &[String], uris: &[String], listing: &str, req: &Request) -> Response {
    let wants_json = req
        .header("accept")
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let items: Vec<String> = names
            .iter()
            .zip(uris)
            .map(|(n, u)| format!("{{\"name\":{},\"url\":{}}}", json_string(n), json_string(u)))
            .collect();
        let body = format!("{{\"stored\":[{}]}}\n", items.join(","));
        return Response::with_body(201, "application/json", body.into_bytes());
    }
    let html = page(names, uris, listing, back_link(req));
    Response::with_body(201, GENERATED_HTML, html.into_bytes())
}

fn page(names: &[String], uris: &[String], listing: &str, back: Option<&str>) -> String {
    let count = match names.len() {
        1 => "1 file was".to_string(),
        n => format!("{n} files were"),
    };
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Upload complete</title><style>{STYLE}</style></head><body>\n\
         <h1>Upload complete</h1>\n<p>{count} stored:</p>\n<ul>\n"
    );
    for (n, u) in names.iter().zip(uris) {
        html.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            html_escape(u),
            html_escape(n)
        ));
    }
    html.push_str("</ul>\n<p class=\"actions\">");
    if let Some(back) = back {
        html.push_str(&format!(
            "<a href=\"{}\">Upload more files</a>",
            html_escape(back)
        ));
    }
    html.push_str(&format!(
        "<a class=\"secondary\" href=\"{}\">All uploads</a></p>\n</body></html>\n",
        html_escape(listing)
    ));
    html
}

/// The page the form was on: the `Referer`, when it is an http(s) URL or a path
/// (never another scheme such as `javascript:`).
fn back_link(req: &Request) -> Option<&str> {
    let referer = req.header("referer")?.trim();
    let ok = referer.starts_with("http://")
        || referer.starts_with("https://")
        || (referer.starts_with('/') && !referer.starts_with("//"));
    (ok && !referer.chars().any(char::is_control)).then_some(referer)
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_back_and_escapes() {
        let names = vec!["a<b>.txt".to_string()];
        let uris = vec!["/up/a%3Cb%3E.txt".to_string()];
        let html = page(&names, &uris, "/up/", Some("http://h/form.html?x=\"1\""));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("1 file was stored"));
        assert!(html.contains("<a href=\"/up/a%3Cb%3E.txt\">a&lt;b&gt;.txt</a>"));
        assert!(
            html.contains("<a href=\"http://h/form.html?x=&quot;1&quot;\">Upload more files</a>")
        );
        assert!(html.contains("href=\"/up/\">All uploads</a>"));
        let html = page(&names, &uris, "/up/", None);
        assert!(!html.contains("Upload more"));
    }
}
