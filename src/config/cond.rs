//! `if (CONDITION) { ... }` of nginx's rewrite module: the condition, parsed as
//! nginx parses it (the parentheses may stand alone or stick to the first and
//! last words), and the block's rewrite directives. In a location, the block's
//! other directives make a configuration of their own that applies while the
//! condition holds (nginx's "if location"); `build` adds it to the server.

use super::parser::Directive;
use super::values::Arg;
use super::{ConfigError, Op, Pos};
use crate::vars::{Pattern, Template};

/// An `if` block, compiled.
#[derive(Debug, Clone)]
pub struct IfBlock {
    pub cond: Cond,
    /// The block's `rewrite`/`return`/`set`/`break`/`if`, run when it holds.
    pub ops: Vec<Op>,
    /// In a location: the block's own configuration (an index into
    /// `Server::locations`) that the request takes when the condition holds.
    pub location: Option<usize>,
    pub pos: Pos,
}

/// What an `if` tests.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `($var)`: true unless empty or "0".
    Set(Template),
    /// `($var = VALUE)` (`negated`: `!=`).
    Equal {
        var: Template,
        value: Template,
        negated: bool,
    },
    /// `($var ~ RE)`, `~*`, `!~`, `!~*`; a match sets the captures.
    Regex {
        var: Template,
        pattern: Box<Pattern>,
        negated: bool,
    },
    /// `(-f PATH)`, `-d`, `-e`, `-x` and their `!` forms.
    File {
        test: FileTest,
        path: Template,
        negated: bool,
    },
}

/// The file operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-f`: a regular file.
    Plain,
    /// `-d`: a directory.
    Dir,
    /// `-e`: anything.
    Exists,
    /// `-x`: an executable file.
    Exec,
}

impl Cond {
    /// Every template of the condition, for linking.
    pub fn templates_mut(&mut self) -> Vec<&mut Template> {
        match self {
            Cond::Set(v) => vec![v],
            Cond::Equal { var, value, .. } => vec![var, value],
            Cond::Regex { var, .. } => vec![var],
            Cond::File { path, .. } => vec![path],
        }
    }

    pub fn pattern_mut(&mut self) -> Option<&mut Pattern> {
        match self {
            Cond::Regex { pattern, .. } => Some(pattern),
            _ => None,
        }
    }
}

fn invalid(arg: &Arg, text: &str) -> ConfigError {
    ConfigError::at(&arg.1, format!("invalid condition \"{text}\""))
}

/// The words of `if (...)` without the parentheses.
fn words(d: &Directive) -> Result<Vec<Arg>, ConfigError> {
    let mut args = d.args.clone();
    let first = &mut args[0];
    let Some(rest) = first.0.strip_prefix('(') else {
        return Err(invalid(first, &first.0.clone()));
    };
    if rest.is_empty() {
        args.remove(0);
    } else {
        first.0 = rest.to_string();
    }
    let Some(last) = args.last_mut() else {
        return Err(invalid(&d.args[0], &d.args[0].0));
    };
    let Some(rest) = last.0.strip_suffix(')') else {
        return Err(invalid(last, &last.0.clone()));
    };
    if rest.is_empty() {
        args.pop();
    } else {
        last.0 = rest.to_string();
    }
    if args.is_empty() {
        return Err(invalid(&d.args[0], "("));
    }
    Ok(args)
}

fn template(arg: &Arg) -> Result<Template, ConfigError> {
    Template::compile(&arg.0, &arg.1)
}

/// The condition of `if`.
pub fn condition(d: &Directive) -> Result<Cond, ConfigError> {
    let w = words(d)?;
    let first = &w[0];
    if first.0.len() > 1 && first.0.starts_with('$') {
        let var = template(first)?;
        if var.single_var().is_none() {
            return Err(invalid(first, &first.0));
        }
        return match w.as_slice() {
            [_] => Ok(Cond::Set(var)),
            [_, op, value] => compare(var, op, value),
            _ => Err(invalid(first, &first.0)),
        };
    }
    let test = match first.0.strip_prefix('!').unwrap_or(&first.0) {
        "-f" => FileTest::Plain,
        "-d" => FileTest::Dir,
        "-e" => FileTest::Exists,
        "-x" => FileTest::Exec,
        _ => return Err(invalid(first, &first.0)),
    };
    match w.as_slice() {
        [_, path] => Ok(Cond::File {
            test,
            path: template(path)?,
            negated: first.0.starts_with('!'),
        }),
        _ => Err(invalid(first, &first.0)),
    }
}

/// `$var OP VALUE`.
fn compare(var: Template, op: &Arg, value: &Arg) -> Result<Cond, ConfigError> {
    match op.0.as_str() {
        "=" | "!=" => Ok(Cond::Equal {
            var,
            value: template(value)?,
            negated: op.0 == "!=",
        }),
        "~" | "~*" | "!~" | "!~*" => Ok(Cond::Regex {
            var,
            pattern: Box::new(Pattern::compile(&value.0, op.0.ends_with('*'), &value.1)?),
            negated: op.0.starts_with('!'),
        }),
        other => {
            let msg = format!("unexpected \"{other}\" in condition");
            Err(ConfigError::at(&op.1, msg))
        }
    }
}
