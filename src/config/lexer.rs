//! The tokenizer: configuration text → tokens with 1-based line and column.
//!
//! Tokens are bare words, `"double"` / `'single'` quoted strings (with `\"`, `\'`,
//! `\\`, `\n`, `\t`, `\r` escapes; any other escaped character keeps its backslash,
//! as nginx does), `;`, `{` and `}`. `#` at the start of a token runs to the end of
//! the line (inside a word it is an ordinary character, as in nginx). The token
//! list always ends with an [`TokenKind::Eof`] token positioned just past the text,
//! so the parser can name the end of file in its errors.
//!
//! Each grammar rule is a small nom parser over `&str`; [`tokenize`] drives them and
//! turns byte offsets into positions.

use std::sync::Arc;

use nom::branch::alt;
use nom::bytes::complete::{is_not, take_till};
use nom::character::complete::{anychar, char, multispace1, satisfy};
use nom::combinator::{cut, map, recognize, value};
use nom::multi::{fold_many0, many0_count};
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

use super::{ConfigError, Pos};

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// An unquoted word, as written.
    Word(String),
    /// A quoted string, quotes removed and escapes applied.
    Quoted(String),
    Semicolon,
    OpenBrace,
    CloseBrace,
    /// End of the file (always the last token).
    Eof,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub pos: Pos,
}

impl TokenKind {
    /// The token as it would appear in an `unexpected "X"` message.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Word(s) | TokenKind::Quoted(s) => s.clone(),
            TokenKind::Semicolon => ";".into(),
            TokenKind::OpenBrace => "{".into(),
            TokenKind::CloseBrace => "}".into(),
            TokenKind::Eof => "end of file".into(),
        }
    }
}

/// Whitespace and comments between tokens.
pub(crate) fn blank(i: &str) -> IResult<&str, ()> {
    value((), many0_count(alt((multispace1, comment)))).parse(i)
}

/// `#` to the end of the line (the newline itself is left as whitespace).
pub(crate) fn comment(i: &str) -> IResult<&str, &str> {
    recognize(pair(char('#'), take_till(|c| c == '\n'))).parse(i)
}

/// `;`, `{` or `}`.
pub(crate) fn punct(i: &str) -> IResult<&str, TokenKind> {
    alt((
        value(TokenKind::Semicolon, char(';')),
        value(TokenKind::OpenBrace, char('{')),
        value(TokenKind::CloseBrace, char('}')),
    ))
    .parse(i)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | '{' | '}')
}

/// An unquoted word: starts with anything but a separator, quote or `#`. As in
/// nginx, a `{` right after `$` opens a variable name (`${uri}`, `x${name}y`), so
/// it and its closing `}` belong to the word.
pub(crate) fn bare_word(i: &str) -> IResult<&str, TokenKind> {
    satisfy(|c| !is_separator(c) && !matches!(c, '"' | '\'' | '#')).parse(i)?;
    map(word_chars, |w: &str| TokenKind::Word(w.to_string())).parse(i)
}

/// A bare word's characters: up to a separator that is not part of a `${name}`.
fn word_chars(i: &str) -> IResult<&str, &str> {
    let (mut prev, mut in_name) = ('\0', false);
    let end = i
        .char_indices()
        .find(|&(_, c)| {
            let part = match c {
                '{' => prev == '$',
                '}' => in_name,
                c => !is_separator(c),
            };
            if c == '{' && part {
                in_name = true;
            } else if c == '}' && part {
                in_name = false;
            }
            prev = c;
            !part
        })
        .map_or(i.len(), |(at, _)| at);
    Ok((&i[end..], &i[..end]))
}

/// A backslash escape inside a quoted string.
pub(crate) fn escape(i: &str) -> IResult<&str, String> {
    let unescape = |c: char| match c {
        'n' => "\n".to_string(),
        't' => "\t".to_string(),
        'r' => "\r".to_string(),
        '"' | '\'' | '\\' => c.to_string(),
        other => format!("\\{other}"),
    };
    map(preceded(char('\\'), anychar), unescape).parse(i)
}

