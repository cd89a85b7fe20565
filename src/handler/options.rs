//! `OPTIONS` (RFC 9110 §9.3.7): 204 with an `Allow` header listing the methods the
//! target's location serves, or, for `OPTIONS *`, every method some location of
//! the server serves. The server answers it itself for every location (CGI
//! scripts included); a location's `return` still wins, as for any method.

use crate::config::{Location, Server};
use crate::http::{Method, Request, Response};

/// The methods in the order `Allow` lists them.
const ORDER: [Method; 8] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Mkcol,
    Method::Copy,
    Method::Move,
];

/// `OPTIONS *`: the methods some location of the server serves (`None` for any
/// other request).
pub fn star(server: &Server, req: &Request) -> Option<Response> {
    (req.method == Method::Options && req.target == "*").then(|| no_content(server_allow(server)))
}

/// OPTIONS of a URI, answered in the access phase for the location found (after its
/// `rewrite`/`return`, which win as for any method).
pub fn for_location(loc: &Location) -> Response {
    no_content(allow(loc))
}

/// The `Allow` value for a location: the allowed methods it has a handler for.
pub fn allow(loc: &Location) -> String {
    let mut methods: Vec<&str> = ORDER
        .iter()
        .filter(|m| serves(loc, **m))
        .map(|m| m.as_str())
        .collect();
    methods.push(Method::Options.as_str());
    methods.join(", ")
}

/// `OPTIONS *`: the methods any of the server's locations serves.
fn server_allow(server: &Server) -> String {
    let mut methods: Vec<&str> = ORDER
        .iter()
        .filter(|m| server.locations.iter().any(|l| serves(l, **m)))
        .map(|m| m.as_str())
        .collect();
    methods.push(Method::Options.as_str());
    methods.join(", ")
}

fn serves(loc: &Location, method: Method) -> bool {
    loc.dav.handles(method)
        || loc.allow_methods.iter().any(|m| m == method.as_str()) && super::has_handler(loc, method)
}

fn no_content(allow: String) -> Response {
    let mut resp = Response::new(204);
    resp.header("Allow", allow);
    resp
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::http::request::parse_head;

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).unwrap()
    }

    fn options(config: &Config, target: &str) -> Option<(u16, Option<String>)> {
        let raw = format!("OPTIONS {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
        let origin = crate::handler::Origin::test_loopback();
        let resp = crate::handler::route(config, origin, &req).err()?.resp;
        Some((resp.status, resp.get_header("Allow").map(str::to_owned)))
    }

    #[test]
    fn allow_per_location_and_for_the_server() {
        let c = config(
            "server { listen 127.0.0.1:1;
                location /up/ { allow_methods GET POST PUT DELETE; upload_store /tmp/x; }
                location /ro/ { allow_methods GET POST; }
                location /cgi/ { allow_methods GET POST; cgi .sh /bin/sh; }
                location /moved { return 301 /; }
            }",
        );
        let allow = |t: &str| options(&c, t).map(|(s, a)| (s, a.unwrap_or_default()));
        let ok = |a: &str| Some((204, a.to_owned()));
        assert_eq!(allow("/"), ok("GET, HEAD, OPTIONS"));
        assert_eq!(allow("/up/f"), ok("GET, HEAD, POST, PUT, DELETE, OPTIONS"));
        assert_eq!(
            allow("/ro/"),
            ok("GET, HEAD, OPTIONS"),
            "POST has no handler"
        );
        assert_eq!(allow("/cgi/x.sh"), ok("GET, HEAD, POST, OPTIONS"));
        assert_eq!(allow("*"), ok("GET, HEAD, POST, PUT, DELETE, OPTIONS"));
        assert_eq!(
            allow("/moved"),
            Some((301, String::new())),
            "return answers"
        );
        assert_eq!(
            allow("/%zz"),
            Some((400, String::new())),
            "a bad path as usual"
        );
    }
}
