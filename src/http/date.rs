//! HTTP dates (RFC 9110 §5.6.7): IMF-fixdate formatting for `Date` and
//! `Last-Modified`, parsing of all three forms for the conditional headers, and the
//! access log's local time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    /// 0 = Thursday (1970-01-01 was one).
    pub weekday: u32,
}

/// Seconds since the epoch → civil date (Howard Hinnant's days-from-civil inverse).
pub fn civil(secs: u64) -> Civil {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        min: (rem / 60 % 60) as u32,
        sec: (rem % 60) as u32,
        weekday: (days.rem_euclid(7)) as u32,
    }
}

/// Civil date → seconds since the epoch; `None` before 1970.
fn to_secs(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<u64> {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s);
    u64::try_from(secs).ok()
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
pub fn http_date(t: SystemTime) -> String {
    let c = civil(epoch_secs(t));
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `22/Nov/2026:15:46:02 +0000` (nginx `$time_local`, kept in UTC).
pub fn log_date(t: SystemTime) -> String {
    let c = civil(epoch_secs(t));
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min,
        c.sec
    )
}

/// `22-Nov-2026 15:46` (autoindex listings, as nginx shows them).
pub fn listing_date(t: SystemTime) -> String {
    let c = civil(epoch_secs(t));
    format!(
        "{:02}-{}-{} {:02}:{:02}",
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.min
    )
}

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 says a recipient
/// must accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850
/// form (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let words: Vec<&str> = s.split_ascii_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        [wd, day, mon, year, time, "GMT"] if short_day(wd.strip_suffix(',')?) => {
            (*day, *mon, four_digits(year)?, *time)
        }
        [wd, date, time, "GMT"] if long_day(wd.strip_suffix(',')?) => {
            let mut parts = date.split('-');
            let (day, mon, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || yy.len() != 2 {
                return None;
            }
            (day, mon, two_digit_year(yy.parse().ok()?), *time)
        }
        [wd, mon, day, time, year] if short_day(wd) => (*day, *mon, four_digits(year)?, *time),
        _ => return None,
    };
    let day: u32 = digits(day, 1..=2)?;
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut hms = time.split(':').map(|v| digits(v, 2..=2));
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let secs = to_secs(year, month, day, h, m, sec)?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn short_day(s: &str) -> bool {
    DAYS.contains(&s)
}

fn long_day(s: &str) -> bool {
    const LONG: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    LONG.contains(&s)
}

/// A number written with a count of ASCII digits in `len`.
fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn four_digits(s: &str) -> Option<i64> {
    digits(s, 4..=4).map(i64::from)
}

/// RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most
/// recent past year with the same last two digits.
fn two_digit_year(yy: i64) -> i64 {
    let now = civil(epoch_secs(SystemTime::now())).year;
    let year = now - now.rem_euclid(100) + yy;
    if year > now + 50 { year - 100 } else { year }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc_example() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(log_date(t), "06/Nov/1994:08:49:37 +0000");
        assert_eq!(listing_date(t), "06-Nov-1994 08:49");
    }

    #[test]
    fn parse_round_trips() {
        for secs in [0u64, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
        }
    }

    #[test]
    fn parse_accepts_the_three_forms() {
        let rfc = Some(UNIX_EPOCH + Duration::from_secs(784_111_777));
        let jan = Some(UNIX_EPOCH + Duration::from_secs(1_704_164_645));
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", rfc),
            ("Sunday, 06-Nov-94 08:49:37 GMT", rfc),
            ("Sun Nov  6 08:49:37 1994", rfc),
            ("Sun Nov 06 08:49:37 1994", rfc),
            ("Tue, 02 Jan 2024 03:04:05 GMT", jan),
            ("Tuesday, 02-Jan-24 03:04:05 GMT", jan),
            ("Tue Jan  2 03:04:05 2024", jan),
            ("  Tue, 02 Jan 2024 03:04:05 GMT ", jan),
            ("Tue, 02-Jan-24 03:04:05 GMT", None),
            ("Tuesday, 02 Jan 2024 03:04:05 GMT", None),
            ("Tuesday, 02-Jan-2024 03:04:05 GMT", None),
            ("Tue Jan  2 03:04:05 24", None),
            ("Tue Jan  2 03:04:05 2024 GMT", None),
            ("Tue Jan 32 03:04:05 2024", None),
            ("Tue Jan  2 3:04:05 2024", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_http_date(text), *want, "{text:?}");
        }
    }

    #[test]
    fn two_digit_years_are_at_most_fifty_years_ahead() {
        let now = civil(epoch_secs(SystemTime::now())).year;
        for yy in 0..100 {
            let y = two_digit_year(yy);
            assert_eq!(y.rem_euclid(100), yy);
            assert!(y <= now + 50 && y > now - 50, "{yy} -> {y}");
        }
    }

    #[test]
    fn parse_rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_http_date(s), None, "{s:?}");
        }
    }
}
