//! The response header filter of a location, as nginx's headers and
//! `server_tokens` handling: `expires` (`Expires` and `Cache-Control`, only on
//! the statuses nginx adds them to) and `server_tokens off`. Runs on every
//! response that has a location (static, `return`, uploads, error pages); costs
//! one comparison when neither is configured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Expires, Location, caching};
use crate::http::Response;
use crate::http::date::{http_date, parse_http_date};
use crate::vars::Template;

/// Statuses that get `expires` headers (nginx's "safe" statuses).
fn takes_expires(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Applies the location's `expires` and `server_tokens` to `resp`; `expand`
/// reads an `expires` value that has variables.
pub fn finish(resp: &mut Response, loc: &Location, expand: &dyn Fn(&Template) -> String) {
    if !loc.server_tokens {
        resp.hide_version();
    }
    if loc.expires == Expires::Off || !takes_expires(resp.status) {
        return;
    }
    let e = match &loc.expires_value {
        None => loc.expires,
        // nginx: a value that does not parse adds nothing.
        Some(t) => match caching::expires_value(&expand(t), loc.expires != Expires::Access(0)) {
            Ok(e) => e,
            Err(_) => return,
        },
    };
    expires(resp, e, SystemTime::now());
}

/// nginx's `ngx_http_set_expires`: replaces any `Expires` and `Cache-Control`.
fn expires(resp: &mut Response, e: Expires, now: SystemTime) {
    let (expires, cache_control) = match e {
        Expires::Off => return,
        Expires::Epoch => (
            "Thu, 01 Jan 1970 00:00:01 GMT".to_owned(),
            "no-cache".into(),
        ),
        Expires::Max => (
            "Thu, 31 Dec 2037 23:55:55 GMT".to_owned(),
            "max-age=315360000".into(),
        ),
        Expires::Access(0) | Expires::Modified(0) => (http_date(now), "max-age=0".into()),
        Expires::Daily(secs) => {
            let next = next_time(now, secs);
            let max_age = unix(next) - unix(now);
            (http_date(next), cache_value(max_age, false))
        }
        Expires::Access(secs) => at(now, secs, secs, secs < 0),
        Expires::Modified(secs) => {
            // A backend's answer carries its fields as bytes (`raw_headers`).
            let relayed = resp
                .raw_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("last-modified"))
                .and_then(|(_, v)| std::str::from_utf8(v).ok());
            let modified = resp
                .get_header("Last-Modified")
                .or(relayed)
                .and_then(parse_http_date);
            match modified {
                Some(mtime) => {
                    let when = offset(mtime, secs);
                    let max_age = unix(when) - unix(now);
                    (http_date(when), cache_value(max_age, secs < 0))
                }
                // No modification time: counted from now, as nginx does.
                None => at(now, secs, secs, secs < 0),
            }
        }
    };
    drop_header(resp, "Expires");
    drop_header(resp, "Cache-Control");
    resp.header("Expires", expires);
    resp.header("Cache-Control", cache_control);
}

/// `Expires` at `now + secs`, `Cache-Control` from `max_age`.
fn at(now: SystemTime, secs: i64, max_age: i64, negative: bool) -> (String, String) {
    (http_date(offset(now, secs)), cache_value(max_age, negative))
}

/// `max-age=N`, or `no-cache` for a negative time or a date already past.
fn cache_value(max_age: i64, negative: bool) -> String {
    if negative || max_age < 0 {
        "no-cache".into()
    } else {
        format!("max-age={max_age}")
    }
}

/// The last second an HTTP date can name (9999-12-31 23:59:59).
const LAST_DATE: i64 = 253_402_300_799;

/// `t + secs`, whole seconds (an HTTP date has no fraction), between 1970 and
/// [`LAST_DATE`] (so `expires 1000000y` cannot overflow the clock).
fn offset(t: SystemTime, secs: i64) -> SystemTime {
    let when = unix(t).saturating_add(secs).clamp(0, LAST_DATE);
    UNIX_EPOCH + Duration::from_secs(when.unsigned_abs())
}

