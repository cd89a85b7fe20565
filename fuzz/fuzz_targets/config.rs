//! `config::load` on arbitrary configuration text.
//!
//! The parser modules are private, so the input is written to a temporary file and
//! loaded the way `webserv -t` does. `include` directives may name files in the same
//! temporary directory (a second fuzzer-provided file is written there as `inc.conf`)
//! or anything else on the machine, which is fine: loading only reads.
//! Property: no panic, and every error names a position or is a plain message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    // Split at the first 0xFF byte: main file, then an includable file.
    let (main, inc) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fuzz.conf");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(main))
        .expect("write config");
    std::fs::write(dir.path().join("inc.conf"), inc).expect("write include");
    if let Err(e) = webserv::config::load(&path, dir.path()) {
        assert!(!e.msg.is_empty(), "empty error message");
        let _ = e.to_string();
    }
});
