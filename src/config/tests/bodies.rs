//! `client_body_buffer_size`, `client_body_in_file_only`,
//! `client_body_in_single_buffer` and `chunked_transfer_encoding`: values,
//! inheritance (each on its own) and the exact errors.

use super::load_src;
use crate::config::bodies::{Bodies, DEFAULT_BUFFER, InFile};

fn bodies(src: &str, path: &str) -> Bodies {
    let c = load_src(src).unwrap_or_else(|e| panic!("{e}"));
    let loc = c.servers[0].locations.iter().find(|l| l.path == path);
    loc.unwrap_or_else(|| panic!("no location {path}"))
        .bodies
        .clone()
}

#[test]
fn defaults_values_and_inheritance() {
    let src = "client_body_in_file_only clean;\n\
        server { listen 80; client_body_buffer_size 2k; chunked_transfer_encoding off;\n\
          location /a { }\n\
          location /b { client_body_in_file_only on; client_body_buffer_size 100; }\n\
          location /c { client_body_in_file_only off; client_body_in_single_buffer on;\n\
                        chunked_transfer_encoding on; }\n\
        }";
    let a = bodies(src, "/a");
    assert_eq!(
        (a.buffer_size, a.in_file, a.chunked),
        (2048, InFile::Clean, false)
    );
    assert_eq!(a.memory_limit(), 2560, "nginx's buffer adds a quarter");
    let b = bodies(src, "/b");
    assert_eq!(
        (b.buffer_size, b.in_file, b.chunked),
        (100, InFile::On, false)
    );
    let c = bodies(src, "/c");
    assert_eq!(
        (c.in_file, c.single_buffer, c.chunked),
        (InFile::Off, true, true)
    );
    let d = bodies("server { listen 80; location /d { } }", "/d");
    assert_eq!(d, Bodies::default());
    assert_eq!((d.buffer_size, d.chunked), (DEFAULT_BUFFER, true));
}

#[test]
fn bad_values_name_their_place() {
    let cases = [
        (
            "client_body_in_file_only yes;",
            "t.conf:1:26: \"client_body_in_file_only\" takes on|clean|off, got \"yes\"",
        ),
        (
            "client_body_in_single_buffer clean;",
            "t.conf:1:30: \"client_body_in_single_buffer\" takes on|off, got \"clean\"",
        ),
        (
            "chunked_transfer_encoding 1;",
            "t.conf:1:27: \"chunked_transfer_encoding\" takes on|off, got \"1\"",
        ),
    ];
    for (directive, want) in cases {
        match load_src(&format!("{directive} server {{ listen 80; }}")) {
            Ok(_) => panic!("accepted: {directive}"),
            Err(got) => assert_eq!(got, want, "{directive}"),
        }
    }
    let e = load_src("client_body_buffer_size 1x; server { listen 80; }").unwrap_err();
    assert!(e.starts_with("t.conf:1:25: "), "{e}");
}
