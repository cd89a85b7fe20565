//! `webserv -t` through the real binary: good configurations exit 0 with
//! `test is successful`, bad ones exit 1 naming `file:line:col: message` on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The outcome of one `webserv -t` run.
struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs `webserv -t CONFIG -p PREFIX`.
fn test_config(config: &Path, prefix: &Path) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_webserv"))
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg(config)
        .output()
        .expect("run webserv");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temporary directory holding configuration files.
struct ConfDir(tempfile::TempDir);

impl ConfDir {
    fn new() -> Self {
        ConfDir(tempfile::tempdir().expect("tempdir"))
    }

    /// Writes `text` to `name` (creating directories) and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Runs `-t` on `name` (written with `text`) and returns the outcome.
    fn check(&self, name: &str, text: &str) -> (PathBuf, Outcome) {
        let path = self.write(name, text);
        let outcome = test_config(&path, self.0.path());
        (path, outcome)
    }
}

fn assert_ok(o: &Outcome, config: &Path) {
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    let want = format!("configuration file {} test is successful", config.display());
    assert!(o.stderr.contains(&want), "stderr: {}", o.stderr);
}

/// Exit 1, and stderr names `config:LINE:COL: MESSAGE` exactly.
fn assert_fails(o: &Outcome, config: &Path, at_and_message: &str) {
    assert_eq!(o.code, Some(1), "stderr: {}", o.stderr);
    let want = format!("webserv: {}:{at_and_message}\n", config.display());
    assert!(
        o.stderr.contains(&want),
        "want {want:?}\nstderr: {}",
        o.stderr
    );
}

#[test]
fn fixture_with_every_directive_and_includes_is_successful() {
    let config = Path::new("tests/fixtures/config/good.conf");
    let prefix = tempfile::tempdir().expect("tempdir");
    assert_ok(&test_config(config, prefix.path()), config);
}

#[test]
fn fixture_with_missing_include_names_the_include() {
    let config = Path::new("tests/fixtures/config/bad_include.conf");
    let o = test_config(config, Path::new("."));
    assert_fails(
        &o,
        config,
        "3:13: open() \"tests/fixtures/config/missing.conf\" failed (No such file or directory)",
    );
}

#[test]
fn minimal_server_is_successful() {
    let d = ConfDir::new();
    let (path, o) = d.check("min.conf", "server { listen 8080; }\n");
    assert_ok(&o, &path);
}

#[test]
fn include_glob_relative_to_including_file() {
    let d = ConfDir::new();
    d.write(
        "conf/sites/a.conf",
        "server { listen 8080; server_name a; }",
    );
    d.write(
        "conf/sites/b.conf",
        "server { listen 8080; server_name b; }",
    );
    let (path, o) = d.check("conf/main.conf", "http { include sites/*.conf; }");
    assert_ok(&o, &path);
}

#[test]
fn error_in_included_file_names_that_file() {
    let d = ConfDir::new();
    let inc = d.write("inc/bad.conf", "\n  autoindex yes;\n");
    let (_, o) = d.check("main.conf", "server { listen 80; include inc/bad.conf; }");
    assert_fails(&o, &inc, "2:13: \"autoindex\" takes on|off, got \"yes\"");
}

#[test]
fn unknown_directive_suggests_the_nearest() {
    let d = ConfDir::new();
    let (path, o) = d.check("c.conf", "server {\n    lisen 80;\n}\n");
    assert_fails(
        &o,
        &path,
        "2:5: unknown directive \"lisen\" (did you mean \"listen\"?)",
    );
}

#[test]
fn directive_in_wrong_context() {
    let d = ConfDir::new();
    let (path, o) = d.check("c.conf", "server { listen 80; }\nlisten 81;\n");
    assert_fails(&o, &path, "2:1: \"listen\" is not allowed in main context");
}

#[test]
fn bad_values() {
    let cases = [
        (
            "client_max_body_size 12q;",
            "1:22: invalid size \"12q\" in \"client_max_body_size\"",
        ),
        (
            "keepalive_timeout 5x;",
            "1:19: invalid time \"5x\" in \"keepalive_timeout\"",
        ),
        (
            "server { listen 70000; }",
            "1:17: invalid port \"70000\" in \"listen\"",
        ),
        (
            "error_page 99 /e;",
            "1:12: invalid status code \"99\" in \"error_page\"",
        ),
        (
            "allow_methods FOO;",
            "1:15: unknown method \"FOO\" in \"allow_methods\"",
        ),
        (
            "root a b;",
            "1:1: invalid number of arguments in \"root\" directive",
        ),
    ];
    let d = ConfDir::new();
    for (text, want) in cases {
        let (path, o) = d.check("c.conf", text);
        assert_fails(&o, &path, want);
    }
}

#[test]
fn syntax_errors() {
    let cases = [
        (
            "server {\n  listen 80;\n",
            "3:1: unexpected end of file, expecting \"}\"",
        ),
        ("server { listen 80; }\n}\n", "2:1: unexpected \"}\""),
        ("server;", "1:1: directive \"server\" has no opening \"{\""),
        (
            "root /x { }",
            "1:1: directive \"root\" is not terminated by \";\"",
        ),
        ("root \"/x;\n", "1:6: unterminated quoted string"),
    ];
    let d = ConfDir::new();
    for (text, want) in cases {
        let (path, o) = d.check("c.conf", text);
        assert_fails(&o, &path, want);
    }
}

#[test]
fn server_level_errors() {
    let cases = [
        (
            "server { listen 80; location /images { } location /images { } }",
            "1:42: duplicate location \"/images\"",
        ),
        (
            "server { server_name a; }",
            "1:1: \"listen\" directive is missing in server block",
        ),
        (
            "server { listen 80; root /a; root /b; }",
            "1:30: \"root\" is duplicate",
        ),
    ];
    let d = ConfDir::new();
    for (text, want) in cases {
        let (path, o) = d.check("c.conf", text);
        assert_fails(&o, &path, want);
    }
}

#[test]
fn conflicting_server_name_is_a_warning_as_in_nginx() {
    let d = ConfDir::new();
    let (path, o) = d.check(
        "c.conf",
        "server { listen 127.0.0.1:8080; server_name example.com; }\n\
         server { listen 127.0.0.1:8080; server_name example.com; }",
    );
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    let want = format!(
        "[warn] {}:2:45: conflicting server name \"example.com\" on 127.0.0.1:8080, ignored",
        path.display()
    );
    assert!(o.stderr.contains(&want), "stderr: {}", o.stderr);
}

#[test]
fn unreadable_main_file() {
    let d = ConfDir::new();
    let missing = d.0.path().join("x.conf");
    let o = test_config(&missing, d.0.path());
    assert_eq!(o.code, Some(1));
    let want = format!(
        "open() \"{}\" failed (No such file or directory)",
        missing.display()
    );
    assert!(o.stderr.contains(&want), "stderr: {}", o.stderr);
}
