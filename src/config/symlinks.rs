//! `disable_symlinks off | on | if_not_owner [from=PART]` (http, server,
//! location), as nginx reads it. The walk itself is `fs::symlinks`; without the
//! directive webserv keeps its own rule (no link may lead out of the root).

use super::ConfigError;
use super::values::Arg;
use crate::fs::symlinks::{Check, Mode, checked_from};
use crate::vars::Template;

/// A location's `disable_symlinks`.
#[derive(Debug, Clone)]
pub struct DisableSymlinks {
    pub mode: Mode,
    /// `from=PART`: the leading part of a file's path that is not checked
    /// (often `$document_root`); variables are expanded per request.
    pub from: Option<Template>,
}

/// Reads the directive's one or two arguments (arity checked by the table).
pub fn parse(args: &[Arg]) -> Result<DisableSymlinks, ConfigError> {
    let mode = match args[0].0.as_str() {
        "off" => Mode::Off,
        "on" => Mode::On,
        "if_not_owner" => Mode::IfNotOwner,
        other => {
            return Err(ConfigError::at(
                &args[0].1,
                format!(
                    "invalid value \"{other}\" in \"disable_symlinks\": off, on or if_not_owner"
                ),
            ));
        }
    };
    let from = match args.get(1) {
        None => None,
        Some((text, at)) => {
            let Some(part) = text.strip_prefix("from=") else {
                return Err(ConfigError::at(
                    at,
                    format!("invalid parameter \"{text}\" in \"disable_symlinks\": only from=PART"),
                ));
            };
            if mode == Mode::Off {
                return Err(ConfigError::at(
                    at,
                    "\"from=\" cannot be used with \"off\" in \"disable_symlinks\"".to_string(),
                ));
            }
            Some(Template::compile(part, at)?)
        }
    };
    Ok(DisableSymlinks { mode, from })
}

impl super::Location {
    /// How `file` is opened here, when `disable_symlinks` is set: `from` is the
    /// expanded `from=` value (see [`Self::symlinks_from_value`]).
    pub fn symlink_check(&self, file: &std::path::Path, from: Option<&str>) -> Option<Check> {
        use std::os::unix::ffi::OsStrExt;
        let d = self.disable_symlinks.as_ref()?;
        Some(checked_from(
            d.mode,
            file.as_os_str().as_bytes(),
            from.map(str::as_bytes),
        ))
    }

    /// The `from=` value for this request: expanded by the phases when it has
    /// variables, else as written.
    pub fn symlinks_from_value(&self) -> Option<&str> {
        let from = self.disable_symlinks.as_ref()?.from.as_ref()?;
        self.symlinks_from.as_deref().or(from.literal())
    }
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
    fn table() {
        let ok = [
            (&["off"][..], Mode::Off, None),
            (&["on"][..], Mode::On, None),
            (
                &["if_not_owner", "from=/srv"][..],
                Mode::IfNotOwner,
                Some("/srv"),
            ),
            (
                &["on", "from=$document_root"][..],
                Mode::On,
                Some("$document_root"),
            ),
        ];
        for (words, mode, from) in ok {
            let d = parse(&args(words)).unwrap();
            assert_eq!(d.mode, mode, "{words:?}");
            assert_eq!(d.from.as_ref().map(|t| t.source()), from, "{words:?}");
        }
        for bad in [&["yes"][..], &["on", "to=/x"][..], &["off", "from=/x"][..]] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
