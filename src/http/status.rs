//! Status codes and their reason phrases.

/// The reason phrase for `code` (RFC 9110 §15; the codes nginx names, which a
/// `return CODE` may send), or `""` for others.
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        // nginx's phrase (its status line and error page say "405 Not Allowed").
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Statuses that never carry a body (RFC 9110 §6.4.1).
pub fn bodiless(code: u16) -> bool {
    code < 200 || code == 204 || code == 304
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_for_what_return_may_send() {
        let cases = [
            (200, "OK"),
            (202, "Accepted"),
            (401, "Unauthorized"),
            (410, "Gone"),
            (429, "Too Many Requests"),
            (507, "Insufficient Storage"),
            (418, ""),
        ];
        for (code, want) in cases {
            assert_eq!(reason(code), want, "{code}");
        }
    }
}
