//! htpasswd files: `user:hash[:comment]` lines, `#` comments, the first line
//! for a user deciding, as nginx reads them. Each worker keeps the files it has
//! read, parsed, and checks on every use whether the file changed (its size,
//! modification time or inode), so an edited or replaced file applies at once,
//! without a reload.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

/// Files kept per worker (a user file named by a variable may name many).
const MAX_FILES: usize = 64;
/// Larger files are refused (an error, as an unreadable file).
const MAX_FILE_SIZE: u64 = 16 << 20;

/// The users of one file, and their hashes.
pub type Users = HashMap<Vec<u8>, String>;

/// What a file looked like when it was read.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    ino: u64,
    dev: u64,
}

struct Entry {
    stamp: Stamp,
    users: Rc<Users>,
}

thread_local! {
    static FILES: RefCell<HashMap<PathBuf, Entry>> = RefCell::new(HashMap::new());
}

/// The users of the file at `path`, read again if it changed since last time.
pub fn users(path: &Path) -> io::Result<Rc<Users>> {
    let meta = std::fs::metadata(path)?;
    let stamp = Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        ino: meta.ino(),
        dev: meta.dev(),
    };
    let known = FILES.with(|f| {
        f.borrow()
            .get(path)
            .filter(|e| e.stamp == stamp)
            .map(|e| Rc::clone(&e.users))
    });
    if let Some(users) = known {
        return Ok(users);
    }
    if stamp.len > MAX_FILE_SIZE {
        return Err(io::Error::other("file too large"));
    }
    let users = Rc::new(parse(&std::fs::read(path)?));
    FILES.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() >= MAX_FILES && !f.contains_key(path) {
            f.clear();
        }
        let entry = Entry {
            stamp,
            users: Rc::clone(&users),
        };
        f.insert(path.to_path_buf(), entry);
    });
    Ok(users)
}

/// The lines of a file: a line starting with `#` or CR is skipped, the user is
/// what precedes the first `:`, the hash runs to the next `:` or the line's end.
pub fn parse(text: &[u8]) -> Users {
    let mut users = Users::new();
    for line in text.split(|&b| b == b'\n') {
        if line.first().is_none_or(|&b| b == b'#' || b == b'\r') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let rest = &line[colon + 1..];
        let end = rest
            .iter()
            .position(|&b| b == b':' || b == b'\r')
            .unwrap_or(rest.len());
        let hash = String::from_utf8_lossy(&rest[..end]).into_owned();
        users.entry(line[..colon].to_vec()).or_insert(hash);
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let text = b"# comment:x\nalice:{PLAIN}a:Alice Liddell\r\nbob:$apr1$s$h\r\n\n\
            \r\ncarol:{PLAIN}c\nalice:{PLAIN}second\n:{PLAIN}nobody\nnocolon\n\
            dave:\nerin:{PLAIN}last";
        let u = parse(text);
        // (user, hash)
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"alice", Some("{PLAIN}a")),
            (b"bob", Some("$apr1$s$h")),
            (b"carol", Some("{PLAIN}c")),
            (b"dave", Some("")),
            (b"erin", Some("{PLAIN}last")),
            (b"", Some("{PLAIN}nobody")),
            (b"# comment", None),
            (b"nocolon", None),
            (b"mallory", None),
        ];
        for (user, want) in cases {
            let got = u.get(*user).map(String::as_str);
            assert_eq!(got, *want, "{}", String::from_utf8_lossy(user));
        }
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, "a:{PLAIN}1\n").expect("write");
        assert_eq!(users(&path).expect("read")[&b"a".to_vec()], "{PLAIN}1");
        std::fs::write(&path, "a:{PLAIN}22\n").expect("write");
        assert_eq!(users(&path).expect("read")[&b"a".to_vec()], "{PLAIN}22");
        // Same size, replaced by rename (a new inode).
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, "a:{PLAIN}33\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(users(&path).expect("read")[&b"a".to_vec()], "{PLAIN}33");
        std::fs::remove_file(&path).expect("rm");
        let err = users(&path).expect_err("gone");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
