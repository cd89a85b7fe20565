//! The directive table: for every directive, the contexts it may appear in, how many
//! arguments it takes, whether it opens a block and whether it may repeat in a block.
//! This is what turns a syntactically fine tree into "not allowed here" errors, as
//! nginx's `ngx_command_t` table does.

use std::fmt;

/// Where a directive is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Main,
    Http,
    Server,
    Location,
    /// `events { }`: connection processing, in main context.
    Events,
    /// `upstream NAME { }`: a group of backend servers.
    Upstream,
    /// `if (...) { }` in a server (nginx's SIF): rewrite directives only.
    ServerIf,
    /// `if (...) { }` in a location (nginx's LIF).
    LocationIf,
    /// `limit_except METHOD... { }` in a location (nginx's LMT).
    LimitExcept,
}

impl Ctx {
    fn bit(self) -> u16 {
        match self {
            Ctx::Main => MAIN,
            Ctx::Http => HTTP,
            Ctx::Server => SRV,
            Ctx::Location => LOC,
            Ctx::Events => EVENTS,
            Ctx::Upstream => UPS,
            Ctx::ServerIf => SIF,
            Ctx::LocationIf => LIF,
            Ctx::LimitExcept => LMT,
        }
    }
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ctx::Main => "main",
            Ctx::Http => "http",
            Ctx::Server => "server",
            Ctx::Location => "location",
            Ctx::Events => "events",
            Ctx::Upstream => "upstream",
            Ctx::ServerIf | Ctx::LocationIf => "if",
            Ctx::LimitExcept => "limit_except",
        })
    }
}

const MAIN: u16 = 1;
const HTTP: u16 = 2;
const SRV: u16 = 4;
const LOC: u16 = 8;
const EVENTS: u16 = 16;
const UPS: u16 = 32;
/// Inside `if` in a server, and inside `if` in a location.
const SIF: u16 = 64;
const LIF: u16 = 128;
/// Inside `limit_except` in a location.
const LMT: u16 = 256;
/// The rewrite module's directives: everywhere it runs.
const RW: u16 = SRV | LOC | SIF | LIF;
/// "main" in the spec table: top level, or inside the optional `http { }` wrapper.
const TOP: u16 = MAIN | HTTP;
/// "all" in the spec table.
const ALL: u16 = TOP | SRV | LOC;

/// One row of the table.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    contexts: u16,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments; `None` = no limit.
    pub max: Option<usize>,
    /// Takes a `{ }` block instead of `;`.
    pub block: bool,
    /// May appear more than once in the same block.
    pub repeat: bool,
}

impl Spec {
    pub fn allowed_in(&self, ctx: Ctx) -> bool {
        self.contexts & ctx.bit() != 0
    }

    pub fn arity_ok(&self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }
}

const fn row(name: &'static str, contexts: u16, min: usize, max: usize) -> Spec {
    Spec {
        name,
        contexts,
        min,
        max: Some(max),
        block: false,
        repeat: false,
    }
}

/// A directive that may repeat in one block.
const fn many(mut s: Spec) -> Spec {
    s.repeat = true;
    s
}

/// A directive with no upper bound on its arguments.
const fn open(mut s: Spec) -> Spec {
    s.max = None;
    s
}

/// A block directive.
const fn block(mut s: Spec) -> Spec {
    s.block = true;
    s
}

