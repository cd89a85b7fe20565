//! A response head as an HTTP/2 field list: the fields the HTTP/1 writer adds
//! itself (Server, Date, Content-Length) joined to the handler's, names
//! lowercase (RFC 9113 §8.2.2), and the connection-specific fields HTTP/2 has
//! no place for left out (§8.2.2: Connection, Keep-Alive, Transfer-Encoding,
//! Upgrade, Proxy-Connection).

use super::response::{Body, Response, SERVER_VERSION};

/// The fields of `resp` for a HEADERS frame (without `:status`); `length`:
/// the body's length when it is known.
pub fn fields(resp: &Response, date: &str, length: Option<u64>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(resp.headers.len() + resp.raw_headers.len() + 3);
    if !resp.relays_server {
        let server = if resp.server_tokens {
            SERVER_VERSION
        } else {
            "webserv"
        };
        out.push(("server".to_owned(), server.to_owned()));
    }
    if !resp.relays_date {
        out.push(("date".to_owned(), date.to_owned()));
    }
    let pairs = resp
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .chain(
            resp.raw_headers
                .iter()
                .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v).into_owned())),
        );
    for (name, value) in pairs {
        if connection_specific(name) || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let value = value.replace(['\r', '\n'], "");
        out.push((name.to_ascii_lowercase(), value));
    }
    if let Some(n) = length {
        out.push(("content-length".to_owned(), n.to_string()));
    }
    out
}

/// The body's length when the response has one (a stream compressed or
/// recoded as it goes has none: it ends with the stream).
pub fn length(body: &Body) -> Option<u64> {
    match body {
        Body::Encoded(_) => None,
        Body::Recoded(s) => s.length(),
        other => Some(other.len()),
    }
}

fn connection_specific(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_lowercase_without_connection_fields() {
        let mut r = Response::new(200);
        r.header("Content-Type", "text/plain");
        r.header("Connection", "close");
        r.header("X-A", "1\r\n2");
        r.raw_headers.push(("Set-Cookie".into(), b"a=b".to_vec()));
        r.raw_headers
            .push(("Transfer-Encoding".into(), b"chunked".to_vec()));
        let f = fields(&r, "Mon, 07 Dec 2026 00:00:00 GMT", Some(5));
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "server",
                "date",
                "content-type",
                "x-a",
                "set-cookie",
                "content-length"
            ]
        );
        assert_eq!(f[3].1, "12");
        assert_eq!(f[5].1, "5");
    }
}
