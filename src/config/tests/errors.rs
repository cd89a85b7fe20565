//! One case per error message: the exact `file:line:col: message`.

use super::load_src;

/// Asserts that `src` fails with exactly `want`.
fn fails(src: &str, want: &str) {
    match load_src(src) {
        Ok(_) => panic!("accepted: {src:?}"),
        Err(got) => assert_eq!(got, want, "{src:?}"),
    }
}

#[test]
fn unknown_directive_with_suggestion() {
    fails(
        "server {\n    lisen 80;\n}",
        "t.conf:2:5: unknown directive \"lisen\" (did you mean \"listen\"?)",
    );
}

#[test]
fn unknown_directive_without_suggestion() {
    fails("foo bar;", "t.conf:1:1: unknown directive \"foo\"");
}

#[test]
fn not_allowed_in_main_context() {
    fails(
        "listen 80;",
        "t.conf:1:1: \"listen\" is not allowed in main context",
    );
}

#[test]
fn not_allowed_in_server_context() {
    fails(
        "server { listen 80; alias /x; }",
        "t.conf:1:21: \"alias\" is not allowed in server context",
    );
}

#[test]
fn not_allowed_in_location_context() {
    fails(
        "server { listen 80; location / { client_header_timeout 5s; } }",
        "t.conf:1:34: \"client_header_timeout\" is not allowed in location context",
    );
}

#[test]
fn not_allowed_in_http_context() {
    fails(
        "http { worker_processes 2; }",
        "t.conf:1:8: \"worker_processes\" is not allowed in http context",
    );
}

