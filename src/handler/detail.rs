//! Error pages that say why: when webserv itself knows the cause of a 5xx an
//! operator can fix (a CGI interpreter that is not installed), the built-in page
//! names it, as the error log does. A configured `error_page` is served unchanged.

use super::charset::GENERATED_HTML;
use super::path::html_escape;
use super::{Routed, error_response};
use crate::config::Config;
use crate::http::Response;
use crate::http::status::reason;

/// The error response for `status`, with `detail` on the built-in page.
pub fn error_with_detail(config: &Config, routed: &Routed, status: u16, detail: &str) -> Response {
    if routed.location(config).error_pages.contains_key(&status) {
        return error_response(config, routed.server, Some(routed), status);
    }
    Response::with_body(status, GENERATED_HTML, page(status, detail).into_bytes())
}

fn page(status: u16, detail: &str) -> String {
    let reason = reason(status);
    format!(
        "<html>\r\n<head><meta charset=\"utf-8\"><title>{status} {reason}</title></head>\r\n\
         <body>\r\n<center><h1>{status} {reason}</h1></center>\r\n\
         <center><p>{}</p></center>\r\n<hr><center>webserv</center>\r\n</body>\r\n</html>\r\n",
        html_escape(detail)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_escaped() {
        let p = page(500, "interpreter \"<x>\" not found");
        assert!(p.contains("<h1>500 Internal Server Error</h1>"));
        assert!(p.contains("<p>interpreter &quot;&lt;x&gt;&quot; not found</p>"));
    }
}
