//! Directives a stock nginx configuration carries whose job webserv does its own
//! way: the `events { }` block and a few tuning knobs. Each is accepted only with
//! the value that describes what webserv really does; any other value is an error
//! that says what webserv does instead, so no pasted setting silently changes
//! meaning. `worker_connections` inside `events` is honoured (it is the same
//! setting as at the main level).

use super::ConfigError;
use super::parser::Directive;
use super::values;

/// The tuning knobs accepted at http, server or location level (see [`check`]).
pub const KNOBS: [&str; 6] = [
    "tcp_nopush",
    "tcp_nodelay",
    "types_hash_max_size",
    "types_hash_bucket_size",
    "server_names_hash_max_size",
    "server_names_hash_bucket_size",
];

/// Main-level process directives whose value is checked, then unused (see
/// [`process_directive`]).
pub const PROCESS: [&str; 5] = [
    "daemon",
    "master_process",
    "lock_file",
    "timer_resolution",
    "pcre_jit",
];

/// `daemon`, `master_process`, `lock_file`, `timer_resolution`, `pcre_jit`: what
/// nginx's test harness and stock files write. webserv runs in the foreground (as
/// nginx with `daemon off`), one process whose main thread does a master's work
/// (signals, reloads) for its worker threads, with no lock file (each worker has its
/// own SO_REUSEPORT socket), its own clock and no PCRE.
pub fn process_directive(d: &Directive) -> Result<(), ConfigError> {
    let arg = &d.args[0];
    match d.name.as_str() {
        "daemon" => only(
            d,
            values::on_off(arg, "daemon")?,
            false,
            "webserv runs in the foreground; start it from a service manager \
             (scripts/webserv.service) to run it in the background",
        ),
        "master_process" | "pcre_jit" => values::on_off(arg, &d.name).map(|_| ()),
        "timer_resolution" => values::time(arg, "timer_resolution").map(|_| ()),
        _ => Ok(()),
    }
}

/// One directive of `events { }`; `worker_connections` is stored in `slot`,
/// which also holds a main-level value if one was written (then it is duplicate).
pub fn events_directive(d: &Directive, slot: &mut Option<usize>) -> Result<(), ConfigError> {
    let arg = &d.args[0];
    match d.name.as_str() {
        "worker_connections" => {
            if slot.is_some() {
                let msg = "\"worker_connections\" is duplicate";
                return Err(ConfigError::at(&d.pos, msg));
            }
            let n = values::number(arg, "worker_connections")?;
            *slot = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        // webserv accepts until the queue is empty, 16 at a time between other events.
        "multi_accept" => only(
            d,
            values::on_off(arg, "multi_accept")?,
            true,
            "webserv always accepts every pending connection, 16 at a time",
        )?,
        // Several workers get one SO_REUSEPORT socket each: there is no mutex.
        "accept_mutex" => only(
            d,
            values::on_off(arg, "accept_mutex")?,
            false,
            "each worker has its own SO_REUSEPORT socket, so no accept mutex is needed",
        )?,
        "use" if arg.0 == "epoll" => {}
        "use" => {
            let msg = format!(
                "\"use {}\" is not supported: webserv's event loop uses epoll",
                arg.0
            );
            return Err(ConfigError::at(&arg.1, msg));
        }
        _ => {}
    }
    Ok(())
}

/// Checks a tuning knob (one of [`KNOBS`]); none of them is stored.
pub fn check(d: &Directive) -> Result<(), ConfigError> {
    let arg = &d.args[0];
    let name = d.name.as_str();
    match name {
        // File heads go out with MSG_MORE, so they share a segment with the body.
        "tcp_nopush" => only(
            d,
            values::on_off(arg, name)?,
            true,
            "webserv always sends a response head with the start of its file (MSG_MORE)",
        ),
        // Kept-alive connections get TCP_NODELAY (nginx's default too).
        "tcp_nodelay" => only(
            d,
            values::on_off(arg, name)?,
            true,
            "webserv always sets TCP_NODELAY on kept-alive connections",
        ),
        // webserv's hash tables grow as needed: a size is checked, then unused.
        _ => values::size(arg, name).map(|_| ()),
    }
}

/// Accepts `value` only when it is `webserv`'s behaviour `want`.
fn only(d: &Directive, value: bool, want: bool, what: &str) -> Result<(), ConfigError> {
    if value == want {
        return Ok(());
    }
    let msg = format!("\"{} {}\" is not supported: {what}", d.name, d.args[0].0);
    Err(ConfigError::at(&d.args[0].1, msg))
}