/// The inside of a string quoted with `quote`, escapes applied.
fn quoted_body(quote: char) -> impl FnMut(&str) -> IResult<&str, String> {
    move |i| {
        let stop: &str = if quote == '"' { "\"\\" } else { "'\\" };
        let chunk = alt((map(is_not(stop), str::to_string), escape));
        fold_many0(chunk, String::new, |mut acc, s| {
            acc.push_str(&s);
            acc
        })
        .parse(i)
    }
}

/// A `"double"` or `'single'` quoted string; a missing closing quote is a failure.
pub(crate) fn quoted(i: &str) -> IResult<&str, TokenKind> {
    let string = |q: char| delimited(char(q), quoted_body(q), cut(char(q)));
    map(alt((string('"'), string('\''))), TokenKind::Quoted).parse(i)
}

/// Any one token.
pub(crate) fn token(i: &str) -> IResult<&str, TokenKind> {
    alt((punct, quoted, bare_word)).parse(i)
}

/// Turns byte offsets into 1-based line/column positions as the lexer advances.
struct Cursor<'a> {
    src: &'a str,
    file: Arc<str>,
    offset: usize,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    /// Moves to the start of `rest` (a suffix of the source).
    fn advance_to(&mut self, rest: &str) {
        let target = self.src.len() - rest.len();
        for c in self.src[self.offset..target].chars() {
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.offset = target;
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }
}

/// Splits `src` (the contents of `file`) into tokens, ending with an `Eof` token.
pub fn tokenize(src: &str, file: &Arc<str>) -> Result<Vec<Token>, ConfigError> {
    let mut cur = Cursor {
        src,
        file: file.clone(),
        offset: 0,
        line: 1,
        col: 1,
    };
    let mut tokens = Vec::new();
    let mut rest = skip_blank(src);
    while !rest.is_empty() {
        cur.advance_to(rest);
        let (after, kind) = next_token(rest, &cur)?;
        let was_quoted = matches!(kind, TokenKind::Quoted(_));
        tokens.push(Token {
            kind,
            pos: cur.pos(),
        });
        if was_quoted {
            check_after_quote(after, &mut cur)?;
        }
        rest = skip_blank(after);
    }
    cur.advance_to(rest);
    tokens.push(Token {
        kind: TokenKind::Eof,
        pos: cur.pos(),
    });
    Ok(tokens)
}

fn skip_blank(i: &str) -> &str {
    match blank(i) {
        Ok((rest, ())) => rest,
        Err(_) => i,
    }
}

fn next_token<'a>(rest: &'a str, cur: &Cursor) -> Result<(&'a str, TokenKind), ConfigError> {
    token(rest).map_err(|_| ConfigError::at(&cur.pos(), "unterminated quoted string"))
}

