//! `geo { ranges; ... }`: IPv4 address ranges (`A-B VALUE`) as nginx keeps them,
//! per /16 block, sorted and disjoint: a range inside an earlier one splits it,
//! a range that only partly overlaps one is an error, the same range again
//! replaces its value, and `delete` removes exactly the ranges it names.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The ranges of one geo block.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    /// `default VALUE`.
    pub default: Option<String>,
    /// By the address's first 16 bits: (first, last, value) of the last 16 bits.
    blocks: BTreeMap<u16, Vec<(u16, u16, String)>>,
}

/// The pieces of `start..=end` in each /16: (block, first, last).
fn pieces(start: u32, end: u32) -> impl Iterator<Item = (u16, u16, u16)> {
    let (first, last) = ((start >> 16) as u16, (end >> 16) as u16);
    (first..=last).map(move |h| {
        let s = if h == first { start as u16 } else { 0 };
        let e = if h == last { end as u16 } else { u16::MAX };
        (h, s, e)
    })
}

/// What adding a range found.
pub enum Added {
    Done,
    /// The same range was there; its old value.
    Replaced(String),
    /// It partly overlaps this range (first and last address).
    Overlaps(Ipv4Addr, Ipv4Addr),
}

impl Ranges {
    /// Adds `start..=end` with `value`, in nginx's way (see the module docs).
    pub fn add(&mut self, start: u32, end: u32, value: &str) -> Added {
        let mut outcome = Added::Done;
        for (h, s, e) in pieces(start, end) {
            let list = self.blocks.entry(h).or_default();
            match add_piece(list, s, e, value) {
                Ok(Some(old)) => outcome = Added::Replaced(old),
                Ok(None) => {}
                Err((a, b)) => {
                    let at = |low: u16| Ipv4Addr::from((u32::from(h) << 16) | u32::from(low));
                    return Added::Overlaps(at(a), at(b));
                }
            }
        }
        outcome
    }

    /// Removes the ranges that are exactly `start..=end`; `false` when some piece
    /// of it was not there (nginx's warning).
    pub fn delete(&mut self, start: u32, end: u32) -> bool {
        let mut all = true;
        for (h, s, e) in pieces(start, end) {
            let list = self.blocks.entry(h).or_default();
            match list.iter().position(|r| r.0 == s && r.1 == e) {
                Some(i) => {
                    list.remove(i);
                }
                None => all = false,
            }
        }
        all
    }

    /// The value for `ip`: its range's, else the default, else empty.
    pub fn lookup(&self, ip: Ipv4Addr) -> &str {
        let n = u32::from(ip);
        let low = n as u16;
        let found = self.blocks.get(&((n >> 16) as u16)).and_then(|list| {
            list.iter()
                .find(|(s, e, _)| *s <= low && low <= *e)
                .map(|(_, _, v)| v.as_str())
        });
        found.or(self.default.as_deref()).unwrap_or("")
    }
}

/// One /16 piece into its sorted list: `Ok(Some(old))` when it replaced the same
/// range, `Err` with the range it partly overlaps.
fn add_piece(
    list: &mut Vec<(u16, u16, String)>,
    s: u16,
    e: u16,
    value: &str,
) -> Result<Option<String>, (u16, u16)> {
    let v = value.to_string();
    for i in (0..list.len()).rev() {
        let (rs, re) = (list[i].0, list[i].1);
        if e < rs {
            continue;
        }
        if s > re {
            list.insert(i + 1, (s, e, v));
        } else if s == rs && e == re {
            return Ok(Some(std::mem::replace(&mut list[i].2, v)));
        } else if s > rs && e < re {
            let old = list[i].2.clone();
            list[i].1 = s - 1;
            list.insert(i + 1, (s, e, v));
            list.insert(i + 2, (e + 1, re, old));
        } else if s == rs && e < re {
            list[i].0 = e + 1;
            list.insert(i, (s, e, v));
        } else if s > rs && e == re {
            list[i].1 = s - 1;
            list.insert(i + 1, (s, e, v));
        } else {
            return Err((rs, re));
        }
        return Ok(None);
    }
    list.insert(0, (s, e, v));
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    fn at(r: &Ranges, s: &str) -> String {
        r.lookup(s.parse().unwrap()).to_string()
    }

    #[test]
    fn split_replace_delete_and_overlap() {
        let mut r = Ranges {
            default: Some("default".into()),
            ..Ranges::default()
        };
        assert!(matches!(
            r.add(ip("127.0.0.0"), ip("127.0.0.255"), "test"),
            Added::Done
        ));
        assert!(matches!(
            r.add(ip("127.0.0.1"), ip("127.0.0.1"), "lo"),
            Added::Done
        ));
        assert_eq!(
            (
                at(&r, "127.0.0.0"),
                at(&r, "127.0.0.1"),
                at(&r, "127.0.0.9")
            ),
            ("test".into(), "lo".into(), "test".into())
        );
        assert!(r.delete(ip("127.0.0.0"), ip("127.0.0.0")));
        assert!(r.delete(ip("127.0.0.2"), ip("127.0.0.255")));
        assert!(!r.delete(ip("127.0.0.2"), ip("127.0.0.255")));
        assert_eq!(at(&r, "127.0.0.9"), "default");
        // Across /16 blocks.
        r.add(ip("10.10.3.0"), ip("10.11.2.255"), "foo");
        r.add(ip("10.12.3.0"), ip("10.13.2.255"), "foo2");
        assert_eq!(at(&r, "10.11.0.1"), "foo");
        assert!(r.delete(ip("10.10.3.0"), ip("10.11.2.255")));
        assert_eq!(
            (at(&r, "10.11.0.1"), at(&r, "10.13.0.1")),
            ("default".into(), "foo2".into())
        );
        assert!(matches!(
            r.add(ip("127.0.0.1"), ip("127.0.0.1"), "again"),
            Added::Replaced(old) if old == "lo"
        ));
        assert!(matches!(
            r.add(ip("127.0.0.0"), ip("127.0.0.5"), "x"),
            Added::Overlaps(..)
        ));
    }
}
