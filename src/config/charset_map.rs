//! `charset_map FROM TO { HEX HEX; ... }`: the recoding tables of nginx's charset
//! module. Each line maps one byte of FROM to one byte of TO, or, when TO is
//! `utf-8`, to the UTF-8 bytes of a character (written in hex, as nginx's
//! `conf/koi-utf`). Both directions are built from one block (FROM → TO and
//! TO → FROM), so a map serves `source_charset A; charset B;` and the reverse.
//! Bytes 0-127 map to themselves unless a line says otherwise; other unmapped
//! bytes become `?` (nginx's defaults).

use std::collections::HashMap;
use std::sync::Arc;

use super::parser::Directive;
use super::{ConfigError, Pos};

/// One direction of a map.
#[derive(Debug, Clone)]
pub enum Table {
    /// Byte → byte (the length of a body does not change).
    Bytes(Arc<[u8; 256]>),
    /// Byte → UTF-8 sequence of 1 to 3 bytes: `[len, b0, b1, b2]`.
    ToUtf8(Arc<[[u8; 4]; 256]>),
    /// Character (below U+10000) → byte; a character not in it is written as
    /// `&#N;`. ASCII passes unchanged.
    FromUtf8(Arc<HashMap<u32, u8>>),
}

/// One `charset_map` block.
#[derive(Debug, Clone)]
pub struct CharsetMap {
    pub from: String,
    pub to: String,
    /// FROM → TO.
    pub forward: Table,
    /// TO → FROM.
    pub back: Table,
}

/// Every `charset_map` of the configuration, and every charset name it knows.
#[derive(Debug, Clone, Default)]
pub struct CharsetMaps {
    pub maps: Vec<CharsetMap>,
    /// The names of the maps and of the fixed `charset` and `source_charset`
    /// values, each as first written (compared case-insensitively). A response
    /// naming a charset outside them is never recoded.
    names: Vec<String>,
}

impl CharsetMaps {
    /// Adds `name` to the known charsets.
    pub fn declare(&mut self, name: &str) {
        if self.spelling(name).is_none() {
            self.names.push(name.to_string());
        }
    }

    /// `name` as first declared, if it is known.
    pub fn spelling(&self, name: &str) -> Option<&str> {
        self.names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// The table recoding `src` into `dst` (names compared case-insensitively).
    pub fn table(&self, src: &str, dst: &str) -> Option<&Table> {
        self.maps.iter().find_map(|m| {
            if m.from.eq_ignore_ascii_case(src) && m.to.eq_ignore_ascii_case(dst) {
                Some(&m.forward)
            } else if m.from.eq_ignore_ascii_case(dst) && m.to.eq_ignore_ascii_case(src) {
                Some(&m.back)
            } else {
                None
            }
        })
    }

    /// Adds the block `d`, refusing a second map between the same two charsets.
    pub fn add(&mut self, d: &Directive) -> Result<(), ConfigError> {
        let map = parse(d)?;
        if self.table(&map.from, &map.to).is_some() {
            let msg = format!(
                "duplicate \"charset_map\" between \"{}\" and \"{}\"",
                map.from, map.to
            );
            return Err(ConfigError::at(&d.pos, msg));
        }
        self.declare(&map.from);
        self.declare(&map.to);
        self.maps.push(map);
        Ok(())
    }
}

/// Whether `name` is UTF-8 to nginx's charset module.
pub fn is_utf8(name: &str) -> bool {
    name.eq_ignore_ascii_case("utf-8")
}

/// One `charset_map FROM TO { ... }` block (arity already checked).
pub fn parse(d: &Directive) -> Result<CharsetMap, ConfigError> {
    let (from, to) = (&d.args[0].0, &d.args[1].0);
    if from.eq_ignore_ascii_case(to) {
        let msg = format!("\"charset_map\" between the same charsets \"{from}\" and \"{to}\"");
        return Err(ConfigError::at(&d.pos, msg));
    }
    if is_utf8(from) {
        let msg = "\"charset_map\" with \"utf-8\" charset should be given in the second column";
        return Err(ConfigError::at(&d.pos, msg));
    }
    let entries = d.block.as_deref().unwrap_or_default();
    let (forward, back) = if is_utf8(to) {
        utf8_tables(entries)?
    } else {
        byte_tables(entries)?
    };
    Ok(CharsetMap {
        from: from.clone(),
        to: to.clone(),
        forward,
        back,
    })
}

/// The two hex values of one line.
fn entry(e: &Directive) -> Result<(u8, &str, &Pos), ConfigError> {
    if e.block.is_some() || e.args.len() != 1 {
        return Err(ConfigError::at(&e.pos, "invalid parameters number"));
    }
    let src = hex_byte(&e.name).ok_or_else(|| invalid(&e.name, &e.pos))?;
    let (dst, pos) = (&e.args[0].0, &e.args[0].1);
    Ok((src, dst, pos))
}

fn invalid(value: &str, pos: &Pos) -> ConfigError {
    ConfigError::at(pos, format!("invalid value \"{value}\""))
}

/// A hex number up to 0xff (nginx's `ngx_hextoi`: digits only, any case).
fn hex_byte(s: &str) -> Option<u8> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 2 {
        return None;
    }
    u8::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16).ok()
}

fn byte_tables(entries: &[Directive]) -> Result<(Table, Table), ConfigError> {
    let mut forward = [b'?'; 256];
    let mut back = [b'?'; 256];
    for i in 0..128u8 {
        forward[usize::from(i)] = i;
        back[usize::from(i)] = i;
    }
    for e in entries {
        let (src, dst, pos) = entry(e)?;
        let dst = hex_byte(dst).ok_or_else(|| invalid(dst, pos))?;
        forward[usize::from(src)] = dst;
        back[usize::from(dst)] = src;
    }
    Ok((
        Table::Bytes(Arc::new(forward)),
        Table::Bytes(Arc::new(back)),
    ))
}

