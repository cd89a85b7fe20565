//! The compression directives (nginx's gzip module, ngx_brotli and the zstd module
//! names): `gzip`, `gzip_types`, `gzip_min_length`, `gzip_comp_level`, `gzip_vary`,
//! `gzip_static`, the same for `brotli_*` and `zstd_*`, and `compression_cache`.
//! Each directive is inherited on its own, as every other setting.

use super::ConfigError;
use super::parser::Directive;
use super::values::{self, Arg};

/// One content coding's settings, as a location ends up with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// On-the-fly compression (`gzip on`).
    pub on: bool,
    /// MIME types compressed on the fly; `*` matches any. `text/html` always is.
    pub types: Vec<String>,
    /// Responses with a known length below this are not compressed.
    pub min_length: u64,
    pub level: u32,
    /// Pre-compressed siblings (`gzip_static`).
    pub precompressed: Static,
}

/// `gzip_static on|off|always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Static {
    Off,
    On,
    /// Serve the sibling whatever the client accepts (gzip only, as nginx).
    Always,
}

/// A location's compression settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    pub gzip: Codec,
    pub brotli: Codec,
    pub zstd: Codec,
    /// `gzip_vary`: `Vary: Accept-Encoding` on responses that could have been
    /// compressed. Default on (nginx: off).
    pub vary: bool,
    /// `compression_cache SIZE|off`: bytes of compressed static bodies kept per
    /// worker; 0 = off.
    pub cache: u64,
}

impl Compression {
    /// Whether anything at all may compress a response here.
    pub fn any(&self) -> bool {
        [&self.gzip, &self.brotli, &self.zstd]
            .iter()
            .any(|c| c.on || c.precompressed != Static::Off)
    }
}

/// Defaults: gzip level 1 (nginx), brotli 6 (ngx_brotli), zstd 1 (the zstd module);
/// minimum lengths 20 bytes; a 4 MiB cache.
pub const DEFAULT_CACHE: u64 = 4 << 20;

/// The directives of this module, for the directive table: (name, min, max args).
pub const NAMES: &[(&str, usize, usize)] = &[
    ("gzip", 1, 1),
    ("gzip_types", 1, usize::MAX),
    ("gzip_min_length", 1, 1),
    ("gzip_comp_level", 1, 1),
    ("gzip_vary", 1, 1),
    ("gzip_static", 1, 1),
    ("brotli", 1, 1),
    ("brotli_types", 1, usize::MAX),
    ("brotli_min_length", 1, 1),
    ("brotli_comp_level", 1, 1),
    ("brotli_static", 1, 1),
    ("zstd", 1, 1),
    ("zstd_types", 1, usize::MAX),
    ("zstd_min_length", 1, 1),
    ("zstd_comp_level", 1, 1),
    ("zstd_static", 1, 1),
    ("compression_cache", 1, 1),
];

/// One level's explicitly set values for one codec.
#[derive(Debug, Clone, Default)]
pub struct CodecDraft {
    on: Option<bool>,
    types: Option<Vec<String>>,
    min_length: Option<u64>,
    level: Option<u32>,
    precompressed: Option<Static>,
}

impl CodecDraft {
    fn merge(&self, outer: &CodecDraft) -> CodecDraft {
        CodecDraft {
            on: self.on.or(outer.on),
            types: self.types.clone().or_else(|| outer.types.clone()),
            min_length: self.min_length.or(outer.min_length),
            level: self.level.or(outer.level),
            precompressed: self.precompressed.or(outer.precompressed),
        }
    }

    fn finish(&self, level: u32) -> Codec {
        let mut types = self.types.clone().unwrap_or_default();
        if !types.iter().any(|t| t == "text/html") {
            types.insert(0, "text/html".into());
        }
        Codec {
            on: self.on.unwrap_or(false),
            types,
            min_length: self.min_length.unwrap_or(20),
            level: self.level.unwrap_or(level),
            precompressed: self.precompressed.unwrap_or(Static::Off),
        }
    }
}

/// One level's compression directives.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    gzip: CodecDraft,
    brotli: CodecDraft,
    zstd: CodecDraft,
    vary: Option<bool>,
    cache: Option<u64>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            gzip: self.gzip.merge(&outer.gzip),
            brotli: self.brotli.merge(&outer.brotli),
            zstd: self.zstd.merge(&outer.zstd),
            vary: self.vary.or(outer.vary),
            cache: self.cache.or(outer.cache),
        }
    }

    pub fn finish(&self) -> Compression {
        Compression {
            gzip: self.gzip.finish(1),
            brotli: self.brotli.finish(6),
            zstd: self.zstd.finish(1),
            vary: self.vary.unwrap_or(true),
            cache: self.cache.unwrap_or(DEFAULT_CACHE),
        }
    }

    /// Records one of this module's directives; `Ok(false)` if `d` is not one.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let name = d.name.as_str();
        let a = &d.args;
        match name {
            "gzip_vary" => self.vary = Some(values::on_off(&a[0], name)?),
            "compression_cache" => {
                self.cache = Some(if a[0].0 == "off" {
                    0
                } else {
                    values::size(&a[0], name)?
                })
            }
            _ => {
                let (codec, rest) = match name.split_once('_') {
                    Some((c, rest)) => (c, rest),
                    None => (name, ""),
                };
                let (draft, levels) = match codec {
                    "gzip" => (&mut self.gzip, 1..=9),
                    "brotli" => (&mut self.brotli, 0..=11),
                    "zstd" => (&mut self.zstd, 1..=19),
                    _ => return Ok(false),
                };
                match rest {
                    "" => draft.on = Some(values::on_off(&a[0], name)?),
                    "types" => draft.types.get_or_insert_with(Vec::new).extend(types(a)),
                    "min_length" => draft.min_length = Some(min_length(&a[0], name)?),
                    "comp_level" => draft.level = Some(level(&a[0], name, levels)?),
                    "static" => draft.precompressed = Some(precompressed(&a[0], name)?),
                    _ => return Ok(false),
                }
            }
        }
        Ok(true)
    }
}

