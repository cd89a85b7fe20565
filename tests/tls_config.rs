//! `webserv -t` on HTTPS configurations: certificates and keys (PKCS#8, PKCS#1,
//! SEC1) are loaded and matched at check time, and every failure names the
//! directive's `file:line:col`; an expired certificate is a warning.

mod common;
mod tls_util;

use std::path::{Path, PathBuf};
use std::process::Command;

use tls_util::Ca;

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Writes `conf` (with `{dir}` replaced) into `dir/t.conf` and runs `-t` on it.
fn check(dir: &Path, conf: &str) -> (PathBuf, Outcome) {
    let path = dir.join("t.conf");
    std::fs::write(&path, conf.replace("{dir}", &dir.display().to_string())).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_webserv"))
        .arg("-t")
        .arg(&path)
        .output()
        .expect("run webserv");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        path,
        Outcome {
            code: out.status.code(),
            stderr,
        },
    )
}

fn assert_ok(o: &Outcome) {
    assert_eq!(o.code, Some(0), "stderr: {}", o.stderr);
    assert!(o.stderr.contains("test is successful"), "{}", o.stderr);
}

/// Exit 1 with `webserv: CONF:AT_AND_MESSAGE` on stderr.
fn assert_fails(o: &Outcome, conf: &Path, at_and_message: &str) {
    assert_eq!(o.code, Some(1), "stderr: {}", o.stderr);
    let want = format!("webserv: {}:{at_and_message}", conf.display());
    assert!(
        o.stderr.contains(&want),
        "want {want:?}\nstderr: {}",
        o.stderr
    );
}

/// A server block on a TLS port with `cert` and `key` (files in {dir}).
fn server(cert: &str, key: &str, extra: &str) -> String {
    format!(
        "server {{\n    listen 127.0.0.1:8443 ssl;\n    ssl_certificate {{dir}}/{cert};\n    \
         ssl_certificate_key {{dir}}/{key};\n{extra}}}\n"
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pkcs8_sec1_and_pkcs1_keys_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    Ca::new().issue_files(d, "p8", &["localhost"]);
    assert_ok(&check(d, &server("p8.pem", "p8.key", "")).1);
    // SEC1 ("EC PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY"), self-signed by openssl.
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
    );
    openssl(d, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    for key in ["ec", "rsa"] {
        let key_file = format!("{key}.key");
        let cert_file = format!("{key}.pem");
        let pem = std::fs::read_to_string(d.join(&key_file)).expect("key");
        let kind = if key == "ec" {
            "EC PRIVATE KEY"
        } else {
            "RSA PRIVATE KEY"
        };
        assert!(pem.contains(kind), "{pem}");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &key_file,
                "-subj",
                "/CN=localhost",
                "-days",
                "2",
                "-out",
                &cert_file,
            ],
        );
        assert_ok(&check(d, &server(&cert_file, &key_file, "")).1);
    }
}

#[test]
fn certificate_problems_name_their_directive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = Ca::new();
    ca.issue_files(d, "a", &["localhost"]);
    ca.issue_files(d, "b", &["localhost"]);
    std::fs::write(d.join("junk.pem"), "not a certificate\n").expect("write");

    let (conf, o) = check(d, "server {\n    listen 127.0.0.1:8443 ssl;\n}\n");
    assert_fails(
        &o,
        &conf,
        "2:12: no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
    );
    let (conf, o) = check(d, &server("missing.pem", "a.key", ""));
    let msg = format!(
        "3:21: cannot load certificate \"{}/missing.pem\": No such file",
        d.display()
    );
    assert_fails(&o, &conf, &msg);
    let (conf, o) = check(d, &server("junk.pem", "a.key", ""));
    assert_fails(&o, &conf, "3:21: cannot load certificate");
    let (conf, o) = check(d, &server("a.pem", "a.pem", ""));
    assert_fails(&o, &conf, "4:25: cannot load certificate key");
    let (conf, o) = check(d, &server("a.pem", "b.key", ""));
    let msg = format!(
        "4:25: certificate \"{0}/a.pem\" does not match key \"{0}/b.key\"",
        d.display()
    );
    assert_fails(&o, &conf, &msg);
}

#[test]
fn an_expired_certificate_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 3, 4);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(d.join("old.pem"), cert.pem()).expect("write");
    std::fs::write(d.join("old.key"), key.serialize_pem()).expect("write");
    let (conf, o) = check(d, &server("old.pem", "old.key", ""));
    assert_ok(&o);
    let want = format!(
        "webserv: [warn] {}:3:21: certificate \"{}/old.pem\" expired on 2002-03-04 00:00:00 UTC",
        conf.display(),
        d.display()
    );
    assert!(
        o.stderr.contains(&want),
        "want {want:?}\nstderr: {}",
        o.stderr
    );
}

