//! nginx's realip module in the request phases: behind trusted proxies, the
//! client address comes from a header (`X-Real-IP`, `X-Forwarded-For`, any
//! other) or the connection's PROXY protocol header, and replaces `$remote_addr`
//! and `$remote_port` for everything after.
//!
//! As in nginx it runs twice: in the post-read phase with the server's settings
//! (before the server's rewrites), and in the preaccess phase with the
//! location's (after the location's rewrites), the second time only if the
//! first found nothing. The answer is kept in [`Routed::client`], and
//! [`Origin::for_request`] is the one place it takes effect: the phases after,
//! the content handlers, the gateway and the access log all read that origin.
//! An internal redirect keeps the replaced address, as nginx's does.

use std::net::SocketAddr;

use super::{Cx, Origin, Routed};
use crate::config::realip::{RealIp, Source};
use crate::http::Request;
use crate::http::realip::{is_trusted, resolve};

/// The post-read phase: realip with the server's settings.
pub fn post_read(cx: &Cx, r: &mut Routed) {
    let conf = &r.server(cx.config).realip;
    if r.client.is_none() {
        r.client = find(conf, &cx.origin, cx.req);
    }
}

/// The preaccess phase: realip with the location's settings, unless the client
/// was already found for this request; the later phases see it through
/// [`view`].
pub fn preaccess(cx: &Cx, r: &mut Routed) {
    if r.client.is_some() || cx.origin.realip_from.is_some() {
        return;
    }
    r.client = find(&r.location(cx.config).realip, &cx.origin, cx.req);
}

/// `cx` seen with the client realip found for `r`, when that changes it.
pub fn view<'a>(cx: &Cx<'a>, r: &Routed) -> Option<Cx<'a>> {
    // Only a client found for this request (not one the origin already has).
    let addr = r.client.filter(|_| cx.origin.realip_from.is_none())?;
    Some(Cx {
        config: cx.config,
        origin: cx.origin.clone().with_client(addr),
        req: cx.req,
        trace: cx.trace,
    })
}

/// The client address `conf` finds for a request from `origin`, if any.
pub fn find(conf: &RealIp, origin: &Origin, req: &Request) -> Option<SocketAddr> {
    if !conf.enabled() || origin.realip_from.is_some() {
        return None;
    }
    let peer = origin.peer.ip();
    match &conf.source {
        Source::ProxyProtocol => {
            // The header's address as it is, port included (nginx).
            let src = origin.proxied.as_ref()?.src;
            is_trusted(peer, &conf.from).then_some(src)
        }
        Source::ForwardedFor => {
            let values = values(req, "x-forwarded-for");
            resolve(peer, &values, &conf.from, conf.recursive)
        }
        Source::RealIp => first(req, "x-real-ip", conf, peer),
        Source::Header(name) => first(req, name, conf, peer),
    }
}

/// A one-address header: nginx reads its first occurrence.
fn first(req: &Request, name: &str, conf: &RealIp, peer: std::net::IpAddr) -> Option<SocketAddr> {
    let values = values(req, name);
    let value = values.first()?;
    resolve(peer, &[value], &conf.from, conf.recursive)
}

/// Every occurrence of header `name`, in order, trimmed (undecodable ones as
/// empty, which stops the walk as a bad entry does).
fn values<'r>(req: &'r Request, name: &str) -> Vec<&'r str> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| std::str::from_utf8(v).map_or("", str::trim))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Fields;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut req = crate::http::request::parse_head(b"GET / HTTP/1.0\r\n\r\n", 8192)
            .expect("valid")
            .expect("complete")
            .0;
        req.headers = Fields::from_pairs(headers.iter().map(|(n, v)| (*n, v.as_bytes())));
        req
    }

    fn conf(from: &[&str], source: Source, recursive: bool) -> RealIp {
        RealIp {
            from: from
                .iter()
                .map(|s| crate::http::cidr::Cidr::parse(s).expect("block").0)
                .collect(),
            from_unix: false,
            source,
            recursive,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn sources() {
        let origin = Origin::test_loopback();
        let xff = [("X-Forwarded-For", "192.0.2.1, 10.0.0.1")];
        let trust = ["127.0.0.1", "10.0.0.0/8"];
        // (headers, settings, expected)
        type Case<'a> = (&'a [(&'a str, &'a str)], RealIp, Option<SocketAddr>);
        let cases: Vec<Case> = vec![
            (
                &[("X-Real-IP", "192.0.2.1")],
                conf(&trust, Source::RealIp, false),
                Some(addr("192.0.2.1:0")),
            ),
            // The first occurrence of a one-address header.
            (
                &[("x-real-ip", "192.0.2.1:77"), ("X-Real-IP", "192.0.2.2")],
                conf(&trust, Source::RealIp, false),
                Some(addr("192.0.2.1:77")),
            ),
            (
                &xff,
                conf(&trust, Source::ForwardedFor, false),
                Some(addr("10.0.0.1:0")),
            ),
            (
                &xff,
                conf(&trust, Source::ForwardedFor, true),
                Some(addr("192.0.2.1:0")),
            ),
            (
                &[("X-Client", "192.0.2.9")],
                conf(&trust, Source::Header("x-client".into()), false),
                Some(addr("192.0.2.9:0")),
            ),
            // Untrusted peer, nothing trusted, no header.
            (
                &xff,
                conf(&["10.0.0.0/8"], Source::ForwardedFor, true),
                None,
            ),
            (&xff, conf(&[], Source::ForwardedFor, true), None),
            (&[], conf(&trust, Source::RealIp, true), None),
            // No PROXY header on this connection.
            (&[], conf(&trust, Source::ProxyProtocol, false), None),
        ];
        for (headers, conf, want) in cases {
            let got = find(&conf, &origin, &request(headers));
            assert_eq!(got, want, "{headers:?} {conf:?}");
        }
    }

    #[test]
    fn proxy_protocol_and_once_per_request() {
        let mut origin = Origin::test_loopback();
        let src = addr("192.0.2.1:123");
        origin.proxied = Some(std::sync::Arc::new(crate::handler::Proxied {
            src,
            dst: addr("192.0.2.2:80"),
        }));
        let req = request(&[]);
        let c = conf(&["127.0.0.1"], Source::ProxyProtocol, false);
        assert_eq!(find(&c, &origin, &req), Some(src));
        let untrusted = conf(&["10.0.0.0/8"], Source::ProxyProtocol, false);
        assert_eq!(find(&untrusted, &origin, &req), None);
        // Once replaced, nothing replaces it again (and the first origin stays).
        let moved = origin.clone().with_client(src);
        assert_eq!(moved.realip_from.as_deref(), Some(&origin.peer));
        assert_eq!(find(&c, &moved, &req), None);
        assert_eq!(
            moved
                .clone()
                .with_client(addr("10.0.0.1:1"))
                .realip_from
                .map(|a| *a),
            Some(origin.peer)
        );
        let mut back = moved.clone();
        back.without_client();
        assert_eq!((back.peer, back.realip_from.is_none()), (origin.peer, true));
    }
}
