//! The syntax pass: tokens → a tree of [`Directive`]s, knowing nothing of meaning.
//!
//! Grammar (nginx):
//!
//! ```text
//! config    = directive* EOF
//! directive = string string* (";" | block)
//! block     = "{" directive* "}"
//! string    = WORD | QUOTED
//! ```
//!
//! Each rule is a small nom parser over [`Tokens`], a token slice that the lexer always
//! ends with `Eof`. Errors carry the offending token, so `unexpected "}"` and
//! `unexpected end of file, expecting "}"` name the exact place.

use std::iter::Enumerate;
use std::slice::Iter;

use nom::branch::alt;
use nom::combinator::{cut, map, value};
use nom::error::{ErrorKind, ParseError};
use nom::multi::many0;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Input, Needed, Parser};

use super::lexer::{Token, TokenKind, tokenize};
use super::{ConfigError, Pos};

/// One directive: `name args... ;` or `name args... { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    /// Arguments with their positions, quotes removed.
    pub args: Vec<(String, Pos)>,
    /// Where the name was written.
    pub pos: Pos,
    /// `Some` for `{ ... }` directives, `None` for `;` ones.
    pub block: Option<Vec<Directive>>,
}

/// A token slice as nom input.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a>(pub &'a [Token]);

impl<'a> Input for Tokens<'a> {
    type Item = &'a Token;
    type Iter = Iter<'a, Token>;
    type IterIndices = Enumerate<Iter<'a, Token>>;

    fn input_len(&self) -> usize {
        self.0.len()
    }
    fn take(&self, index: usize) -> Self {
        Tokens(&self.0[..index])
    }
    fn take_from(&self, index: usize) -> Self {
        Tokens(&self.0[index..])
    }
    fn take_split(&self, index: usize) -> (Self, Self) {
        let (prefix, suffix) = self.0.split_at(index);
        (Tokens(suffix), Tokens(prefix))
    }
    fn position<P: Fn(Self::Item) -> bool>(&self, predicate: P) -> Option<usize> {
        self.0.iter().position(predicate)
    }
    fn iter_elements(&self) -> Self::Iter {
        self.0.iter()
    }
    fn iter_indices(&self) -> Self::IterIndices {
        self.0.iter().enumerate()
    }
    fn slice_index(&self, count: usize) -> Result<usize, Needed> {
        if self.0.len() >= count {
            Ok(count)
        } else {
            Err(Needed::new(count - self.0.len()))
        }
    }
}

/// A syntax error: the token the parser stopped at, and what it wanted at end of file.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    token: Option<Token>,
    expecting: Option<&'static str>,
}

impl ParseError<Tokens<'_>> for SyntaxError {
    fn from_error_kind(input: Tokens<'_>, _: ErrorKind) -> Self {
        SyntaxError {
            token: input.0.first().cloned(),
            expecting: None,
        }
    }
    fn append(_: Tokens<'_>, _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl From<SyntaxError> for ConfigError {
    fn from(e: SyntaxError) -> Self {
        let Some(token) = e.token else {
            return ConfigError::new("unexpected end of file");
        };
        let msg = match (&token.kind, e.expecting) {
            (TokenKind::Eof, Some(what)) => format!("unexpected end of file, expecting {what}"),
            (TokenKind::Eof, None) => "unexpected end of file".to_string(),
            (kind, _) => format!("unexpected \"{}\"", kind.describe()),
        };
        ConfigError::at(&token.pos, msg)
    }
}

type PResult<'a, O> = IResult<Tokens<'a>, O, SyntaxError>;

/// Takes one token if `f` accepts it.
fn next_if<'a, O>(i: Tokens<'a>, f: impl Fn(&Token) -> Option<O>) -> PResult<'a, O> {
    match i.0.split_first() {
        Some((t, rest)) => match f(t) {
            Some(o) => Ok((Tokens(rest), o)),
            None => Err(nom::Err::Error(SyntaxError::from_error_kind(
                i,
                ErrorKind::Tag,
            ))),
        },
        None => Err(nom::Err::Error(SyntaxError::from_error_kind(
            i,
            ErrorKind::Eof,
        ))),
    }
}