/// The next instant, after `now`, that is `secs` after a local midnight (nginx's
/// `ngx_next_time`: today's if still ahead, else tomorrow's).
fn next_time(now: SystemTime, secs: i64) -> SystemTime {
    let now_t = unix(now) as libc::time_t;
    // SAFETY: `tm` is a plain C struct that localtime_r fills and mktime reads;
    // both get valid pointers to locals.
    let at = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now_t, &mut tm).is_null() {
            return offset(now, secs);
        }
        tm.tm_hour = (secs / 3600) as libc::c_int;
        tm.tm_min = (secs % 3600 / 60) as libc::c_int;
        tm.tm_sec = (secs % 60) as libc::c_int;
        let today = libc::mktime(&mut tm);
        if today > now_t {
            today
        } else {
            tm.tm_mday += 1;
            libc::mktime(&mut tm)
        }
    };
    if at == -1 {
        return offset(now, secs);
    }
    UNIX_EPOCH + Duration::from_secs(at.max(0) as u64)
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn drop_header(resp: &mut Response, name: &str) {
    resp.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    resp.raw_headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-02 03:04:05 UTC.
    const NOW: u64 = 1_767_323_045;

    fn run(e: Expires, status: u16, last_modified: Option<&str>) -> Response {
        let mut r = Response::new(status);
        r.header("Cache-Control", "private");
        if let Some(lm) = last_modified {
            r.header("Last-Modified", lm);
        }
        if takes_expires(status) {
            expires(&mut r, e, UNIX_EPOCH + Duration::from_secs(NOW));
        }
        r
    }

    fn pair(r: &Response) -> (Option<&str>, Option<&str>) {
        (r.get_header("Expires"), r.get_header("Cache-Control"))
    }

    #[test]
    fn nginx_values() {
        let lm = "Thu, 01 Jan 2026 00:00:00 GMT";
        let cases: &[(Expires, Option<&str>, &str, &str)] = &[
            (
                Expires::Epoch,
                None,
                "Thu, 01 Jan 1970 00:00:01 GMT",
                "no-cache",
            ),
            (
                Expires::Max,
                None,
                "Thu, 31 Dec 2037 23:55:55 GMT",
                "max-age=315360000",
            ),
            (
                Expires::Access(0),
                None,
                "Fri, 02 Jan 2026 03:04:05 GMT",
                "max-age=0",
            ),
            (
                Expires::Access(3600),
                None,
                "Fri, 02 Jan 2026 04:04:05 GMT",
                "max-age=3600",
            ),
            (
                Expires::Access(-60),
                None,
                "Fri, 02 Jan 2026 03:03:05 GMT",
                "no-cache",
            ),
            // modified: from Last-Modified; max-age is what is left from now.
            (
                Expires::Modified(86_400 * 2),
                Some(lm),
                "Sat, 03 Jan 2026 00:00:00 GMT",
                "max-age=75355",
            ),
            (
                Expires::Modified(3600),
                Some(lm),
                "Thu, 01 Jan 2026 01:00:00 GMT",
                "no-cache",
            ),
            (
                Expires::Modified(60),
                None,
                "Fri, 02 Jan 2026 03:05:05 GMT",
                "max-age=60",
            ),
            // `modified 0` is now, as nginx has it.
            (
                Expires::Modified(0),
                Some(lm),
                "Fri, 02 Jan 2026 03:04:05 GMT",
                "max-age=0",
            ),
        ];
        for (e, lm, want_expires, want_cc) in cases {
            let r = run(*e, 200, *lm);
            assert_eq!(pair(&r), (Some(*want_expires), Some(*want_cc)), "{e:?}");
            let count = r
                .headers
                .iter()
                .filter(|(n, _)| n == "Cache-Control")
                .count();
            assert_eq!(count, 1, "{e:?}: the old Cache-Control is replaced");
        }
    }

    #[test]
    fn daily_is_the_next_such_time_of_day() {
        // Local time is whatever TZ says: check the offset from now, in a day.
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        for secs in [0, 3_600, 55_833, 86_399] {
            let next = unix(next_time(now, secs)) - NOW as i64;
            assert!(next > 0 && next <= 86_400 + 3_600, "{secs}: {next}");
        }
        let r = run(Expires::Daily(55_833), 200, None);
        let cc = r.get_header("Cache-Control").unwrap();
        let age: i64 = cc.strip_prefix("max-age=").unwrap().parse().unwrap();
        assert!(age > 0 && age <= 90_000, "{cc}");
    }

    #[test]
    fn far_dates_are_clamped_not_overflowed() {
        let r = run(Expires::Access(i64::MAX), 200, None);
        assert_eq!(
            r.get_header("Expires"),
            Some("Fri, 31 Dec 9999 23:59:59 GMT")
        );
        assert_eq!(
            r.get_header("Cache-Control"),
            Some(&*format!("max-age={}", i64::MAX))
        );
        let lm = "Thu, 01 Jan 2026 00:00:00 GMT";
        let r = run(Expires::Modified(i64::MIN), 200, Some(lm));
        assert_eq!(
            r.get_header("Expires"),
            Some("Thu, 01 Jan 1970 00:00:00 GMT")
        );
        assert_eq!(r.get_header("Cache-Control"), Some("no-cache"));
    }

    #[test]
    fn only_on_nginx_statuses() {
        for status in [200, 201, 204, 206, 301, 302, 303, 304, 307, 308] {
            assert!(
                pair(&run(Expires::Max, status, None)).0.is_some(),
                "{status}"
            );
        }
        for status in [100, 202, 203, 300, 400, 403, 404, 416, 500, 503] {
            let r = run(Expires::Max, status, None);
            assert_eq!(pair(&r), (None, Some("private")), "{status}");
        }
    }
}
