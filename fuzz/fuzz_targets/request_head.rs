//! `http::request::parse_head` on arbitrary bytes.
//!
//! The first byte picks `client_header_buffer_size` (64 B .. 16 KiB); the rest is the
//! head. Besides "never panics", checks what the event loop relies on: a complete
//! head never claims more bytes than it was given or than the limit, and every proper
//! prefix of a complete head is "need more" (a request split anywhere is accepted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use webserv::http::request::parse_head;

fuzz_target!(|data: &[u8]| {
    let Some((&first, buf)) = data.split_first() else {
        return;
    };
    let limit = 64 + usize::from(first) * 64;
    match parse_head(buf, limit) {
        Ok(Some((req, n))) => {
            assert!(
                n <= buf.len() && n <= limit,
                "consumed {n} of {}",
                buf.len()
            );
            // Accessors the handlers call must not panic either.
            let _ = (
                req.path(),
                req.query(),
                req.version_str(),
                req.method.as_str(),
            );
            let _ = req.header("host");
            let _ = req.header("content-length");
            // Split anywhere before the end of the head: not complete, not an error.
            for cut in [n / 3, n / 2, n - 1] {
                if cut < n {
                    let r = parse_head(&buf[..cut], limit);
                    assert!(
                        matches!(r, Ok(None)),
                        "prefix of {cut} of a complete {n}-byte head gave {r:?}"
                    );
                }
            }
        }
        // "Need more" only while the head still fits: nothing waits on a full buffer.
        Ok(None) => assert!(buf.len() < limit, "need more with {} >= {limit}", buf.len()),
        Err(e) => {
            let s = e.status();
            assert!(matches!(s, 400 | 414 | 431 | 501 | 505), "status {s}");
        }
    }
});
