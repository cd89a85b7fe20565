//! The content of a `stub_status` or `metrics` location: the process-wide
//! counters as nginx's status text or as a Prometheus exposition. Like nginx's
//! handler, only GET and HEAD are answered; the page is made fresh per request
//! and has no validators, so nothing caches it.

use crate::config::StatusPage;
use crate::http::{Method, Response};
use crate::metrics::{self, expose, page};

/// The page for `method`: 200 with the text, or 405 for other methods.
pub fn serve(kind: StatusPage, method: Method) -> Result<Response, u16> {
    if !matches!(method, Method::Get | Method::Head) {
        return Err(405);
    }
    Ok(match kind {
        StatusPage::Stub => {
            let text = page::stub_status(&metrics::totals());
            Response::with_body(200, "text/plain", text.into_bytes())
        }
        StatusPage::Prometheus => {
            let text = page::prometheus(&metrics::all());
            Response::with_body(200, expose::CONTENT_TYPE, text.into_bytes())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_head_are_answered_and_the_rest_refused() {
        for kind in [StatusPage::Stub, StatusPage::Prometheus] {
            for m in [Method::Get, Method::Head] {
                let resp = serve(kind, m).expect("answered");
                assert_eq!(resp.status, 200);
            }
            for m in [Method::Post, Method::Put, Method::Delete] {
                assert_eq!(serve(kind, m).err(), Some(405));
            }
        }
        let resp = serve(StatusPage::Prometheus, Method::Get).expect("answered");
        assert_eq!(
            resp.get_header("Content-Type"),
            Some("text/plain; version=0.0.4")
        );
    }
}