/// Matches one token of exactly this kind.
fn punct<'a>(kind: TokenKind) -> impl Fn(Tokens<'a>) -> PResult<'a, ()> {
    move |i| next_if(i, |t| (t.kind == kind).then_some(()))
}

/// Makes `p` a hard failure and, if it stopped at end of file, says what was expected.
fn expect<'a, O>(
    mut p: impl Parser<Tokens<'a>, Output = O, Error = SyntaxError>,
    expecting: &'static str,
) -> impl FnMut(Tokens<'a>) -> PResult<'a, O> {
    move |i| {
        cut(|i| p.parse(i)).parse(i).map_err(|e| {
            e.map(|mut e| {
                e.expecting.get_or_insert(expecting);
                e
            })
        })
    }
}

/// `string = WORD | QUOTED`, with its position.
pub(crate) fn string(i: Tokens) -> PResult<(String, Pos)> {
    next_if(i, |t| match &t.kind {
        TokenKind::Word(s) | TokenKind::Quoted(s) => Some((s.clone(), t.pos.clone())),
        _ => None,
    })
}

/// `block = "{" directive* "}"`.
pub(crate) fn block(i: Tokens) -> PResult<Vec<Directive>> {
    let close = expect(punct(TokenKind::CloseBrace), "\"}\"");
    preceded(
        punct(TokenKind::OpenBrace),
        terminated(many0(directive), close),
    )
    .parse(i)
}

/// What ends a directive: `;` (no block) or a block.
pub(crate) fn terminator(i: Tokens) -> PResult<Option<Vec<Directive>>> {
    alt((value(None, punct(TokenKind::Semicolon)), map(block, Some))).parse(i)
}

/// `directive = string string* (";" | block)`.
pub(crate) fn directive(i: Tokens) -> PResult<Directive> {
    let end = expect(terminator, "\";\" or \"}\"");
    let (i, ((name, pos), args, block)) = (string, many0(string), end).parse(i)?;
    let d = Directive {
        name,
        args,
        pos,
        block,
    };
    Ok((i, d))
}

/// `config = directive* EOF`.
pub(crate) fn config(i: Tokens) -> PResult<Vec<Directive>> {
    terminated(many0(directive), expect(punct(TokenKind::Eof), "")).parse(i)
}

/// Deepest block nesting accepted; the parser recurses once per level, and no valid
/// configuration nests deeper than main → http → server → location.
pub const MAX_DEPTH: usize = 32;

/// Rejects nesting deeper than [`MAX_DEPTH`] before the recursive parser sees it.
fn check_depth(tokens: &[Token]) -> Result<(), ConfigError> {
    let mut depth = 0usize;
    for t in tokens {
        match t.kind {
            TokenKind::OpenBrace if depth == MAX_DEPTH => {
                return Err(ConfigError::at(&t.pos, "blocks are nested too deeply"));
            }
            TokenKind::OpenBrace => depth += 1,
            TokenKind::CloseBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a token list (ending with `Eof`) into directives.
pub fn parse(tokens: &[Token]) -> Result<Vec<Directive>, ConfigError> {
    check_depth(tokens)?;
    match config(Tokens(tokens)) {
        Ok((_, dirs)) => Ok(dirs),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.into()),
        Err(nom::Err::Incomplete(_)) => Err(ConfigError::new("unexpected end of file")),
    }
}

/// Tokenizes and parses the text of `file`.
pub fn parse_str(src: &str, file: &std::sync::Arc<str>) -> Result<Vec<Directive>, ConfigError> {
    parse(&tokenize(src, file)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn toks(src: &str) -> Vec<Token> {
        tokenize(src, &Arc::from("t.conf")).unwrap()
    }

    /// A compact rendering of a tree: `name(args)` or `name(args){...}`, with line:col.
    fn show(dirs: &[Directive]) -> String {
        let one = |d: &Directive| {
            let args: Vec<_> = d.args.iter().map(|(a, _)| a.as_str()).collect();
            let block = d.block.as_ref().map(|b| format!("{{{}}}", show(b)));
            format!(
                "{}@{}:{}({}){}",
                d.name,
                d.pos.line,
                d.pos.col,
                args.join(","),
                block.unwrap_or_default()
            )
        };
        dirs.iter().map(one).collect::<Vec<_>>().join(" ")
    }

    fn parse_ok(src: &str) -> String {
        show(&parse_str(src, &Arc::from("t.conf")).unwrap())
    }

    fn parse_err(src: &str) -> String {
        parse_str(src, &Arc::from("t.conf"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn string_rule() {
        let t = toks("a \"b c\" ;");
        let (rest, (s, pos)) = string(Tokens(&t)).unwrap();
        assert_eq!((s.as_str(), pos.col, rest.0.len()), ("a", 1, 3));
        let (_, (s, _)) = string(rest).unwrap();
        assert_eq!(s, "b c");
        assert!(string(Tokens(&t[2..])).is_err());
    }

    #[test]
    fn terminator_rule() {
        let cases = [
            (";", Some(None)),
            ("{ }", Some(Some(0))),
            ("{ a; b; }", Some(Some(2))),
            ("x", None),
        ];
        for (src, want) in cases {
            let t = toks(src);
            let got = terminator(Tokens(&t)).ok().map(|(_, b)| b.map(|b| b.len()));
            assert_eq!(got, want, "{src:?}");
        }
    }

    #[test]
    fn block_rule() {
        let t = toks("{ a 1; b { c; } } rest");
        let (rest, dirs) = block(Tokens(&t)).unwrap();
        assert_eq!(show(&dirs), "a@1:3(1) b@1:8(){c@1:12()}");
        assert_eq!(rest.0.len(), 2);
    }

    #[test]
    fn directive_rule() {
        let cases = [
            ("root /www;", "root@1:1(/www)"),
            ("index a.html 'b c.html' ;", "index@1:1(a.html,b c.html)"),
            ("server{}", "server@1:1(){}"),
            (
                "location = /x {\n root y;\n}",
                "location@1:1(=,/x){root@2:2(y)}",
            ),
            ("\"quoted name\" a;", "quoted name@1:1(a)"),
        ];
        for (src, want) in cases {
            let t = toks(src);
            let (_, d) = directive(Tokens(&t)).unwrap();
            assert_eq!(show(&[d]), want, "{src:?}");
        }
    }

    #[test]
    fn config_rule() {
        let cases = [
            ("", ""),
            ("# nothing\n", ""),
            ("a; b;", "a@1:1() b@1:4()"),
            (
                "http { server { listen 80; } }",
                "http@1:1(){server@1:8(){listen@1:17(80)}}",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(parse_ok(src), want, "{src:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = "a {".repeat(100_000);
        let err = parse_err(&src);
        assert_eq!(
            err,
            format!("t.conf:1:{}: blocks are nested too deeply", 3 * 32 + 3)
        );
        let ok = format!("{}{}", "a {".repeat(32), "}".repeat(32));
        assert!(parse_str(&ok, &Arc::from("t.conf")).is_ok());
    }

    /// Every prefix of a valid file either parses or fails with a position.
    #[test]
    fn every_prefix_parses_or_fails_cleanly() {
        let src = "http { # c\n server { listen 80; root \"/a b\"; location = /x { } } }\n";
        for cut in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            if let Err(e) = parse_str(&src[..cut], &Arc::from("t.conf")) {
                assert!(e.pos.is_some(), "prefix {cut}: {e}");
            }
        }
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("}", "t.conf:1:1: unexpected \"}\""),
            ("a;\n}", "t.conf:2:1: unexpected \"}\""),
            ("root /x }", "t.conf:1:9: unexpected \"}\""),
            (
                "root /x",
                "t.conf:1:8: unexpected end of file, expecting \";\" or \"}\"",
            ),
            (
                "server {\n a;\n",
                "t.conf:3:1: unexpected end of file, expecting \"}\"",
            ),
            (
                "a { b { c; }",
                "t.conf:1:13: unexpected end of file, expecting \"}\"",
            ),
            (";", "t.conf:1:1: unexpected \";\""),
            ("server { ; }", "t.conf:1:10: unexpected \";\""),
            ("{", "t.conf:1:1: unexpected \"{\""),
            ("a { { } }", "t.conf:1:5: unexpected \"{\""),
            ("root \"x", "t.conf:1:6: unterminated quoted string"),
        ];
        for (src, want) in cases {
            assert_eq!(parse_err(src), want, "{src:?}");
        }
    }
}
