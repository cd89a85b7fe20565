//! The access phase, as nginx runs it after the preaccess phase: the access
//! module (`allow`/`deny`), then basic authentication (`auth_basic` against an
//! htpasswd file), combined by `satisfy all | any` as `ngx_http_core_access_phase`
//! combines them. A `limit_except` block swaps in its own rules for the methods
//! it does not list.
//!
//! A slow hash (bcrypt, SHA-crypt) is not checked on the event loop: the check
//! answers [`Access::Pending`] with the job, the connection runs it on the
//! worker's thread pool and, once [`Verify::finish`] has recorded the verdict,
//! runs the phases again; the second time the verdict cache answers. The cache
//! is the process's (every worker's, across reloads): the same credentials cost
//! one hash per [`cache::TTL`] whichever worker they reach.

pub mod cache;
pub mod hash;
pub mod htpasswd;

use std::io;
use std::path::Path;
use std::time::Duration;

use super::{Cx, Routed};
use crate::config::Location;
use crate::config::access;
use crate::config::auth::{Basic, Satisfy};
use crate::http::Response;

/// The access phase's decision.
#[derive(Debug)]
pub enum Access {
    Allow,
    Deny(Refusal),
    /// A password check must run off the event loop first.
    Pending(Box<Verify>),
}

/// A refusal: the status, and for a 401 its `WWW-Authenticate` value and its
/// `auth_delay`.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    challenge: Option<String>,
    delay: Duration,
}

impl Refusal {
    fn plain(status: u16) -> Access {
        Access::Deny(Refusal {
            status,
            challenge: None,
            delay: Duration::ZERO,
        })
    }
}

/// A slow password check, to run on the thread pool.
#[derive(Clone)]
pub struct Verify {
    key: cache::Key,
    password: Vec<u8>,
    hash: String,
}

impl std::fmt::Debug for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verify { .. }")
    }
}

impl Verify {
    /// Runs the check (seconds, at worst: not on the event loop).
    pub fn run(&self) -> bool {
        crate::metrics::password_check(true);
        hash::verify(&self.password, &self.hash)
    }

    /// Records the verdict, for the phases' second run.
    pub fn finish(&self, ok: bool) {
        cache::put(self.key, ok);
    }
}

/// What basic authentication decided.
enum Basics {
    /// Off here, or not configured.
    Declined,
    /// The user and password matched.
    Passed(String),
    /// 401 with this realm.
    Unauthorized(String),
    /// The user file could not be read: 403 (missing) or 500.
    Failed(u16),
    Pending(Box<Verify>),
}

/// The access phase for `r` in `loc`.
pub fn check(cx: &Cx, r: &mut Routed, loc: &Location) -> Access {
    let conf = &loc.auth;
    let method = cx.req.method.as_str();
    let (rules, basic) = match &conf.limit {
        Some(l) if l.applies(method) => {
            if let Some(pass) = &l.proxy_pass {
                // The block's backend answers these methods.
                let mut own = r.location(cx.config).clone();
                own.proxy_pass = Some(pass.clone());
                own.fastcgi_pass = None;
                r.local = Some(Box::new(own));
            }
            (&l.access[..], l.basic.as_ref())
        }
        _ => (&loc.access[..], conf.basic.as_ref()),
    };
    let any = conf.satisfy == Satisfy::Any;
    let client = cx.origin.peer.ip();
    let rule = access::first_match(rules, client);
    let denied = rule.is_some_and(|r| !r.allow);
    if let Some(rule) = rule {
        if any && rule.allow {
            return Access::Allow;
        }
        if !any && denied {
            log::error!(
                "access forbidden by rule ({:?}), client: {client}",
                rule.peers
            );
            return Refusal::plain(403);
        }
    }
    let forbidden = || {
        log::error!("access forbidden by rule, client: {client}");
        Refusal::plain(403)
    };
    match basic.map_or(Basics::Declined, |b| authenticate(cx, r, b)) {
        Basics::Declined if denied => forbidden(),
        Basics::Declined => Access::Allow,
        Basics::Passed(user) => {
            r.user = Some(user);
            Access::Allow
        }
        Basics::Unauthorized(realm) => Access::Deny(Refusal {
            status: 401,
            challenge: Some(format!("Basic realm=\"{realm}\"")),
            delay: conf.delay,
        }),
        Basics::Failed(code) => Refusal::plain(code),
        Basics::Pending(v) => Access::Pending(v),
    }
}

/// Adds a 401's challenge to its response (an `error_page` one too), and notes
/// its `auth_delay` on the request (the connection holds the answer).
pub fn refused(resp: &mut Response, r: &mut Routed, refusal: Refusal) {
    if let Some(v) = refusal.challenge {
        resp.header("WWW-Authenticate", v);
    }
    if !refusal.delay.is_zero() {
        r.delay = Some(refusal.delay);
    }
}

/// `auth_basic`: the request's credentials against the user file.
fn authenticate(cx: &Cx, r: &Routed, b: &Basic) -> Basics {
    let env = cx.env(r, true);
    let realm = match b.realm.literal() {
        Some(s) => s.to_string(),
        None => b.realm.expand(&env),
    };
    if realm == "off" {
        return Basics::Declined;
    }
    let Some((user, password)) = crate::vars::auth::basic_credentials(cx.req) else {
        log::info!("no user/password was provided for basic authentication");
        return Basics::Unauthorized(realm);
    };
    let file = match b.file.literal() {
        Some(s) => s.to_string(),
        None => {
            let expanded = b.file.expand(&env);
            b.prefix.join(&expanded).to_string_lossy().into_owned()
        }
    };
    let users = match htpasswd::users(Path::new(&file)) {
        Ok(u) => u,
        Err(e) => return Basics::Failed(open_failed(&file, &e)),
    };
    let name = String::from_utf8_lossy(&user);
    let Some(hash) = users.get(&user) else {
        log::error!("user \"{name}\" was not found in \"{file}\"");
        return Basics::Unauthorized(realm);
    };
    let ok = match hash::cost(hash) {
        hash::Cost::Cheap => hash::verify(&password, hash),
        hash::Cost::Slow => {
            let key = cache::key(&user, hash, &password);
            match cache::get(&key) {
                Some(ok) => {
                    crate::metrics::password_check(false);
                    ok
                }
                // An error page's phases answer at once: check here.
                None if r.in_error_page => {
                    crate::metrics::password_check(true);
                    let ok = hash::verify(&password, hash);
                    cache::put(key, ok);
                    ok
                }
                None => {
                    let hash = hash.clone();
                    return Basics::Pending(Box::new(Verify {
                        key,
                        password,
                        hash,
                    }));
                }
            }
        }
    };
    if ok {
        return Basics::Passed(name.into_owned());
    }
    log::error!("user \"{name}\": password mismatch");
    Basics::Unauthorized(realm)
}

/// Logs an unreadable user file as nginx does; 403 when it does not exist.
fn open_failed(file: &str, e: &io::Error) -> u16 {
    let code = e.raw_os_error().unwrap_or(0);
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    if e.kind() == io::ErrorKind::NotFound {
        log::error!("open() \"{file}\" failed ({code}: {text})");
        return 403;
    }
    log::error!("[crit] open() \"{file}\" failed ({code}: {text})");
    500
}