fn utf8_tables(entries: &[Directive]) -> Result<(Table, Table), ConfigError> {
    let mut forward = [[1, b'?', 0, 0]; 256];
    for (i, slot) in forward.iter_mut().enumerate().take(128) {
        slot[1] = i as u8;
    }
    let mut back = HashMap::new();
    for e in entries {
        let (src, dst, pos) = entry(e)?;
        let bytes = hex_bytes(dst).ok_or_else(|| invalid(dst, pos))?;
        // nginx's decoder takes sequences of two bytes or more, up to U+FFFF.
        let code = match crate::filter::recode::decode(&bytes) {
            crate::filter::recode::Decoded::Char(c, n) if n == bytes.len() && c <= 0xffff => c,
            _ => return Err(invalid(dst, pos)),
        };
        let mut slot = [bytes.len() as u8, 0, 0, 0];
        slot[1..=bytes.len()].copy_from_slice(&bytes);
        forward[usize::from(src)] = slot;
        back.insert(code, src);
    }
    Ok((
        Table::ToUtf8(Arc::new(forward)),
        Table::FromUtf8(Arc::new(back)),
    ))
}

/// 1 to 3 bytes written as 2 to 6 hex digits.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 6 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| hex_byte(s.get(i..i + 2)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;

    fn maps(src: &str) -> Result<CharsetMaps, String> {
        let dirs = parse_str(src, &Arc::from("t.conf")).map_err(|e| e.to_string())?;
        let mut maps = CharsetMaps::default();
        for d in &dirs {
            maps.add(d).map_err(|e| e.to_string())?;
        }
        Ok(maps)
    }

    #[test]
    fn byte_maps_go_both_ways_with_nginx_defaults() {
        let m = maps("charset_map B A { 58 59; e0 c1; }").unwrap();
        let Some(Table::Bytes(fwd)) = m.table("b", "A") else {
            panic!("no B -> A table");
        };
        let Some(Table::Bytes(back)) = m.table("A", "B") else {
            panic!("no A -> B table");
        };
        let cases = [
            (b'X', b'Y', b'X'),
            (b'a', b'a', b'a'),
            (0xe0, 0xc1, b'?'),
            (0x80, b'?', b'?'),
        ];
        for (byte, there, back_again) in cases {
            assert_eq!(fwd[usize::from(byte)], there, "{byte:#x}");
            assert_eq!(back[usize::from(byte)], back_again, "back {byte:#x}");
        }
        assert_eq!(back[0x59], b'X');
        assert_eq!(back[0xc1], 0xe0);
        assert!(m.table("A", "C").is_none());
    }

    #[test]
    fn utf8_maps() {
        let m = maps("charset_map koi8-r utf-8 { C1 D0B0; 9A C2A0; 95 E28899; }").unwrap();
        let Some(Table::ToUtf8(fwd)) = m.table("koi8-r", "UTF-8") else {
            panic!("no forward table");
        };
        assert_eq!(fwd[0xc1], [2, 0xd0, 0xb0, 0]);
        assert_eq!(fwd[0x95], [3, 0xe2, 0x88, 0x99]);
        assert_eq!(fwd[b'z' as usize], [1, b'z', 0, 0]);
        assert_eq!(fwd[0xff], [1, b'?', 0, 0]);
        let Some(Table::FromUtf8(back)) = m.table("utf-8", "koi8-r") else {
            panic!("no back table");
        };
        assert_eq!(back.get(&0x430), Some(&0xc1));
        assert_eq!(back.get(&0x2219), Some(&0x95));
        assert_eq!(back.get(&0xa0), Some(&0x9a));
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "charset_map a A { }",
                "t.conf:1:1: \"charset_map\" between the same charsets \"a\" and \"A\"",
            ),
            (
                "charset_map utf-8 b { }",
                "t.conf:1:1: \"charset_map\" with \"utf-8\" charset should be given in the second column",
            ),
            (
                "charset_map a b { 58; }",
                "t.conf:1:19: invalid parameters number",
            ),
            (
                "charset_map a b { 58 59 5a; }",
                "t.conf:1:19: invalid parameters number",
            ),
            (
                "charset_map a b { 58 { } }",
                "t.conf:1:19: invalid parameters number",
            ),
            (
                "charset_map a b { 100 59; }",
                "t.conf:1:19: invalid value \"100\"",
            ),
            (
                "charset_map a b { 58 x9; }",
                "t.conf:1:22: invalid value \"x9\"",
            ),
            (
                "charset_map a b { -1 59; }",
                "t.conf:1:19: invalid value \"-1\"",
            ),
            (
                "charset_map a utf-8 { 80 41; }",
                "t.conf:1:26: invalid value \"41\"",
            ),
            (
                "charset_map a utf-8 { 80 D0; }",
                "t.conf:1:26: invalid value \"D0\"",
            ),
            (
                "charset_map a utf-8 { 80 D0B; }",
                "t.conf:1:26: invalid value \"D0B\"",
            ),
            (
                "charset_map a utf-8 { 80 F0908080; }",
                "t.conf:1:26: invalid value \"F0908080\"",
            ),
            (
                "charset_map a utf-8 { 80 C0B0; }",
                "t.conf:1:26: invalid value \"C0B0\"",
            ),
            (
                "charset_map a b { }\ncharset_map B A { }",
                "t.conf:2:1: duplicate \"charset_map\" between \"B\" and \"A\"",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(maps(src).unwrap_err(), want, "{src}");
        }
        assert!(maps("charset_map a b { 0058 00; FF ff; }").is_ok());
    }
}
