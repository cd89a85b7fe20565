//! Variables computed when they are read (`map`, `geo`): the configuration's table
//! of them ([`Computed`], shared by every server), and their evaluation for one
//! request, cached in the request's [`State`](super::State) unless `volatile`,
//! with a guard against a variable whose value needs itself.

use super::{Env, State, geo::Geo, map::Map};

/// Every `map` and `geo` of the configuration; `Var::Computed(i)` is `items[i]`.
#[derive(Debug, Clone, Default)]
pub struct Computed {
    pub items: Vec<Item>,
}

/// One computed variable.
#[derive(Debug, Clone)]
pub enum Item {
    Map(Box<Map>),
    Geo(Box<Geo>),
}

impl Item {
    fn volatile(&self) -> bool {
        match self {
            Item::Map(m) => m.volatile,
            Item::Geo(g) => g.volatile,
        }
    }

    fn value(&self, env: &Env) -> String {
        match self {
            Item::Map(m) => m.value(env),
            Item::Geo(g) => g.value(env),
        }
    }
}

/// A computed variable's state in one request.
#[derive(Debug, Clone, Default)]
pub enum Cached {
    #[default]
    Unknown,
    /// Being evaluated: reading it again is a cycle.
    Busy,
    Known(String),
}

/// Appends computed variable `i`'s value to `out`; `false` when it has none (a
/// cycle, or an index the configuration does not have).
pub fn value(env: &Env, i: u16, out: &mut String) -> bool {
    let Some(item) = env.server.computed.items.get(usize::from(i)) else {
        return false;
    };
    match env.state.cached(i) {
        Cached::Known(v) if !item.volatile() => {
            out.push_str(&v);
            return true;
        }
        Cached::Busy => {
            log::error!("cycle while evaluating a map or geo variable");
            return false;
        }
        _ => {}
    }
    env.state.cache(i, Cached::Busy);
    let v = item.value(env);
    out.push_str(&v);
    env.state.cache(i, Cached::Known(v));
    true
}

impl State {
    fn cached(&self, i: u16) -> Cached {
        let cache = self.computed.borrow();
        cache.get(usize::from(i)).cloned().unwrap_or_default()
    }

    fn cache(&self, i: u16, c: Cached) {
        let mut cache = self.computed.borrow_mut();
        let i = usize::from(i);
        if cache.len() <= i {
            cache.resize(i + 1, Cached::Unknown);
        }
        cache[i] = c;
    }
}
