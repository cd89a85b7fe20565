//! nginx directives webserv does not implement yet, which a configuration pasted
//! from nginx is likely to contain. They get their own error, "not supported yet"
//! with what they are for, instead of "unknown directive" (which suggests a typo)
//! and never a silent default. Only names that are not in the directive table reach
//! this list, so a directive implemented later simply stops matching here.

/// Directive families, by name prefix, and what they are for.
const PREFIXES: &[(&str, &str)] = &[
    ("proxy_", "reverse proxying (caching, cookies)"),
    ("fastcgi_", "FastCGI (caching, stderr and header filters)"),
    ("uwsgi_", "uwsgi"),
    ("scgi_", "SCGI"),
    ("grpc_", "gRPC proxying"),
    ("memcached_", "memcached"),
    ("auth_request", "subrequest authentication"),
    ("auth_jwt", "JWT authentication"),
    ("sub_filter", "response body substitution"),
    ("ssi", "server-side includes"),
    ("geoip_", "GeoIP"),
    ("image_filter", "image filtering"),
    ("xslt_", "XSLT"),
    (
        "dav_",
        "WebDAV (webserv has PUT and DELETE: see \"upload_store\")",
    ),
    ("secure_link", "secure links"),
    ("userid", "user id cookies"),
    ("split_clients", "A/B splitting"),
    ("mp4", "MP4 pseudo-streaming"),
    ("flv", "FLV pseudo-streaming"),
    ("hls", "HLS streaming"),
    ("http3", "HTTP/3"),
    ("quic_", "QUIC"),
    ("lua_", "Lua scripting"),
    ("js_", "njs scripting"),
    ("perl", "Perl scripting"),
    (
        "lingering_",
        "tuning of lingering close (webserv lingers 5 s, 1 MiB)",
    ),
];

/// Single directives, and what they are for.
const NAMES: &[(&str, &str)] = &[
    ("stream", "TCP/UDP proxying"),
    ("mail", "mail proxying"),
    ("resolver", "DNS resolution"),
    ("resolver_timeout", "DNS resolution"),
    ("mirror", "request mirroring"),
    ("slice", "byte-range slicing"),
    ("random_index", "random index files"),
    ("empty_gif", "the empty GIF handler"),
    ("load_module", "dynamic modules"),
    (
        "user",
        "switching users (run webserv as the user it should be)",
    ),
    ("env", "environment variables"),
    ("thread_pool", "thread pools (see \"aio threads\")"),
    ("directio", "direct I/O"),
    ("read_ahead", "read-ahead tuning"),
    ("output_buffers", "output buffers"),
    ("postpone_output", "output postponing"),
    (
        "sendfile_max_chunk",
        "sendfile chunking (webserv sends at most 2 MiB per call)",
    ),
    ("msie_padding", "MSIE workarounds"),
    ("msie_refresh", "MSIE workarounds"),
    (
        "reset_timedout_connection",
        "resets of timed-out connections",
    ),
    ("log_subrequest", "logging of subrequests"),
    ("recursive_error_pages", "error pages of error pages"),
    ("keepalive_time", "connection lifetimes"),
    ("keepalive_disable", "keep-alive per browser"),
    ("etag_format", "ETag formats"),
    ("more_set_headers", "the headers-more module"),
    ("variables_hash_max_size", "variables"),
    ("variables_hash_bucket_size", "variables"),
    (
        "disable_symlinks",
        "symlink policies (webserv never follows a link out of the root)",
    ),
    ("spdy", "SPDY"),
    ("open_file_cache_errors", "open file cache tuning"),
    ("open_file_cache_min_uses", "open file cache tuning"),
    ("worker_cpu_affinity", "worker tuning"),
    ("worker_priority", "worker tuning"),
    (
        "worker_shutdown_timeout",
        "worker tuning (webserv stops within 5 s)",
    ),
    (
        "worker_aio_requests",
        "aio queue tuning (see \"aio threads\")",
    ),
    (
        "accept_mutex_delay",
        "the accept mutex (each worker has its own socket)",
    ),
    ("debug_connection", "debug logging per client"),
    ("working_directory", "the working directory of workers"),
    ("aio_write", "aio for writes"),
    ("send_lowat", "send low-water marks"),
    ("subrequest_output_buffer_size", "subrequests"),
    ("add_before_body", "the addition module"),
    ("add_after_body", "the addition module"),
];

/// The "not supported yet" message for `name`, if it is an nginx directive that
/// webserv does not implement (a name in the directive table never is, even when
/// a family prefix such as `proxy_` covers it: `proxy_temp_path` is accepted).
pub fn message(name: &str) -> Option<String> {
    if super::directives::TABLE.iter().any(|s| s.name == name) {
        return None;
    }
    let what = NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| PREFIXES.iter().find(|(p, _)| name.starts_with(p)))
        .map(|(_, what)| *what)?;
    Some(format!(
        "directive \"{name}\" is not supported yet ({what})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_names() {
        let cases = [
            ("proxy_pass", None),
            ("proxy_cache", Some("reverse proxying")),
            ("proxy_cookie_domain", Some("reverse proxying")),
            ("uwsgi_pass", Some("uwsgi")),
            ("auth_basic_user_file", None),
            ("limit_req_zone", None),
            ("limit_rate", None),
            ("ssi", Some("server-side includes")),
            ("sub_filter_once", Some("response body substitution")),
            ("upstream", None),
            ("if", None),
            ("ifx", None),
            ("mapping", None),
            ("gzip", None),
            ("gzip_types", None),
            ("brotli", None),
            ("zstd", None),
            ("ssl_certificate", None),
            ("rewrite", None),
            ("try_files", None),
            ("set", None),
            ("log_format", None),
            ("charset", None),
            ("lisen", None),
        ];
        for (name, want) in cases {
            let got = message(name);
            match want {
                Some(part) => {
                    let got = got.unwrap_or_else(|| panic!("{name}: no message"));
                    assert!(got.contains(part), "{name}: {got}");
                    assert!(got.starts_with(&format!("directive \"{name}\" is not supported yet")));
                }
                None => assert_eq!(got, None, "{name}"),
            }
        }
    }

    #[test]
    fn implemented_directives_never_match() {
        for spec in super::super::directives::TABLE {
            assert_eq!(message(spec.name), None, "{} is implemented", spec.name);
        }
    }
}