/// Every directive webserv knows (`include` is expanded before this table is used).
pub const TABLE: &[Spec] = &[
    row("worker_processes", MAIN, 1, 1),
    row("worker_connections", MAIN | EVENTS, 1, 1),
    block(row("events", MAIN, 0, 0)),
    row("multi_accept", EVENTS, 1, 1),
    row("use", EVENTS, 1, 1),
    row("accept_mutex", EVENTS, 1, 1),
    row("pid", MAIN, 1, 1),
    // nginx's error_log may be written in every context: a request logs to its level's.
    many(row("error_log", ALL, 1, 2)),
    // Process directives whose value describes what webserv does (see compat.rs).
    row("daemon", MAIN, 1, 1),
    row("master_process", MAIN, 1, 1),
    row("worker_rlimit_nofile", MAIN, 1, 1),
    row("lock_file", MAIN, 1, 1),
    row("timer_resolution", MAIN, 1, 1),
    row("pcre_jit", MAIN, 1, 1),
    // Where request bodies are spooled; the gateway's are accepted for pasted configs.
    row("client_body_temp_path", ALL, 1, 4),
    row("proxy_temp_path", ALL, 1, 4),
    row("fastcgi_temp_path", ALL, 1, 4),
    row("uwsgi_temp_path", ALL, 1, 4),
    row("scgi_temp_path", ALL, 1, 4),
    block(row("http", MAIN, 0, 0)),
    many(block(row("server", TOP, 0, 0))),
    many(block(row("location", SRV | LOC, 1, 2))),
    many(open(row("access_log", ALL | LIF, 1, 1))),
    many(open(row("log_format", TOP, 2, 2))),
    many(open(row("listen", SRV, 1, 1))),
    many(open(row("server_name", SRV, 1, 1))),
    row("root", ALL | LIF, 1, 1),
    row("alias", LOC, 1, 1),
    many(open(row("index", ALL, 1, 1))),
    row("autoindex", ALL, 1, 1),
    row("autoindex_exact_size", ALL, 1, 1),
    row("autoindex_localtime", ALL, 1, 1),
    row("autoindex_format", ALL, 1, 1),
    // The charset module (src/config/charset.rs, src/config/charset_map.rs).
    row("charset", ALL | LIF, 1, 1),
    open(row("charset_types", ALL, 1, 1)),
    row("source_charset", ALL | LIF, 1, 1),
    row("override_charset", ALL | LIF, 1, 1),
    many(block(row("charset_map", TOP, 2, 2))),
    // Computed variables (src/config/map.rs) and conditions (src/config/cond.rs).
    many(block(row("map", TOP, 2, 2))),
    many(block(row("geo", TOP, 1, 2))),
    row("map_hash_max_size", TOP, 1, 1),
    row("map_hash_bucket_size", TOP, 1, 1),
    many(open(row("error_page", ALL | LIF, 2, 2))),
    row("client_max_body_size", ALL, 1, 1),
    row("client_header_buffer_size", TOP | SRV, 1, 1),
    row("client_header_timeout", TOP | SRV, 1, 1),
    row("client_body_timeout", TOP | SRV, 1, 1),
    row("send_timeout", ALL, 1, 1),
    row("keepalive_timeout", ALL, 1, 2),
    row("keepalive_requests", ALL, 1, 1),
    row("keepalive_time", ALL, 1, 1),
    row("large_client_header_buffers", TOP | SRV, 2, 2),
    row("open_log_file_cache", ALL, 1, 4),
    row("keepalive_disable", ALL, 1, 3),
    open(row("allow_methods", ALL, 1, 1)),
    many(row("return", RW, 1, 2)),
    many(row("rewrite", RW, 2, 3)),
    many(row("set", RW, 2, 2)),
    many(row("break", RW, 0, 0)),
    many(open(block(row("if", SRV | LOC, 1, 1)))),
    row("rewrite_log", ALL | SIF | LIF, 1, 1),
    row("uninitialized_variable_warn", ALL | SIF | LIF, 1, 1),
    open(row("try_files", SRV | LOC, 2, 2)),
    row("internal", LOC, 0, 0),
    // nginx's `stub_status` (the old `stub_status on;` too) and webserv's
    // Prometheus page: the location's content.
    row("stub_status", LOC, 0, 1),
    row("metrics", LOC, 0, 0),
    row("upload_store", ALL, 1, 1),
    many(row("cgi", ALL, 1, 2)),
    row("cgi_timeout", ALL, 1, 1),
    row("cgi_path_info", ALL, 1, 1),
    row("sendfile", ALL | LIF, 1, 1),
    row("aio", ALL, 1, 1),
    row("open_file_cache", ALL, 1, 2),
    row("open_file_cache_valid", ALL, 1, 1),
    row("open_file_cache_errors", ALL, 1, 1),
    row("open_file_cache_min_uses", ALL, 1, 1),
    row("disable_symlinks", ALL, 1, 2),
    row("default_type", ALL, 1, 1),
    many(row("add_header", ALL | LIF, 2, 3)),
    many(block(row("types", ALL, 0, 0))),
    row("server_tokens", ALL, 1, 1),
    row("absolute_redirect", ALL, 1, 1),
    row("log_not_found", ALL, 1, 1),
    row("connection_pool_size", TOP | SRV, 1, 1),
    row("request_pool_size", TOP | SRV, 1, 1),
    row("merge_slashes", TOP | SRV, 1, 1),
    row("port_in_redirect", ALL, 1, 1),
    row("server_name_in_redirect", ALL, 1, 1),
    row("underscores_in_headers", TOP | SRV, 1, 1),
    row("http2", TOP | SRV, 1, 1),
    row("http2_max_concurrent_streams", TOP | SRV, 1, 1),
    row("http2_chunk_size", ALL, 1, 1),
    row("http2_body_preread_size", TOP | SRV, 1, 1),
    row("http2_recv_buffer_size", HTTP, 1, 1),
    row("ignore_invalid_headers", TOP | SRV, 1, 1),
    row("max_headers", TOP | SRV, 1, 1),
    row("expires", ALL | LIF, 1, 2),
    row("etag", ALL, 1, 1),
    row("max_ranges", ALL, 1, 1),
    many(row("add_trailer", ALL, 2, 3)),
    row("if_modified_since", ALL, 1, 1),
    // Accepted for pasted configs, without effect: see README ("accepted, no effect").
    row("types_hash_max_size", ALL, 1, 1),
    row("types_hash_bucket_size", ALL, 1, 1),
    row("server_names_hash_max_size", TOP, 1, 1),
    row("server_names_hash_bucket_size", TOP, 1, 1),
    row("tcp_nopush", ALL, 1, 1),
    row("tcp_nodelay", ALL, 1, 1),
    many(row("ssl_certificate", TOP | SRV, 1, 1)),
    many(row("ssl_certificate_key", TOP | SRV, 1, 1)),
    open(row("ssl_protocols", TOP | SRV, 1, 1)),
    row("ssl_ciphers", TOP | SRV, 1, 1),
    row("ssl_prefer_server_ciphers", TOP | SRV, 1, 1),
    row("ssl_session_tickets", TOP | SRV, 1, 1),
    row("ssl_session_timeout", TOP | SRV, 1, 1),
    row("ssl_session_cache", TOP | SRV, 1, 2),
    row("ssl_ecdh_curve", TOP | SRV, 1, 1),
    row("ssl_reject_handshake", TOP | SRV, 1, 1),
    row("ssl_verify_client", TOP | SRV, 1, 1),
    row("ssl_verify_depth", TOP | SRV, 1, 1),
    row("ssl_client_certificate", TOP | SRV, 1, 1),
    row("ssl_trusted_certificate", TOP | SRV, 1, 1),
    row("ssl_crl", TOP | SRV, 1, 1),
    row("ssl_password_file", TOP | SRV, 1, 1),
    many(row("ssl_session_ticket_key", TOP | SRV, 1, 1)),
    // Compression (src/config/compress.rs).
    row("gzip", ALL | LIF, 1, 1),
    open(row("gzip_types", ALL, 1, 1)),
    row("gzip_min_length", ALL, 1, 1),
    row("gzip_comp_level", ALL, 1, 1),
    row("gzip_vary", ALL, 1, 1),
    row("gzip_static", ALL, 1, 1),
    row("brotli", ALL, 1, 1),
    open(row("brotli_types", ALL, 1, 1)),
    row("brotli_min_length", ALL, 1, 1),
    row("brotli_comp_level", ALL, 1, 1),
    row("brotli_static", ALL, 1, 1),
    row("zstd", ALL, 1, 1),
    open(row("zstd_types", ALL, 1, 1)),
    row("zstd_min_length", ALL, 1, 1),
    row("zstd_comp_level", ALL, 1, 1),
    row("zstd_static", ALL, 1, 1),
    row("compression_cache", ALL, 1, 1),
    // WebDAV (src/config/dav.rs).
    open(row("dav_methods", ALL, 1, 1)),
    row("create_full_put_path", ALL, 1, 1),
    row("min_delete_depth", ALL, 1, 1),
    row("dav_access", ALL, 1, 3),
    // Body buffering and framing (src/config/bodies.rs).
    row("client_body_buffer_size", ALL, 1, 1),
    row("client_body_in_file_only", ALL, 1, 1),
    row("client_body_in_single_buffer", ALL, 1, 1),
    row("chunked_transfer_encoding", ALL, 1, 1),
    // Upstream groups (src/config/upstream.rs); `server` here is a backend line.
    many(block(row("upstream", TOP, 1, 1))),
    many(open(row("server", UPS, 1, 1))),
    row("keepalive", UPS, 1, 1),
    row("keepalive_timeout", UPS, 1, 1),
    row("keepalive_requests", UPS, 1, 1),
    row("keepalive_time", UPS, 1, 1),
    row("zone", UPS, 1, 2),
    row("least_conn", UPS, 0, 0),
    row("ip_hash", UPS, 0, 0),
    row("hash", UPS, 1, 2),
    row("random", UPS, 0, 2),
    // The client address behind proxies (src/config/realip.rs).
    many(row("set_real_ip_from", ALL, 1, 1)),
    row("real_ip_header", ALL, 1, 1),
    row("real_ip_recursive", ALL, 1, 1),
    // Access by client address (src/config/access.rs).
    many(row("allow", ALL, 1, 1)),
    many(row("deny", ALL, 1, 1)),
    // Request, connection and response rate limits (src/config/limits.rs).
    many(open(row("limit_req_zone", TOP, 2, 2))),
    many(open(row("limit_conn_zone", TOP, 2, 2))),
    many(open(row("limit_req", ALL, 1, 3))),
    row("limit_req_status", ALL, 1, 1),
    row("limit_req_log_level", ALL, 1, 1),
    row("limit_req_dry_run", ALL, 1, 1),
    many(row("limit_conn", ALL, 2, 2)),
    row("limit_conn_status", ALL, 1, 1),
    row("limit_conn_log_level", ALL, 1, 1),
    row("limit_conn_dry_run", ALL, 1, 1),
    row("limit_rate", ALL | LIF, 1, 1),
    row("limit_rate_after", ALL | LIF, 1, 1),
    many(row("allow", ALL | LMT, 1, 1)),
    many(row("deny", ALL | LMT, 1, 1)),
    // Basic authentication and the access phase's own settings (src/config/auth.rs).
    row("auth_basic", ALL | LMT, 1, 1),
    row("auth_basic_user_file", ALL | LMT, 1, 1),
    row("satisfy", ALL, 1, 1),
    row("auth_delay", ALL, 1, 1),
    open(block(row("limit_except", LOC, 1, 1))),
    // The reverse proxy (src/config/proxy.rs).
    row("proxy_pass", LOC | LIF | LMT, 1, 1),
    many(row("proxy_set_header", ALL, 2, 2)),
    many(row("proxy_hide_header", ALL, 1, 1)),
    many(row("proxy_pass_header", ALL, 1, 1)),
    row("proxy_http_version", ALL, 1, 1),
    row("proxy_connect_timeout", ALL, 1, 1),
    row("proxy_read_timeout", ALL, 1, 1),
    row("proxy_send_timeout", ALL, 1, 1),
    open(row("proxy_next_upstream", ALL, 1, 1)),
    row("proxy_next_upstream_tries", ALL, 1, 1),
    row("proxy_next_upstream_timeout", ALL, 1, 1),
    many(row("proxy_redirect", ALL, 1, 2)),
    row("proxy_intercept_errors", ALL, 1, 1),
    row("proxy_pass_request_headers", ALL, 1, 1),
    row("proxy_pass_request_body", ALL, 1, 1),
    row("proxy_set_body", ALL, 1, 1),
    row("proxy_method", ALL, 1, 1),
    row("proxy_buffering", ALL, 1, 1),
    row("proxy_request_buffering", ALL, 1, 1),
    row("proxy_ignore_client_abort", ALL, 1, 1),
    open(row("proxy_ignore_headers", ALL, 1, 1)),
    row("proxy_buffers", ALL, 2, 2),
    row("proxy_buffer_size", ALL, 1, 1),
    row("proxy_busy_buffers_size", ALL, 1, 1),
    row("proxy_max_temp_file_size", ALL, 1, 1),
    row("proxy_temp_file_write_size", ALL, 1, 1),
    // TLS to upstreams (src/config/proxy_ssl.rs).
    row("proxy_ssl_verify", ALL, 1, 1),
    row("proxy_ssl_verify_depth", ALL, 1, 1),
    row("proxy_ssl_trusted_certificate", ALL, 1, 1),
    row("proxy_ssl_name", ALL, 1, 1),
    row("proxy_ssl_server_name", ALL, 1, 1),
    open(row("proxy_ssl_protocols", ALL, 1, 1)),
    row("proxy_ssl_ciphers", ALL, 1, 1),
    row("proxy_ssl_certificate", ALL, 1, 1),
    row("proxy_ssl_certificate_key", ALL, 1, 1),
    row("proxy_ssl_session_reuse", ALL, 1, 1),
    // FastCGI (src/config/fastcgi.rs; the shared settings in src/config/proxy.rs).
    row("fastcgi_pass", LOC, 1, 1),
    many(row("fastcgi_param", ALL, 2, 3)),
    row("fastcgi_index", ALL, 1, 1),
    row("fastcgi_split_path_info", LOC, 1, 1),
    row("fastcgi_keep_conn", ALL, 1, 1),
    many(row("fastcgi_catch_stderr", ALL, 1, 1)),
    many(row("fastcgi_hide_header", ALL, 1, 1)),
    many(row("fastcgi_pass_header", ALL, 1, 1)),
    row("fastcgi_connect_timeout", ALL, 1, 1),
    row("fastcgi_read_timeout", ALL, 1, 1),
    row("fastcgi_send_timeout", ALL, 1, 1),
    open(row("fastcgi_next_upstream", ALL, 1, 1)),
    row("fastcgi_next_upstream_tries", ALL, 1, 1),
    row("fastcgi_next_upstream_timeout", ALL, 1, 1),
    row("fastcgi_intercept_errors", ALL, 1, 1),
    row("fastcgi_pass_request_headers", ALL, 1, 1),
    row("fastcgi_pass_request_body", ALL, 1, 1),
    row("fastcgi_buffering", ALL, 1, 1),
    row("fastcgi_request_buffering", ALL, 1, 1),
    row("fastcgi_ignore_client_abort", ALL, 1, 1),
    open(row("fastcgi_ignore_headers", ALL, 1, 1)),
    row("fastcgi_buffers", ALL, 2, 2),
    row("fastcgi_buffer_size", ALL, 1, 1),
    row("fastcgi_busy_buffers_size", ALL, 1, 1),
    row("fastcgi_max_temp_file_size", ALL, 1, 1),
    row("fastcgi_temp_file_write_size", ALL, 1, 1),
];

