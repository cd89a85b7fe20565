//! `Accept-Encoding` (RFC 9110 §12.5.3): the q-value the client gives each content
//! coding, and the choice among the codings a response may use.
//!
//! Rules: a coding named in the field has its own q (`x-gzip` is `gzip`); one not
//! named takes the q of `*`, else it is not acceptable. `identity` is acceptable
//! unless given q=0, or `*;q=0` without naming it. The first mention of a coding
//! counts (later duplicates are ignored, as nginx reads the field). A q that is not
//! `0`..`1` with at most three decimals makes that element unacceptable (q=0), and
//! elements that are not tokens are skipped, so garbage never turns compression on.
//! No field at all means identity: nothing is compressed for a client that did not
//! ask.

/// A content coding webserv can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Brotli,
    Zstd,
    Gzip,
}

impl Encoding {
    /// Server preference when the client's q-values tie: best ratio first.
    pub const PREFERENCE: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    /// The file-name suffix of a pre-compressed sibling.
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Zstd => ".zst",
            Encoding::Gzip => ".gz",
        }
    }
}

/// q-values in thousandths, as the client gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    /// The field was present.
    pub present: bool,
    br: Option<u16>,
    zstd: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    star: Option<u16>,
}

impl Accept {
    /// Parses every `Accept-Encoding` field value of a request (joined as a list).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Accept {
        let mut a = Accept::default();
        for value in values {
            a.present = true;
            for element in value.split(|&b| b == b',') {
                a.element(element);
            }
        }
        a
    }

    fn element(&mut self, element: &[u8]) {
        let mut parts = element.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
            return;
        }
        let mut q = 1000;
        for param in parts {
            let param = trim(param);
            if let Some((name, value)) = split_once(param, b'=')
                && trim(name).eq_ignore_ascii_case(b"q")
            {
                q = qvalue(trim(value)).unwrap_or(0);
            }
        }
        let slot = match coding.to_ascii_lowercase().as_slice() {
            b"br" => &mut self.br,
            b"zstd" => &mut self.zstd,
            b"gzip" | b"x-gzip" => &mut self.gzip,
            b"identity" => &mut self.identity,
            b"*" => &mut self.star,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(q);
        }
    }

    /// The q the client gives `enc` (0 = not acceptable).
    pub fn q(&self, enc: Encoding) -> u16 {
        let named = match enc {
            Encoding::Brotli => self.br,
            Encoding::Zstd => self.zstd,
            Encoding::Gzip => self.gzip,
        };
        named.or(self.star).unwrap_or(0)
    }

    /// The q of identity: named, else 0 if `*;q=0`, else acceptable (1 when the
    /// client said nothing; otherwise below any coding it named).
    pub fn identity_q(&self) -> u16 {
        match (self.identity, self.star) {
            (Some(q), _) => q,
            (None, Some(0)) => 0,
            _ => 1,
        }
    }

    /// The best of `offered` for this client, `None` for identity. Highest q wins;
    /// ties go by [`Encoding::PREFERENCE`]; identity wins over a coding only when
    /// the client gave identity a higher q.
    pub fn choose(&self, offered: &[Encoding]) -> Option<Encoding> {
        if !self.present {
            return None;
        }
        let best = Encoding::PREFERENCE
            .iter()
            .filter(|e| offered.contains(e))
            .map(|&e| (self.q(e), e))
            .filter(|(q, _)| *q > 0)
            .fold(None, |best: Option<(u16, Encoding)>, cur| match best {
                Some(b) if b.0 >= cur.0 => Some(b),
                _ => Some(cur),
            })?;
        (self.identity_q() <= best.0).then_some(best.1)
    }

    /// Whether the client accepts nothing but identity (then no coding is worth
    /// a `Vary` decision either way: it is still sent, since a cache may serve others).
    pub fn identity_only(&self) -> bool {
        Encoding::PREFERENCE.iter().all(|&e| self.q(e) == 0)
    }
}

/// RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`, in thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match split_once(v, b'.') {
        Some((i, f)) => (i, f),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::Encoding::*;
    use super::*;

    const ALL: &[Encoding] = &[Brotli, Zstd, Gzip];

    fn choose(header: Option<&str>, offered: &[Encoding]) -> Option<Encoding> {
        Accept::parse(header.map(str::as_bytes)).choose(offered)
    }

    #[test]
    fn choice_table() {
        let cases: &[(Option<&str>, &[Encoding], Option<Encoding>)] = &[
            (None, ALL, None),
            (Some(""), ALL, None),
            (Some("gzip"), ALL, Some(Gzip)),
            (Some("x-gzip"), ALL, Some(Gzip)),
            (Some("GZIP"), ALL, Some(Gzip)),
            (Some("gzip, deflate, br, zstd"), ALL, Some(Brotli)),
            (Some("gzip, deflate, br, zstd"), &[Zstd, Gzip], Some(Zstd)),
            (Some("gzip, br"), &[Gzip], Some(Gzip)),
            (Some("br;q=1.0, gzip;q=0.8, *;q=0"), ALL, Some(Brotli)),
            (Some("br;q=0.5, gzip;q=0.8"), ALL, Some(Gzip)),
            (Some("br;q=0.5,gzip;q=0.8,zstd;q=0.9"), ALL, Some(Zstd)),
            (Some("br;q=0, gzip"), ALL, Some(Gzip)),
            (Some("gzip;q=0"), ALL, None),
            (Some("*"), ALL, Some(Brotli)),
            (Some("*"), &[Gzip], Some(Gzip)),
            (Some("*;q=0"), ALL, None),
            (Some("gzip;q=0.2, *;q=0.5"), ALL, Some(Brotli)),
            (Some("identity"), ALL, None),
            (Some("identity;q=0"), ALL, None),
            (Some("identity;q=0, gzip"), ALL, Some(Gzip)),
            (Some("gzip;q=0.5, identity"), ALL, None),
            (Some("gzip;q=0.5, identity;q=0.4"), ALL, Some(Gzip)),
            (Some("gzip, identity"), ALL, Some(Gzip)),
            (Some("deflate, compress"), ALL, None),
            (Some("gzip"), &[], None),
            // Duplicates: the first mention counts.
            (Some("gzip;q=0, gzip"), ALL, None),
            (Some("gzip, gzip;q=0"), ALL, Some(Gzip)),
            // Garbage is never acceptable.
            (Some("gzip;q=2"), ALL, None),
            (Some("gzip;q=1.5"), ALL, None),
            (Some("gzip;q=0.1234"), ALL, None),
            (Some("gzip;q=abc"), ALL, None),
            (Some("gzip;q="), ALL, None),
            (Some("gzip;q=-1"), ALL, None),
            (Some("gz ip"), ALL, None),
            (Some("\"gzip\""), ALL, None),
            (Some(",,, ;q=1, gzip"), ALL, Some(Gzip)),
            (Some("gzip;level=9"), ALL, Some(Gzip)),
            (Some("gzip ; Q = 0.5 , br ; q=0.4"), ALL, Some(Gzip)),
            (Some("gzip;q=1.000"), ALL, Some(Gzip)),
            (Some("gzip;q=0.001"), ALL, Some(Gzip)),
            (Some("gzip;q=0.000"), ALL, None),
        ];
        for (header, offered, want) in cases {
            assert_eq!(
                choose(*header, offered),
                *want,
                "{header:?} offering {offered:?}"
            );
        }
    }

    #[test]
    fn several_fields_are_one_list() {
        let a = Accept::parse([b"br;q=0.1".as_slice(), b"gzip".as_slice()]);
        assert_eq!(a.choose(ALL), Some(Gzip));
        assert_eq!(a.q(Brotli), 100);
    }

    #[test]
    fn identity_q_and_identity_only() {
        let cases: &[(&str, u16, bool)] = &[
            ("gzip", 1, false),
            ("identity", 1000, true),
            ("*;q=0", 0, true),
            ("*;q=0, identity;q=0.5", 500, true),
            ("identity;q=0", 0, true),
            ("deflate", 1, true),
            ("br;q=0.3", 1, false),
        ];
        for (header, q, only) in cases {
            let a = Accept::parse([header.as_bytes()]);
            assert_eq!((a.identity_q(), a.identity_only()), (*q, *only), "{header}");
        }
    }

    #[test]
    fn qvalues() {
        let cases: &[(&str, Option<u16>)] = &[
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.999", Some(999)),
            ("1.001", None),
            ("2", None),
            (".5", None),
            ("0.5x", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(qvalue(v.as_bytes()), *want, "{v}");
        }
    }

    /// The parser sees any byte string without panicking, split anywhere.
    #[test]
    fn any_bytes_split_anywhere() {
        let field = b"br;q=0.9, gzip ;q=1, \xff\x00;q=0.5,*;q=0, identity;q=0.1";
        for cut in 0..=field.len() {
            let a = Accept::parse([&field[..cut], &field[cut..]]);
            let _ = a.choose(ALL);
        }
        assert_eq!(Accept::parse([field.as_slice()]).choose(ALL), Some(Gzip));
    }
}
