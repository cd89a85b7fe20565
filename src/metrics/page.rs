//! The two status pages: `stub_status` (nginx's text, byte for byte in shape)
//! and `metrics` (the Prometheus exposition of every counter).

use std::collections::BTreeMap;

use super::expose::{Exposition, Kind};
use super::{
    BUCKETS, CLASSES, Cells, ErrorKind, METHODS, Phase, TimeoutKind, Totals, Upstream,
    UpstreamFailure,
};

/// nginx's stub_status body for `t` (the trailing spaces are nginx's).
pub fn stub_status(t: &Totals) -> String {
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \n\
         Reading: {} Writing: {} Waiting: {} \n",
        t.active, t.accepted, t.handled, t.requests, t.reading, t.writing, t.waiting
    )
}

/// The Prometheus exposition of every thread's counters.
pub fn prometheus(all: &[&Cells]) -> String {
    let mut e = Exposition::default();
    connections(&mut e, all);
    requests(&mut e, all);
    traffic(&mut e, all);
    gateways(&mut e, all);
    trouble(&mut e, all);
    files(&mut e, all);
    e.finish()
}

fn sum(all: &[&Cells], f: impl Fn(&Cells) -> u64) -> u64 {
    all.iter().map(|c| f(c)).fold(0, u64::wrapping_add)
}

fn worker_label(c: &Cells) -> String {
    c.worker()
        .map_or_else(|| "other".to_string(), |w| w.to_string())
}

/// Sums per label value (several threads may share one, e.g. `other`).
fn by_label<K: Ord, V: std::ops::AddAssign + Default>(
    all: &[&Cells],
    mut f: impl FnMut(&Cells, &mut dyn FnMut(K, V)),
) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    for c in all {
        f(c, &mut |k, v| *map.entry(k).or_default() += v);
    }
    map
}

fn connections(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_connections_accepted_total";
    e.family(name, Kind::Counter, "Client connections accepted.");
    e.sample(name, &[], sum(all, |c| c.accepted.get()));
    let name = "webserv_connections_handled_total";
    e.family(
        name,
        Kind::Counter,
        "Client connections handled (not refused by worker_connections).",
    );
    e.sample(name, &[], sum(all, |c| c.handled.get()));
    let name = "webserv_connections";
    e.family(
        name,
        Kind::Gauge,
        "Open client connections by worker and state.",
    );
    for phase in Phase::ALL {
        let levels = by_label(all, |c, add: &mut dyn FnMut(String, i64)| {
            add(worker_label(c), c.conns[phase as usize].get())
        });
        for (worker, n) in levels {
            let labels = [("worker", worker.as_str()), ("state", phase.label())];
            e.sample(name, &labels, n.max(0));
        }
    }
}

fn requests(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_requests_total";
    e.family(
        name,
        Kind::Counter,
        "Finished requests by server name, status class and method.",
    );
    let counts = by_label(
        all,
        |c, add: &mut dyn FnMut((String, usize, usize), u64)| {
            for (server, s) in c.served.iter() {
                for (class, row) in s.by.iter().enumerate() {
                    for (method, n) in row.iter().enumerate() {
                        if n.get() > 0 {
                            add((server.to_string(), class, method), n.get());
                        }
                    }
                }
            }
        },
    );
    for ((server, class, method), n) in counts {
        let labels = [
            ("server", server.as_str()),
            ("status", CLASSES[class]),
            ("method", METHODS[method]),
        ];
        e.sample(name, &labels, n);
    }
    let name = "webserv_worker_requests_total";
    e.family(
        name,
        Kind::Counter,
        "Requests begun (a first byte of their head arrived), by worker.",
    );
    let per = by_label(all, |c, add: &mut dyn FnMut(String, u64)| {
        add(worker_label(c), c.requests.get())
    });
    for (worker, n) in per {
        e.sample(name, &[("worker", &worker)], n);
    }
    let name = "webserv_request_duration_seconds";
    e.family(
        name,
        Kind::Histogram,
        "Time from a request's head to its response.",
    );
    let counts: Vec<u64> = (0..BUCKETS.len())
        .map(|i| sum(all, |c| c.duration.buckets[i].get()))
        .collect();
    let secs = sum(all, |c| c.duration.sum_us.get()) as f64 / 1e6;
    let count = sum(all, |c| c.duration.count.get());
    e.histogram(name, &BUCKETS, &counts, secs, count);
}

fn traffic(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_received_bytes_total";
    e.family(name, Kind::Counter, "Bytes read from clients.");
    e.sample(name, &[], sum(all, |c| c.received.get()));
    let name = "webserv_sent_bytes_total";
    e.family(
        name,
        Kind::Counter,
        "Response bytes (head and body) sent to clients.",
    );
    e.sample(name, &[], sum(all, |c| c.sent.get()));
    let name = "webserv_tls_handshakes_total";
    e.family(name, Kind::Counter, "TLS handshakes by result.");
    for (i, result) in ["ok", "failed"].into_iter().enumerate() {
        e.sample(name, &[("result", result)], sum(all, |c| c.tls[i].get()));
    }
}

