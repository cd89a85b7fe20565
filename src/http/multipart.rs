//! A streaming `multipart/form-data` parser (RFC 7578, RFC 2046 §5.1).
//!
//! Fed any slice of the body, it returns events one at a time: a part's headers,
//! pieces of its data (slices of the input, never copied), its end, the end of the
//! body. A boundary split across reads is found: bytes that could begin a
//! delimiter are left unconsumed until the next call.

use memchr::memmem;

/// The most bytes one part's header block may take.
pub const MAX_PART_HEADERS: usize = 8192;
/// RFC 2046: a boundary is 1 to 70 characters.
pub const MAX_BOUNDARY: usize = 70;

/// What a part's headers say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartInfo {
    /// The form field name.
    pub name: Option<String>,
    /// The client's file name, unsanitized; `None` for plain fields.
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Part(PartInfo),
    Data(&'a [u8]),
    PartEnd,
    /// The closing delimiter was seen; the rest is epilogue.
    End,
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartError {
    BadDelimiter,
    HeadersTooLarge,
    BadHeaders,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (`at_start`: no byte consumed yet).
    Preamble {
        at_start: bool,
    },
    /// After a delimiter: `\r\n` starts a part, `--` ends the body.
    AfterDelimiter,
    Headers,
    Body,
    Epilogue,
}

pub struct MultipartParser {
    /// `\r\n--BOUNDARY`.
    delimiter: Vec<u8>,
    state: State,
}

/// The boundary parameter of a `multipart/form-data` Content-Type, if valid.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let value = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })?;
    (!value.is_empty() && value.len() <= MAX_BOUNDARY).then_some(value)
}

impl MultipartParser {
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        MultipartParser {
            delimiter,
            state: State::Preamble { at_start: true },
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Epilogue
    }

    /// The next event from the front of `input`, and how many bytes it consumed.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), MultipartError> {
        match self.state {
            State::Preamble { at_start } => Ok(self.preamble(input, at_start)),
            State::AfterDelimiter => self.after_delimiter(input),
            State::Headers => self.headers(input),
            State::Body => Ok(self.body(input)),
            State::Epilogue => Ok((input.len(), Event::End)),
        }
    }

    fn preamble<'a>(&mut self, input: &'a [u8], at_start: bool) -> (usize, Event<'a>) {
        let first = &self.delimiter[2..];
        if at_start && input.len() < first.len() && first.starts_with(input) {
            return (0, Event::NeedMore);
        }
        if at_start && input.starts_with(first) {
            match delimiter_ends(&input[first.len()..]) {
                Some(true) => {
                    self.state = State::AfterDelimiter;
                    return (first.len(), Event::NeedMore);
                }
                None => return (0, Event::NeedMore),
                Some(false) => {}
            }
        }
        self.state = State::Preamble { at_start: false };
        // The body state's search finds the delimiter; its data is discarded.
        match self.body(input) {
            (n, Event::PartEnd) => {
                self.state = State::AfterDelimiter;
                (n, Event::NeedMore)
            }
            (n, _) => {
                self.state = State::Preamble { at_start: false };
                (n, Event::NeedMore)
            }
        }
    }

    fn after_delimiter<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Event<'a>), MultipartError> {
        // Transport padding (spaces/tabs) may follow a delimiter.
        let pad = input
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        match &input[pad..] {
            [b'\r', b'\n', ..] => {
                self.state = State::Headers;
                Ok((pad + 2, Event::NeedMore))
            }
            [b'-', b'-', ..] => {
                self.state = State::Epilogue;
                Ok((input.len(), Event::End))
            }
            [] | [b'\r'] | [b'-'] if pad < 256 => Ok((0, Event::NeedMore)),
            _ => Err(MultipartError::BadDelimiter),
        }
    }

    fn headers<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Event<'a>), MultipartError> {
        let (block, used) = if input.starts_with(b"\r\n") {
            (&input[..0], 2)
        } else if let Some(i) = memmem::find(input, b"\r\n\r\n") {
            (&input[..i], i + 4)
        } else if input.len() > MAX_PART_HEADERS {
            return Err(MultipartError::HeadersTooLarge);
        } else {
            return Ok((0, Event::NeedMore));
        };
        if used > MAX_PART_HEADERS {
            return Err(MultipartError::HeadersTooLarge);
        }
        let info = parse_part_headers(block)?;
        self.state = State::Body;
        Ok((used, Event::Part(info)))
    }

    fn body<'a>(&mut self, input: &'a [u8]) -> (usize, Event<'a>) {
        let mut from = 0;
        while let Some(j) = memmem::find(&input[from..], &self.delimiter) {
            let i = from + j;
            match delimiter_ends(&input[i + self.delimiter.len()..]) {
                Some(true) if i == 0 => {
                    self.state = State::AfterDelimiter;
                    return (self.delimiter.len(), Event::PartEnd);
                }
                Some(true) | None if i > 0 => return (i, Event::Data(&input[..i])),
                None => return (0, Event::NeedMore),
                // The boundary text followed by something else is content.
                _ => from = i + 1,
            }
        }
        // Keep a tail that might be the start of a delimiter.
        let keep = self.delimiter.len() - 1;
        let tail = input.len().saturating_sub(keep).max(from);
        let safe = match memchr::memchr(b'\r', &input[tail..]) {
            Some(r) => tail + r,
            None => input.len(),
        };
        if safe == 0 {
            (0, Event::NeedMore)
        } else {
            (safe, Event::Data(&input[..safe]))
        }
    }
}

/// Whether the bytes after `\r\n--BOUNDARY` make it a delimiter (padding, then
/// CRLF or `--`); `None` when more input is needed to tell.
fn delimiter_ends(rest: &[u8]) -> Option<bool> {
    let pad = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match &rest[pad..] {
        [b'\r', b'\n', ..] | [b'-', b'-', ..] => Some(true),
        [] | [b'\r'] | [b'-'] if pad < 256 => None,
        _ => Some(false),
    }
}

fn parse_part_headers(block: &[u8]) -> Result<PartInfo, MultipartError> {
    let text = std::str::from_utf8(block).map_err(|_| MultipartError::BadHeaders)?;
    let mut info = PartInfo::default();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(MultipartError::BadHeaders)?;
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            info.name = disposition_param(value, "name");
            info.filename = disposition_param(value, "filename");
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            info.content_type = Some(value.trim().to_owned());
        }
    }
    Ok(info)
}

/// A parameter of `form-data; name="a"; filename="b.txt"` (quoted or token).
fn disposition_param(value: &str, key: &str) -> Option<String> {
    let mut rest = value.split_once(';')?.1;
    loop {
        rest = rest.trim_start();
        let eq = rest.find('=')?;
        let k = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            quoted(q)?
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        if k.eq_ignore_ascii_case(key) {
            return Some(v);
        }
        rest = tail.trim_start().strip_prefix(';')?;
    }
}

/// Reads a quoted-string body (after the opening quote); returns it and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            // Browsers do not escape backslashes in file names (`C:\dir\a.txt`);
            // only `\"` is taken as an escaped quote.
            '\\' if s[i + 1..].starts_with('"') => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests;
