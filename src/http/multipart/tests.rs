use super::*;

/// Runs the parser over `body` fed in pieces of `step` bytes, keeping unconsumed
/// bytes (as the upload writer does). Returns (info, data) per part.
type Parts = Vec<(PartInfo, Vec<u8>)>;

fn parse(body: &[u8], boundary: &str, step: usize) -> Result<(Parts, bool), MultipartError> {
    let mut p = MultipartParser::new(boundary);
    let (mut buf, mut fed, mut parts) = (Vec::new(), 0, Parts::new());
    loop {
        let (n, ev) = p.next(&buf)?;
        let stalled = n == 0 && matches!(ev, Event::NeedMore);
        match ev {
            Event::Part(info) => parts.push((info, Vec::new())),
            Event::Data(d) => parts
                .last_mut()
                .expect("data inside a part")
                .1
                .extend_from_slice(d),
            Event::End => return Ok((parts, true)),
            Event::PartEnd | Event::NeedMore => {}
        }
        buf.drain(..n);
        if stalled {
            if fed == body.len() {
                return Ok((parts, false));
            }
            let end = (fed + step).min(body.len());
            buf.extend_from_slice(&body[fed..end]);
            fed = end;
        }
    }
}

const BODY: &[u8] = b"preamble\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
hello\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".txt\"\r\n\
Content-Type: text/plain\r\n\r\n\
line1\r\n--XyZnot-a-boundary\r\n\r\n--Xy\r\n--XyZ--\r\nepilogue";

#[test]
fn parses_fields_and_files() {
    let (parts, done) = parse(BODY, "XyZ", BODY.len()).unwrap();
    assert!(done);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].0.name.as_deref(), Some("title"));
    assert_eq!(parts[0].0.filename, None);
    assert_eq!(parts[0].1, b"hello");
    assert_eq!(parts[1].0.filename.as_deref(), Some("a \"q\".txt"));
    assert_eq!(parts[1].0.content_type.as_deref(), Some("text/plain"));
    assert_eq!(parts[1].1, b"line1\r\n--XyZnot-a-boundary\r\n\r\n--Xy");
}

#[test]
fn boundary_split_at_every_offset() {
    let want = parse(BODY, "XyZ", BODY.len()).unwrap();
    for step in 1..BODY.len() {
        assert_eq!(parse(BODY, "XyZ", step).unwrap(), want, "step {step}");
    }
}

#[test]
fn table() {
    type Case = (&'static [u8], Result<(usize, bool), MultipartError>);
    let cases: &[Case] = &[
        (b"--b\r\n\r\ndata\r\n--b--", Ok((1, true))),
        (b"--b--\r\n", Ok((0, true))),
        (
            b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--b--",
            Ok((1, true)),
        ),
        (b"--b\r\n\r\nunterminated", Ok((1, false))),
        (b"--bX\r\n", Ok((0, false))),
        (
            b"--b\r\nno colon here\r\n\r\nv\r\n--b--",
            Err(MultipartError::BadHeaders),
        ),
        (b"--b\r\n\r\nv\r\n--bgarbage\r\n--b--", Ok((1, true))),
        (b"--b  \r\n\r\nv\r\n--b \t\r\n\r\nw\r\n--b--", Ok((2, true))),
        (b"--bgarbage", Ok((0, false))),
        (b"--b\r\n\r\nv\r\n--b  x", Ok((1, false))),
    ];
    for (raw, want) in cases {
        let got = parse(raw, "b", raw.len()).map(|(p, d)| (p.len(), d));
        assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn oversized_part_headers_are_refused() {
    let mut body = b"--b\r\nX: ".to_vec();
    body.extend(std::iter::repeat_n(b'a', MAX_PART_HEADERS + 10));
    assert_eq!(
        parse(&body, "b", body.len()).unwrap_err(),
        MultipartError::HeadersTooLarge
    );
}

#[test]
fn boundary_from_content_type() {
    assert_eq!(
        boundary("multipart/form-data; boundary=abc").as_deref(),
        Some("abc")
    );
    assert_eq!(
        boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").as_deref(),
        Some("a b")
    );
    assert_eq!(boundary("multipart/form-data"), None);
    assert_eq!(boundary("text/plain; boundary=abc"), None);
    assert_eq!(
        boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
        None
    );
}

#[test]
fn backslashes_in_file_names_are_literal() {
    let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\Users\\me\\photo.jpg\"\r\n\r\nx\r\n--b--";
    let (parts, _) = parse(body, "b", body.len()).unwrap();
    assert_eq!(
        parts[0].0.filename.as_deref(),
        Some("C:\\Users\\me\\photo.jpg")
    );
}