/// The row for `name`.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    TABLE.iter().find(|s| s.name == name)
}

/// The row for `name` written in `ctx`: a name with rows for several contexts
/// (`server` is a block in http and a backend line in `upstream`) gets the one
/// allowed there, else its first.
pub fn lookup_in(name: &str, ctx: Ctx) -> Option<&'static Spec> {
    TABLE
        .iter()
        .find(|s| s.name == name && s.allowed_in(ctx))
        .or_else(|| lookup(name))
}

/// The closest known directive, for "did you mean": at most 2 edits away, and at
/// most one edit per three characters so short words (`foo` → `root`) get none.
pub fn suggest(name: &str) -> Option<&'static str> {
    let limit = (name.chars().count() / 3).clamp(1, 2);
    let known = TABLE.iter().map(|s| s.name).chain(["include"]);
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        let cases = [
            ("lisen", "listen", 1),
            ("", "abc", 3),
            ("root", "root", 0),
            ("roto", "root", 2),
            ("kitten", "sitting", 3),
        ];
        for (a, b, d) in cases {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("lisen"), Some("listen"));
        assert_eq!(suggest("servr_name"), Some("server_name"));
        assert_eq!(suggest("includ"), Some("include"));
        assert_eq!(suggest("servr_nme"), Some("server_name"));
        assert_eq!(suggest("foo"), None);
        assert_eq!(suggest("rot"), Some("root"));
    }

    #[test]
    fn contexts_follow_the_spec_table() {
        let cases = [
            ("worker_processes", Ctx::Main, true),
            ("worker_processes", Ctx::Http, false),
            ("root", Ctx::Location, true),
            ("alias", Ctx::Server, false),
            ("listen", Ctx::Server, true),
            ("listen", Ctx::Main, false),
            ("keepalive_timeout", Ctx::Http, true),
            ("keepalive_timeout", Ctx::Location, true),
            ("client_header_timeout", Ctx::Location, false),
            ("return", Ctx::Main, false),
            ("server", Ctx::Http, true),
            ("location", Ctx::Location, true),
            ("internal", Ctx::Server, false),
            ("rewrite", Ctx::Location, true),
        ];
        for (name, ctx, want) in cases {
            let spec = lookup(name).unwrap();
            assert_eq!(spec.allowed_in(ctx), want, "{name} in {ctx}");
        }
    }

    #[test]
    fn arity() {
        let cases = [
            ("root", 1, true),
            ("root", 2, false),
            ("index", 5, true),
            ("error_page", 1, false),
            ("return", 2, true),
            ("return", 3, false),
            ("http", 0, true),
        ];
        for (name, n, want) in cases {
            assert_eq!(lookup(name).unwrap().arity_ok(n), want, "{name} {n}");
        }
    }
}
