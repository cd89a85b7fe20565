//! `proxy_ignore_headers` / `fastcgi_ignore_headers NAME ...;`: upstream response
//! fields whose meaning for the server is not applied (the field is still
//! hidden or passed as usual). Names are nginx's, matched case-insensitively.
//! Of these webserv acts on `X-Accel-Limit-Rate` only (the rest name features
//! it does not have: caching, `X-Accel-Redirect`, ...), so the others are
//! accepted and change nothing.

use super::ConfigError;
use super::values::Arg;

/// `X-Accel-Limit-Rate`: the upstream's pace for its response.
pub const LIMIT_RATE: u16 = 1 << 2;

/// The names nginx knows, with their bits.
const NAMES: [(&str, u16); 9] = [
    ("X-Accel-Redirect", 1),
    ("X-Accel-Expires", 1 << 1),
    ("X-Accel-Limit-Rate", LIMIT_RATE),
    ("X-Accel-Buffering", 1 << 3),
    ("X-Accel-Charset", 1 << 4),
    ("Expires", 1 << 5),
    ("Cache-Control", 1 << 6),
    ("Set-Cookie", 1 << 7),
    ("Vary", 1 << 8),
];

/// The bits of the directive's arguments; an unknown name is an error at its place.
pub fn parse(args: &[Arg], directive: &str) -> Result<u16, ConfigError> {
    let mut bits = 0;
    for (word, pos) in args {
        let Some((_, bit)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) else {
            let msg = format!("invalid value \"{word}\" in \"{directive}\" directive");
            return Err(ConfigError::at(pos, msg));
        };
        bits |= bit;
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn args(words: &[&str]) -> Vec<Arg> {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        words.iter().map(|w| (w.to_string(), pos.clone())).collect()
    }

    #[test]
    fn names_are_nginx_s_in_any_case() {
        let cases: [(&[&str], Option<u16>); 5] = [
            (&["X-Accel-Limit-Rate"], Some(LIMIT_RATE)),
            (&["x-accel-limit-rate", "Vary"], Some(LIMIT_RATE | 1 << 8)),
            (&["Set-Cookie"], Some(1 << 7)),
            (&["X-Accel-Nothing"], None),
            (&["Vary", "off"], None),
        ];
        for (words, want) in cases {
            let got = parse(&args(words), "proxy_ignore_headers").ok();
            assert_eq!(got, want, "{words:?}");
        }
    }
}