#[test]
fn protocol_cipher_and_listen_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    Ca::new().issue_files(d, "a", &["localhost"]);
    let conf_with = |extra: &str| server("a.pem", "a.key", &format!("    {extra}\n"));

    let (_, o) = check(d, &conf_with("ssl_protocols TLSv1 TLSv1.2 TLSv1.3;"));
    assert_ok(&o);
    assert!(
        o.stderr
            .contains("5:19: \"TLSv1\" is not supported and ignored"),
        "{}",
        o.stderr
    );
    let (conf, o) = check(d, &conf_with("ssl_protocols TLSv1 TLSv1.1;"));
    assert_fails(
        &o,
        &conf,
        "5:19: \"ssl_protocols\" names no supported protocol",
    );
    let (conf, o) = check(d, &conf_with("ssl_protocols TLSv1.2 TLSv9;"));
    assert_fails(
        &o,
        &conf,
        "5:27: invalid value \"TLSv9\" in \"ssl_protocols\"",
    );
    // OpenSSL skips a name it does not know while others select suites.
    let (_, o) = check(d, &conf_with("ssl_ciphers HIGH:FAST;"));
    assert_ok(&o);
    assert!(
        o.stderr
            .contains("5:17: unknown cipher \"FAST\" in \"ssl_ciphers\" ignored"),
        "{}",
        o.stderr
    );
    let (conf, o) = check(d, &conf_with("ssl_ciphers FAST;"));
    assert_fails(
        &o,
        &conf,
        "5:17: \"ssl_ciphers\" selects no supported cipher",
    );
    let (_, o) = check(
        d,
        &conf_with(
            "ssl_ciphers HIGH:!aNULL:!MD5; ssl_prefer_server_ciphers on; \
                    ssl_session_tickets off; ssl_session_timeout 10m;",
        ),
    );
    assert_ok(&o);
    let (conf, o) = check(d, &conf_with("ssl_session_tickets maybe;"));
    assert_fails(
        &o,
        &conf,
        "5:25: \"ssl_session_tickets\" takes on|off, got \"maybe\"",
    );
    let (conf, o) = check(d, "server {\n    listen 8443 ssl ssl;\n}\n");
    assert_fails(&o, &conf, "2:21: duplicate parameter \"ssl\" in \"listen\"");
    let (conf, o) = check(d, "server {\n    listen 8443 default_server tls;\n}\n");
    assert_fails(&o, &conf, "2:32: invalid parameter \"tls\" in \"listen\"");
}

#[test]
fn dump_writes_ssl_settings_that_parse_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    Ca::new().issue_files(d, "a", &["localhost"]);
    let conf = d.join("t.conf");
    let text = server(
        "a.pem",
        "a.key",
        "    ssl_protocols TLSv1.3;\n    ssl_ciphers AESGCM;\n    ssl_session_tickets off;\n",
    );
    std::fs::write(&conf, text.replace("{dir}", &d.display().to_string())).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_webserv"))
        .arg("--dump")
        .arg(&conf)
        .output()
        .expect("run webserv");
    let dumped = String::from_utf8_lossy(&out.stdout).into_owned();
    for want in [
        "listen 127.0.0.1:8443 ssl;",
        "ssl_protocols TLSv1.3;",
        "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
         ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;",
        "ssl_session_tickets off;",
    ] {
        assert!(dumped.contains(want), "{want:?} not in\n{dumped}");
    }
    let (_, o) = check(d, &dumped);
    assert_ok(&o);
}

#[test]
fn a_refusing_server_needs_no_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    Ca::new().issue_files(d, "a", &["localhost"]);
    // ssl_reject_handshake on: no certificate needed; a name-based server next to
    // it (its listen without ssl) is served with its own certificate.
    let conf = "server {\n    listen 127.0.0.1:8443 ssl;\n    ssl_reject_handshake on;\n}\n\
                server {\n    listen 127.0.0.1:8443;\n    server_name b;\n}\n";
    let (_, o) = check(d, conf);
    assert_ok(&o);
    // A server whose listen says ssl still needs one.
    let conf = "server {\n    listen 127.0.0.1:8443 ssl;\n    ssl_reject_handshake off;\n}\n";
    let (path, o) = check(d, conf);
    assert_fails(
        &o,
        &path,
        "2:12: no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
    );
    // The default server without ssl on its listen needs one too (it answers
    // handshakes without SNI).
    let conf = format!(
        "server {{\n    listen 127.0.0.1:8443;\n}}\n{}",
        server("a.pem", "a.key", "    server_name a;\n")
    );
    let (path, o) = check(d, &conf);
    assert_fails(
        &o,
        &path,
        "2:12: no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
    );
    let (path, o) = check(
        d,
        &server("a.pem", "a.key", "    ssl_reject_handshake yes;\n"),
    );
    assert_fails(
        &o,
        &path,
        "5:26: \"ssl_reject_handshake\" takes on|off, got \"yes\"",
    );
}