#[test]
fn nested_locations_follow_nginx_rules() {
    let cases = [
        (
            "server { listen 80; location /a { location /b { } } }",
            "t.conf:1:35: location \"/b\" is outside location \"/a\"",
        ),
        (
            "server { listen 80; location = /a { location /a/b { } } }",
            "t.conf:1:37: location \"/a/b\" cannot be inside the exact location \"/a\"",
        ),
        (
            "server { listen 80; location /a { location @x { } } }",
            "t.conf:1:35: named location \"@x\" can be on the server level only",
        ),
        (
            "server { listen 80; location @x { location /a { } } }",
            "t.conf:1:35: location \"/a\" cannot be inside the named location \"@x\"",
        ),
        (
            "server { listen 80; location ~ \\.php$ { } location ~ \\.php$ { } }",
            "t.conf:1:43: duplicate location \"\\.php$\"",
        ),
        (
            "server { listen 80; location ~ ( { } }",
            "t.conf:1:32: invalid regex \"(\": unclosed group",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
}

#[test]
fn invalid_number_of_arguments() {
    fails(
        "root a b;",
        "t.conf:1:1: invalid number of arguments in \"root\" directive",
    );
    fails(
        "http x { }",
        "t.conf:1:1: invalid number of arguments in \"http\" directive",
    );
}

#[test]
fn on_off_value() {
    fails(
        "autoindex yes;",
        "t.conf:1:11: \"autoindex\" takes on|off, got \"yes\"",
    );
}

#[test]
fn invalid_size() {
    fails(
        "client_max_body_size 12q;",
        "t.conf:1:22: invalid size \"12q\" in \"client_max_body_size\"",
    );
}

#[test]
fn invalid_time() {
    fails(
        "keepalive_timeout 5x;",
        "t.conf:1:19: invalid time \"5x\" in \"keepalive_timeout\"",
    );
}

#[test]
fn invalid_port() {
    fails(
        "server {\n  listen 70000;\n}",
        "t.conf:2:10: invalid port \"70000\" in \"listen\"",
    );
}

#[test]
fn invalid_listen_host_and_flag() {
    fails(
        "server { listen example.com:80; }",
        "t.conf:1:17: host not found in \"example.com:80\" of the \"listen\" directive",
    );
    fails(
        "server { listen 80 default; }",
        "t.conf:1:20: invalid parameter \"default\" in \"listen\"",
    );
}

#[test]
fn invalid_status_code() {
    fails(
        "error_page 99 /x.html;",
        "t.conf:1:12: invalid status code \"99\" in \"error_page\"",
    );
    fails(
        "server { listen 80; return 1000; }",
        "t.conf:1:28: invalid status code \"1000\" in \"return\"",
    );
}

#[test]
fn unknown_method() {
    fails(
        "allow_methods GET FOO;",
        "t.conf:1:19: unknown method \"FOO\" in \"allow_methods\"",
    );
}

#[test]
fn eof_expecting_close_brace() {
    fails(
        "server {\n  listen 80;\n",
        "t.conf:3:1: unexpected end of file, expecting \"}\"",
    );
}

#[test]
fn eof_expecting_semicolon_or_brace() {
    fails(
        "server { listen 80; }\nroot /www",
        "t.conf:2:10: unexpected end of file, expecting \";\" or \"}\"",
    );
}

#[test]
fn unexpected_close_brace() {
    fails("server { listen 80; }\n}", "t.conf:2:1: unexpected \"}\"");
}

#[test]
fn unterminated_quoted_string() {
    fails("root \"/www;\n", "t.conf:1:6: unterminated quoted string");
}

#[test]
fn block_directive_without_block() {
    fails(
        "server;",
        "t.conf:1:1: directive \"server\" has no opening \"{\"",
    );
}

#[test]
fn simple_directive_with_block() {
    fails(
        "root /x { }",
        "t.conf:1:1: directive \"root\" is not terminated by \";\"",
    );
}

#[test]
fn duplicate_location() {
    fails(
        "server { listen 80;\n location /images { }\n location /images { } }",
        "t.conf:3:2: duplicate location \"/images\"",
    );
}

#[test]
fn exact_and_prefix_location_may_share_a_uri() {
    assert!(load_src("server { listen 80; location /a { } location = /a { } }").is_ok());
    fails(
        "server { listen 80; location = /a { } location =/a { } }",
        "t.conf:1:39: duplicate location \"/a\"",
    );
}

#[test]
fn invalid_location_modifier() {
    fails(
        "server { listen 80; location ~~ \\.php$ { } }",
        "t.conf:1:30: invalid location modifier \"~~\"",
    );
}

/// As nginx: a name two servers claim on one address is a warning ("conflicting
/// server name ... ignored"); tests/e2e/test_nginx_directives.py checks that the
/// first server keeps it.
#[test]
fn conflicting_server_names_are_accepted() {
    let c = load_src(
        "server { listen 127.0.0.1:8080; server_name example.com; }\n\
         server { listen 127.0.0.1:8080; server_name www.example.com Example.COM; }",
    )
    .unwrap();
    assert_eq!(c.servers.len(), 2);
    assert!(load_src("server { listen 8080; }\nserver { listen 8080; }").is_ok());
}

#[test]
fn same_name_on_different_addresses_is_fine() {
    assert!(load_src("server { listen 8080; } server { listen 8081; }").is_ok());
}

#[test]
fn missing_listen() {
    fails(
        "http {\n  server { server_name a; }\n}",
        "t.conf:2:3: \"listen\" directive is missing in server block",
    );
}

#[test]
fn duplicate_directive() {
    fails(
        "server { listen 80;\n root /a;\n root /b; }",
        "t.conf:3:2: \"root\" is duplicate",
    );
    fails("http { } http { }", "t.conf:1:10: \"http\" is duplicate");
}

#[test]
fn repeatable_directives_are_not_duplicates() {
    let src = "server { listen 80; listen 81; server_name a; server_name b;\n\
               index a; index b; error_page 404 /a; error_page 500 /b;\n\
               add_header A 1; add_header B 2; cgi .py; cgi .sh; }";
    assert!(load_src(src).is_ok());
}

#[test]
fn alias_and_root_in_one_location() {
    fails(
        "server { listen 80; location /a { root /r; alias /x; } }",
        "t.conf:1:44: \"alias\" directive is duplicate, \"root\" directive was specified earlier",
    );
    fails(
        "server { listen 80; location /a { alias /x; root /r; } }",
        "t.conf:1:45: \"root\" directive is duplicate, \"alias\" directive was specified earlier",
    );
}

#[test]
fn duplicate_default_server() {
    fails(
        "server { listen 80 default_server; server_name a; }\n\
         server { listen 80 default_server; server_name b; }",
        "t.conf:2:17: a duplicate default server for 0.0.0.0:80",
    );
}

#[test]
fn duplicate_listen_in_one_server() {
    fails(
        "server { listen 80; listen *:80; }",
        "t.conf:1:28: a duplicate listen 0.0.0.0:80",
    );
}

#[test]
fn aio_and_open_file_cache_values() {
    fails(
        "aio maybe;",
        "t.conf:1:5: \"aio\" takes threads|off, got \"maybe\"",
    );
    fails(
        "open_file_cache max=lots;",
        "t.conf:1:17: invalid number \"lots\" in \"open_file_cache\"",
    );
    fails(
        "open_file_cache max=0;",
        "t.conf:1:17: invalid number \"0\" in \"open_file_cache\"",
    );
    fails(
        "open_file_cache max=10 inactive=5x;",
        "t.conf:1:24: invalid time \"5x\" in \"open_file_cache\"",
    );
    fails(
        "open_file_cache inactive=10s;",
        "t.conf:1:17: \"open_file_cache\" needs max=N or off",
    );
    fails(
        "open_file_cache off max=3;",
        "t.conf:1:21: \"open_file_cache off\" takes no parameters, got \"max=3\"",
    );
    fails(
        "open_file_cache size=3;",
        "t.conf:1:17: invalid parameter \"size=3\" in \"open_file_cache\" (off, max=N or inactive=TIME)",
    );
    fails(
        "open_file_cache_valid soon;",
        "t.conf:1:23: invalid time \"soon\" in \"open_file_cache_valid\"",
    );
}

#[test]
fn variables_where_they_are_not_expanded_are_errors() {
    // index takes variables now; an unknown one is nginx's error.
    fails(
        "server { listen 80; index index.$x.html; }",
        "t.conf:1:27: unknown \"x\" variable",
    );
    fails(
        "server { listen 80; access_log /var/log/$hots.log; }",
        "t.conf:1:32: unknown \"hots\" variable",
    );
    fails(
        "server { listen 80; return 200 $nope; }",
        "t.conf:1:32: unknown \"nope\" variable",
    );
}

#[test]
fn cgi_path_info_values() {
    fails(
        "cgi_path_info whole;",
        "t.conf:1:15: \"cgi_path_info\" takes split|full, got \"whole\"",
    );
    fails(
        "cgi_path_info split full;",
        "t.conf:1:1: invalid number of arguments in \"cgi_path_info\" directive",
    );
}

#[test]
fn realip_and_access_values() {
    fails(
        "server { listen 80; set_real_ip_from 10.0.0.0/33; }",
        "t.conf:1:38: invalid parameter \"10.0.0.0/33\"",
    );
    fails(
        "server { listen 80; set_real_ip_from no-such-host.invalid; }",
        "t.conf:1:38: host not found in set_real_ip_from \"no-such-host.invalid\"",
    );
    fails(
        "server { listen 80; real_ip_recursive maybe; }",
        "t.conf:1:39: \"real_ip_recursive\" takes on|off, got \"maybe\"",
    );
    fails(
        "server { listen 80; location / { deny 300.0.0.1; } }",
        "t.conf:1:39: invalid parameter \"300.0.0.1\"",
    );
    fails(
        "server { listen 80 proxy_protocol proxy_protocol; }",
        "t.conf:1:35: duplicate parameter \"proxy_protocol\" in \"listen\"",
    );
}
