//! `webserv --status URL`: fetches a `stub_status` page (webserv's or nginx's)
//! over plain HTTP and says what it means in one line.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::Totals;

/// How long connecting, sending and reading may each take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes read of an answer (a status page is a few hundred).
const MAX_ANSWER: u64 = 64 * 1024;

/// Where to ask: `http://HOST[:PORT]/PATH`, or the same without `http://`;
/// an empty HOST is 127.0.0.1, a missing port 80.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        if url.starts_with("https://") {
            return Err(format!("{url}: only plain http:// is supported"));
        }
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{url}: bad port \"{p}\""))?;
                (h, port)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        Ok(Target {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// Fetches `url` and returns the one-line summary, or what went wrong.
pub fn status(url: &str) -> Result<String, String> {
    let target = Target::parse(url)?;
    let body = fetch(&target).map_err(|e| format!("{url}: {e}"))?;
    let totals = parse(&body).ok_or_else(|| format!("{url}: not a stub_status page"))?;
    Ok(human(&totals))
}

fn fetch(t: &Target) -> Result<String, String> {
    let addr = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", t.host))?
        .next()
        .ok_or_else(|| format!("cannot resolve {}", t.host))?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("{addr}: {e}");
    s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
        t.path, t.port
    );
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "the answer is not HTTP".to_string())?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let line = head.lines().next().unwrap_or("");
        return Err(format!("the server answered \"{line}\""));
    }
    Ok(body.to_string())
}

/// The numbers of a stub_status body (nginx's layout, any spacing).
pub fn parse(body: &str) -> Option<Totals> {
    let words: Vec<&str> = body.split_whitespace().collect();
    let [
        "Active",
        "connections:",
        active,
        "server",
        "accepts",
        "handled",
        "requests",
        accepted,
        handled,
        requests,
        "Reading:",
        reading,
        "Writing:",
        writing,
        "Waiting:",
        waiting,
    ] = words.as_slice()
    else {
        return None;
    };
    let n = |s: &str| s.parse::<u64>().ok();
    Some(Totals {
        active: n(active)?,
        accepted: n(accepted)?,
        handled: n(handled)?,
        requests: n(requests)?,
        reading: n(reading)?,
        writing: n(writing)?,
        waiting: n(waiting)?,
    })
}

/// "3 active (1 reading, 1 writing, 1 waiting); 120 accepted, 120 handled,
/// 400 requests; 3.3 requests per connection".
pub fn human(t: &Totals) -> String {
    let per = if t.handled == 0 {
        0.0
    } else {
        t.requests as f64 / t.handled as f64
    };
    format!(
        "{} active ({} reading, {} writing, {} waiting); {} accepted, {} handled, {} requests; {per:.1} requests per connection",
        t.active, t.reading, t.writing, t.waiting, t.accepted, t.handled, t.requests
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = |host: &str, port, path: &str| {
            Ok(Target {
                host: host.into(),
                port,
                path: path.into(),
            })
        };
        let cases = [
            (
                "http://127.0.0.1:8080/status",
                t("127.0.0.1", 8080, "/status"),
            ),
            ("localhost:81/s?x=1", t("localhost", 81, "/s?x=1")),
            ("http://example.com", t("example.com", 80, "/")),
            (":9000/stub", t("127.0.0.1", 9000, "/stub")),
            ("http://[::1]:8080/st", t("::1", 8080, "/st")),
        ];
        for (url, want) in cases {
            assert_eq!(Target::parse(url), want, "{url}");
        }
        assert!(Target::parse("https://x/").is_err());
        assert!(Target::parse("x:99999/").is_err());
    }

    #[test]
    fn parses_nginx_s_layout_and_refuses_others() {
        let body = "Active connections: 3 \nserver accepts handled requests\n 120 120 400 \nReading: 1 Writing: 1 Waiting: 1 \n";
        let t = parse(body).expect("stub_status");
        assert_eq!(
            human(&t),
            "3 active (1 reading, 1 writing, 1 waiting); 120 accepted, 120 handled, 400 requests; 3.3 requests per connection"
        );
        assert_eq!(parse("<html>hello</html>"), None);
        assert_eq!(parse(&body.replace("400", "x")), None);
        assert_eq!(parse(&format!("{body} extra")), None);
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error() {
        // Bind then drop: the port is (almost surely) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let err = status(&format!("127.0.0.1:{port}/stub")).expect_err("nothing listens");
        assert!(err.contains("cannot connect"), "{err}");
    }
}