/// The directives as config lines (for `-T` and `--explain`).
pub fn lines(c: &Compression) -> Vec<String> {
    let on_off = |b: bool| if b { "on" } else { "off" };
    let mut v = Vec::new();
    for (name, codec) in [("gzip", &c.gzip), ("brotli", &c.brotli), ("zstd", &c.zstd)] {
        v.push(format!("{name} {}", on_off(codec.on)));
        v.push(format!("{name}_types {}", codec.types.join(" ")));
        v.push(format!("{name}_min_length {}", codec.min_length));
        v.push(format!("{name}_comp_level {}", codec.level));
        v.push(format!(
            "{name}_static {}",
            match codec.precompressed {
                Static::Off => "off",
                Static::On => "on",
                Static::Always => "always",
            }
        ));
    }
    v.push(format!("gzip_vary {}", on_off(c.vary)));
    v.push(match c.cache {
        0 => "compression_cache off".to_owned(),
        n => format!("compression_cache {n}"),
    });
    v
}

fn types(a: &[Arg]) -> impl Iterator<Item = String> + '_ {
    a.iter().map(|(t, _)| t.to_ascii_lowercase())
}

/// `gzip_min_length 0` is allowed (compress everything).
fn min_length(arg: &Arg, name: &str) -> Result<u64, ConfigError> {
    if arg.0 == "0" {
        return Ok(0);
    }
    values::size(arg, name)
}

fn level(arg: &Arg, name: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, ConfigError> {
    match arg.0.parse::<u32>() {
        Ok(n) if range.contains(&n) && arg.0.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ConfigError::at(
            &arg.1,
            format!(
                "invalid level \"{}\" in \"{name}\" ({}-{})",
                arg.0,
                range.start(),
                range.end()
            ),
        )),
    }
}

fn precompressed(arg: &Arg, name: &str) -> Result<Static, ConfigError> {
    match arg.0.to_ascii_lowercase().as_str() {
        "on" => Ok(Static::On),
        "off" => Ok(Static::Off),
        "always" if name == "gzip_static" => Ok(Static::Always),
        _ => {
            let allowed = if name == "gzip_static" {
                "on|off|always"
            } else {
                "on|off"
            };
            Err(ConfigError::at(
                &arg.1,
                format!("\"{name}\" takes {allowed}, got \"{}\"", arg.0),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;
    use std::sync::Arc;

    fn draft(src: &str) -> Result<Draft, String> {
        let dirs = parse_str(src, &Arc::from("t.conf")).unwrap();
        let mut d = Draft::default();
        for dir in &dirs {
            assert!(d.apply(dir).map_err(|e| e.to_string())?, "{}", dir.name);
        }
        Ok(d)
    }

    #[test]
    fn defaults() {
        let c = Draft::default().finish();
        assert!(!c.gzip.on && !c.brotli.on && !c.zstd.on && !c.any());
        assert_eq!(c.gzip.types, ["text/html"]);
        assert_eq!((c.gzip.level, c.brotli.level, c.zstd.level), (1, 6, 1));
        assert_eq!(c.gzip.precompressed, Static::Off);
        assert!(c.vary);
        assert_eq!(c.cache, DEFAULT_CACHE);
    }

    #[test]
    fn values_and_inheritance() {
        let outer = draft(
            "gzip on; gzip_types text/css application/JavaScript; gzip_comp_level 6; \
             brotli_static on; compression_cache off;",
        )
        .unwrap();
        let inner = draft("gzip_types text/plain; gzip_static always; zstd on;").unwrap();
        let c = inner.merge(&outer).finish();
        assert!(c.gzip.on && c.zstd.on && !c.brotli.on);
        assert_eq!(c.gzip.types, ["text/html", "text/plain"]);
        assert_eq!(c.gzip.level, 6);
        assert_eq!(c.gzip.precompressed, Static::Always);
        assert_eq!(c.brotli.precompressed, Static::On);
        assert_eq!(c.cache, 0);
        let o = outer.finish();
        assert_eq!(
            o.gzip.types,
            ["text/html", "text/css", "application/javascript"]
        );
        assert_eq!(
            draft("gzip_min_length 0;")
                .unwrap()
                .finish()
                .gzip
                .min_length,
            0
        );
        let c = draft("compression_cache 1m; gzip_min_length 1k;")
            .unwrap()
            .finish();
        assert_eq!((c.cache, c.gzip.min_length), (1 << 20, 1024));
    }

    #[test]
    fn errors_name_the_argument() {
        let cases = [
            (
                "gzip_comp_level 10;",
                "t.conf:1:17: invalid level \"10\" in \"gzip_comp_level\" (1-9)",
            ),
            (
                "brotli_comp_level x;",
                "t.conf:1:19: invalid level \"x\" in \"brotli_comp_level\" (0-11)",
            ),
            (
                "gzip_static maybe;",
                "t.conf:1:13: \"gzip_static\" takes on|off|always, got \"maybe\"",
            ),
            (
                "brotli_static always;",
                "t.conf:1:15: \"brotli_static\" takes on|off, got \"always\"",
            ),
            (
                "gzip yes;",
                "t.conf:1:6: \"gzip\" takes on|off, got \"yes\"",
            ),
            (
                "compression_cache lots;",
                "t.conf:1:19: invalid size \"lots\" in \"compression_cache\"",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(draft(src).unwrap_err(), want, "{src}");
        }
    }
}