/// nginx wants a quoted string to be followed by a space, `;`, `{` or `}`.
fn check_after_quote(after: &str, cur: &mut Cursor) -> Result<(), ConfigError> {
    match after.chars().next() {
        // `)` may close an `if` condition right after a quoted string.
        Some(c) if !is_separator(c) && c != '#' && c != ')' => {
            cur.advance_to(after);
            Err(ConfigError::at(&cur.pos(), format!("unexpected \"{c}\"")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::TokenKind::*;
    use super::*;

    fn w(s: &str) -> TokenKind {
        Word(s.into())
    }
    fn q(s: &str) -> TokenKind {
        Quoted(s.into())
    }

    /// (kind, line, col) triples for a source text, without the final Eof.
    fn lex(src: &str) -> Vec<(TokenKind, u32, u32)> {
        let file: Arc<str> = Arc::from("t.conf");
        let mut toks = tokenize(src, &file).unwrap();
        assert_eq!(toks.pop().unwrap().kind, Eof);
        toks.into_iter()
            .map(|t| (t.kind, t.pos.line, t.pos.col))
            .collect()
    }

    fn lex_err(src: &str) -> String {
        tokenize(src, &Arc::from("t.conf")).unwrap_err().to_string()
    }

    #[test]
    fn comment_rule() {
        let cases = [
            ("# hi\nx", Ok(("\nx", "# hi"))),
            ("#", Ok(("", "#"))),
            ("x#", Err(())),
        ];
        for (input, want) in cases {
            let got = comment(input).map_err(|_| ());
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn blank_rule() {
        let cases = [
            ("  \t\n x", "x"),
            ("# c\n  # d\nroot", "root"),
            ("", ""),
            ("x", "x"),
        ];
        for (input, rest) in cases {
            assert_eq!(blank(input).unwrap().0, rest, "{input:?}");
        }
    }

    #[test]
    fn punct_rule() {
        let cases = [(";x", Semicolon), ("{", OpenBrace), ("}}", CloseBrace)];
        for (input, want) in cases {
            assert_eq!(punct(input).unwrap().1, want, "{input:?}");
        }
        assert!(punct("a").is_err());
    }

    #[test]
    fn bare_word_rule() {
        let cases = [
            ("root;", Some(("root", ";"))),
            ("/a/b{", Some(("/a/b", "{"))),
            ("a#b c", Some(("a#b", " c"))),
            ("a\"b ", Some(("a\"b", " "))),
            ("${uri};", Some(("${uri}", ";"))),
            ("x${uri}y ", Some(("x${uri}y", " "))),
            (
                "/a/${server_name}.html{",
                Some(("/a/${server_name}.html", "{")),
            ),
            ("$a{", Some(("$a", "{"))),
            ("a}", Some(("a", "}"))),
            ("#x", None),
            ("\"x\"", None),
            (";", None),
        ];
        for (input, want) in cases {
            let got = bare_word(input).ok().map(|(r, k)| (k, r));
            let want = want.map(|(word, rest)| (w(word), rest));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn escape_rule() {
        let cases = [
            ("\\n", "\n"),
            ("\\\"", "\""),
            ("\\\\", "\\"),
            ("\\'", "'"),
            ("\\d", "\\d"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input).unwrap().1, want, "{input:?}");
        }
    }

    #[test]
    fn quoted_rule() {
        let cases = [
            (r#""a b";"#, Some((q("a b"), ";"))),
            (r#""""#, Some((q(""), ""))),
            (r#"'it''s'"#, Some((q("it"), "'s'"))),
            (r#""say \"hi\"\n""#, Some((q("say \"hi\"\n"), ""))),
            (r#"'a"b'"#, Some((q("a\"b"), ""))),
            (r#""a;{}#""#, Some((q("a;{}#"), ""))),
            ("word", None),
        ];
        for (input, want) in cases {
            let got = quoted(input).ok().map(|(r, k)| (k, r));
            assert_eq!(got, want, "{input:?}");
        }
        assert!(matches!(quoted("\"abc"), Err(nom::Err::Failure(_))));
        assert!(matches!(quoted("'abc\\'"), Err(nom::Err::Failure(_))));
    }

    #[test]
    fn tokenize_positions() {
        let src = "root /www; # c\nserver {\n\tlisten \"80\";\n}\n";
        assert_eq!(
            lex(src),
            vec![
                (w("root"), 1, 1),
                (w("/www"), 1, 6),
                (Semicolon, 1, 10),
                (w("server"), 2, 1),
                (OpenBrace, 2, 8),
                (w("listen"), 3, 2),
                (q("80"), 3, 9),
                (Semicolon, 3, 13),
                (CloseBrace, 4, 1),
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(
            lex("x \"é\" y"),
            vec![(w("x"), 1, 1), (q("é"), 1, 3), (w("y"), 1, 7)]
        );
    }

    #[test]
    fn eof_token_is_past_the_text() {
        let toks = tokenize("a;\n  ", &Arc::from("t.conf")).unwrap();
        let eof = toks.last().unwrap();
        assert_eq!((eof.kind.clone(), eof.pos.line, eof.pos.col), (Eof, 2, 3));
    }

    #[test]
    fn empty_and_comment_only() {
        assert_eq!(lex(""), vec![]);
        assert_eq!(lex("# only a comment"), vec![]);
    }

    #[test]
    fn unterminated_quoted_string() {
        assert_eq!(
            lex_err("root \"/www;\n"),
            "t.conf:1:6: unterminated quoted string"
        );
        assert_eq!(lex_err("a\n 'b"), "t.conf:2:2: unterminated quoted string");
    }

    #[test]
    fn text_glued_to_a_quote() {
        assert_eq!(lex_err("root \"/a\"b;"), "t.conf:1:10: unexpected \"b\"");
    }
}
