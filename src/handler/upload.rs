//! Uploads into `upload_store`: raw POST/PUT bodies and `multipart/form-data`
//! file parts, streamed to temporary files *in the target directory* as they
//! arrive and renamed into place only when the whole body is in. A body that
//! never completes leaves nothing behind (the temporary files are removed on drop).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::path::encode;
use super::precondition::{self, Validators, Verdict};
use crate::fs::inside;
use crate::http::body::{BodyError, BodySink};
use crate::http::multipart::{self, Event, MultipartParser};
use crate::http::{Method, Request, Response};

/// A raw body stored as one named file.
pub struct RawUpload {
    tmp: NamedTempFile,
    target: PathBuf,
    /// `If-None-Match: *`: the file may only be created, never replaced.
    create_only: bool,
    /// The URI the file will be served at (for `Location`).
    uri: String,
}

/// The file parts of a multipart body, each in its own temporary file.
pub struct MultipartUpload {
    parser: MultipartParser,
    store: PathBuf,
    /// The URI prefix stored names are served under (the location: parts always go
    /// to the store's top directory).
    uri_dir: String,
    /// Input not yet consumed by the parser (a possible delimiter prefix).
    pending: Vec<u8>,
    current: Option<(String, NamedTempFile)>,
    complete: Vec<(String, NamedTempFile)>,
}

/// Turns a client-supplied file name into a safe one: the last path component
/// (browsers may send `C:\dir\name`), no control characters or NUL, no leading
/// dots (no hidden files, no `..`), at most 255 bytes. `None` if nothing is left.
pub fn sanitize(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    let mut out = String::new();
    for c in cleaned.chars() {
        if out.len() + c.len_utf8() > 255 {
            break;
        }
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

fn temp_in(dir: &Path) -> Result<NamedTempFile, u16> {
    tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(dir)
        .map_err(|e| super::static_file::io_status(&e).max(403))
}

/// The store directory, created if missing.
fn open_store(store: &Path) -> Result<(), u16> {
    fs::create_dir_all(store).map_err(|e| super::static_file::io_status(&e))
}

/// Chooses how to receive an upload body: multipart into `store`, or a raw body
/// stored under the name the path gives (`rest`: the path after the location).
pub fn begin(store: &Path, loc_path: &str, rest: &str, req: &Request) -> Result<super::Sink, u16> {
    // RFC 9110 §14.5: a PUT of part of a representation is refused, not stored whole.
    if req.method == Method::Put && req.header("content-range").is_some() {
        return Err(400);
    }
    open_store(store)?;
    let content_type = req.header("content-type").unwrap_or("");
    if req.method == Method::Post
        && let Some(b) = multipart::boundary(content_type)
    {
        {
            return Ok(super::Sink::Multipart(Box::new(MultipartUpload {
                parser: MultipartParser::new(&b),
                store: store.to_path_buf(),
                uri_dir: format!("{}/", loc_path.trim_end_matches('/')),
                pending: Vec::new(),
                current: None,
                complete: Vec::new(),
            })));
        }
    }
    raw(store, loc_path, rest, req).map(|r| super::Sink::Raw(Box::new(r)))
}

fn raw(store: &Path, loc_path: &str, rest: &str, req: &Request) -> Result<RawUpload, u16> {
    let rest = rest.trim_start_matches('/');
    let (dirs, name) = rest.rsplit_once('/').unwrap_or(("", rest));
    let parent = if dirs.is_empty() {
        store.to_path_buf()
    } else {
        store.join(dirs)
    };
    if !parent.is_dir() {
        return Err(409);
    }
    if !inside(&parent, store) {
        return Err(403);
    }
    let name = match (sanitize(name), req.method) {
        (Some(n), _) => n,
        (None, Method::Put) => return Err(409),
        (None, _) => generated_name(),
    };
    let target = parent.join(&name);
    let current = fs::metadata(&target).ok().filter(|m| m.is_file());
    let current = current.as_ref().map(Validators::of);
    if precondition::evaluate(req, current.as_ref()) != Verdict::Proceed {
        return Err(412);
    }
    let tmp = temp_in(&parent)?;
    let mut uri = loc_path.trim_end_matches('/').to_owned();
    for seg in dirs
        .split('/')
        .filter(|s| !s.is_empty())
        .chain([name.as_str()])
    {
        uri.push('/');
        uri.push_str(&encode(seg));
    }
    Ok(RawUpload {
        tmp,
        target,
        create_only: precondition::create_only(req),
        uri,
    })
}

fn generated_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("upload-{nanos:x}")
}

fn write_err(e: std::io::Error) -> BodyError {
    BodyError::io(&e)
}

impl BodySink for RawUpload {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.tmp.write_all(data).map_err(write_err)
    }
}