fn gateways(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_cgi_spawns_total";
    e.family(name, Kind::Counter, "CGI scripts started, by result.");
    for (i, result) in ["ok", "failed"].into_iter().enumerate() {
        e.sample(name, &[("result", result)], sum(all, |c| c.cgi[i].get()));
    }
    let name = "webserv_upstream_attempts_total";
    e.family(name, Kind::Counter, "Upstream (proxy, FastCGI) attempts.");
    for (i, proto) in Upstream::LABELS.into_iter().enumerate() {
        let n = sum(all, |c| c.upstream_attempts[i].get());
        e.sample(name, &[("protocol", proto)], n);
    }
    let name = "webserv_upstream_failures_total";
    e.family(
        name,
        Kind::Counter,
        "Failed upstream attempts, by protocol and reason.",
    );
    for (i, proto) in Upstream::LABELS.into_iter().enumerate() {
        for (j, why) in UpstreamFailure::LABELS.into_iter().enumerate() {
            let n = sum(all, |c| c.upstream_failures[i][j].get());
            e.sample(name, &[("protocol", proto), ("reason", why)], n);
        }
    }
}

fn trouble(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_errors_total";
    e.family(name, Kind::Counter, "Client-side errors, by kind.");
    for (i, kind) in ErrorKind::LABELS.into_iter().enumerate() {
        e.sample(name, &[("kind", kind)], sum(all, |c| c.errors[i].get()));
    }
    let name = "webserv_timeouts_total";
    e.family(name, Kind::Counter, "Timeouts, by kind.");
    for (i, kind) in TimeoutKind::LABELS.into_iter().enumerate() {
        e.sample(name, &[("kind", kind)], sum(all, |c| c.timeouts[i].get()));
    }
    let name = "webserv_limit_rejections_total";
    e.family(
        name,
        Kind::Counter,
        "Requests refused by limit_req / limit_conn, by zone.",
    );
    let per = by_label(all, |c, add: &mut dyn FnMut(String, u64)| {
        for (zone, n) in c.limits.iter() {
            add(zone.to_string(), n.get());
        }
    });
    for (zone, n) in per {
        e.sample(name, &[("zone", &zone)], n);
    }
    let name = "webserv_password_checks_total";
    e.family(
        name,
        Kind::Counter,
        "Slow password checks (bcrypt, SHA-crypt): hashes computed, verdicts from the cache.",
    );
    for (i, source) in ["computed", "cache"].into_iter().enumerate() {
        let n = sum(all, |c| c.password_checks[i].get());
        e.sample(name, &[("source", source)], n);
    }
}

fn files(e: &mut Exposition, all: &[&Cells]) {
    let name = "webserv_open_file_cache_total";
    e.family(name, Kind::Counter, "open_file_cache lookups, by result.");
    for (i, result) in ["hit", "miss"].into_iter().enumerate() {
        e.sample(
            name,
            &[("result", result)],
            sum(all, |c| c.file_cache[i].get()),
        );
    }
    let name = "webserv_aio_queue_depth";
    e.family(
        name,
        Kind::Gauge,
        "File jobs queued on the aio thread pool, by worker.",
    );
    let per = by_label(all, |c, add: &mut dyn FnMut(String, i64)| {
        add(worker_label(c), c.aio_depth.get())
    });
    for (worker, n) in per {
        e.sample(name, &[("worker", &worker)], n.max(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_has_nginx_s_lines_and_spaces() {
        let t = Totals {
            active: 3,
            accepted: 120,
            handled: 119,
            requests: 400,
            reading: 1,
            writing: 1,
            waiting: 1,
        };
        assert_eq!(
            stub_status(&t),
            "Active connections: 3 \nserver accepts handled requests\n 120 119 400 \n\
             Reading: 1 Writing: 1 Waiting: 1 \n"
        );
    }

    #[test]
    fn the_exposition_sums_threads_and_merges_shared_labels() {
        let a = Cells::default();
        let b = Cells::default();
        for c in [&a, &b] {
            c.worker
                .store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
            c.accepted.add(2);
            c.limits.get("perip").inc();
            c.served.get("s\"1").by[1][0].add(3);
        }
        let text = prometheus(&[&a, &b]);
        assert!(
            text.contains("\nwebserv_connections_accepted_total 4\n"),
            "{text}"
        );
        assert!(text.contains("\nwebserv_limit_rejections_total{zone=\"perip\"} 2\n"));
        assert!(text.contains(
            "\nwebserv_requests_total{server=\"s\\\"1\",status=\"2xx\",method=\"GET\"} 6\n"
        ));
        assert!(text.contains("\nwebserv_connections{worker=\"other\",state=\"waiting\"} 0\n"));
    }
}