impl RawUpload {
    /// Renames the complete body into place: 201 if new, 204 if it replaced a file.
    pub fn finish(self) -> Result<Response, u16> {
        if self.target.is_dir() {
            return Err(409);
        }
        let existed = self.target.exists();
        let persisted = if self.create_only {
            // Checked before the body was read; a file created since still wins.
            self.tmp.persist_noclobber(&self.target)
        } else {
            self.tmp.persist(&self.target)
        };
        persisted.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => 412,
            _ => super::static_file::io_status(&e.error),
        })?;
        if existed {
            return Ok(Response::new(204));
        }
        let mut resp = Response::with_body(
            201,
            "text/plain",
            format!("created {}\n", self.uri).into_bytes(),
        );
        resp.header("Location", self.uri);
        Ok(resp)
    }
}

impl BodySink for MultipartUpload {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.pending.extend_from_slice(data);
        let mut used = 0;
        loop {
            let (n, event) = self
                .parser
                .next(&self.pending[used..])
                .map_err(|_| BodyError::Rejected(400))?;
            used += n;
            match event {
                Event::Part(info) => {
                    self.current = match info.filename.as_deref() {
                        Some(f) => {
                            let name = sanitize(f).unwrap_or_else(|| "upload".to_owned());
                            Some((name, temp_in(&self.store).map_err(BodyError::Rejected)?))
                        }
                        None => None,
                    };
                }
                Event::Data(d) => {
                    if let Some((_, f)) = &mut self.current {
                        f.write_all(d).map_err(write_err)?;
                    }
                }
                Event::PartEnd => self.complete.extend(self.current.take()),
                Event::End => {
                    used = self.pending.len();
                    break;
                }
                Event::NeedMore if n == 0 => break,
                Event::NeedMore => {}
            }
        }
        self.pending.drain(..used);
        Ok(())
    }
}

impl MultipartUpload {
    /// Renames every stored part into place (a clash gets `name-1.ext`, `name-2.ext`…:
    /// a multipart upload never replaces a file) and answers 201 with a summary.
    pub fn finish(self, req: &Request) -> Result<Response, u16> {
        if !self.parser.is_done() {
            return Err(400);
        }
        let mut stored = Vec::new();
        for (name, tmp) in self.complete {
            stored.push(persist_unique(tmp, &self.store, &name)?);
        }
        let uris: Vec<String> = stored
            .iter()
            .map(|n| format!("{}{}", self.uri_dir, encode(n)))
            .collect();
        let mut resp = super::upload_summary::summary(&stored, &uris, &self.uri_dir, req);
        if let [only] = uris.as_slice() {
            resp.header("Location", only.clone());
        }
        Ok(resp)
    }
}

fn persist_unique(mut tmp: NamedTempFile, dir: &Path, name: &str) -> Result<String, u16> {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    for n in 0..1000 {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            format!("{stem}-{n}{ext}")
        };
        match tmp.persist_noclobber(dir.join(&candidate)) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(super::static_file::io_status(&e.error)),
        }
    }
    Err(409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("report.pdf", Some("report.pdf")),
            ("../../etc/passwd", Some("passwd")),
            ("C:\\Users\\me\\photo.jpg", Some("photo.jpg")),
            ("..", None),
            ("...", None),
            (".hidden", Some("hidden")),
            ("a\0b\nc.txt", Some("abc.txt")),
            ("dir/", None),
            ("", None),
            ("  spaced name.txt ", Some("spaced name.txt")),
            ("naïve café.txt", Some("naïve café.txt")),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(sanitize(&"x".repeat(300)).map(|s| s.len()), Some(255));
    }

    #[test]
    fn persist_unique_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"old").unwrap();
        let tmp = NamedTempFile::new_in(dir.path()).unwrap();
        assert_eq!(persist_unique(tmp, dir.path(), "a.txt").unwrap(), "a-1.txt");
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"old");
        let tmp = NamedTempFile::new_in(dir.path()).unwrap();
        assert_eq!(persist_unique(tmp, dir.path(), "a.txt").unwrap(), "a-2.txt");
    }
}
