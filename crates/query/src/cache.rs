//! A least-recently-used cache with a cost budget, for decoded blocks and rows and for the
//! per-segment results of filter clauses (sealed segments never change, so neither do they).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Entries kept until their summed cost passes the budget; then the least recently used go.
pub struct Lru<K, V> {
    entries: HashMap<K, (V, u64, usize)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, K>,
    tick: u64,
    cost: usize,
    budget: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// An empty cache that keeps entries up to `budget` summed cost.
    pub fn new(budget: usize) -> Lru<K, V> {
        Lru {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            cost: 0,
            budget,
        }
    }

    /// The value of `key`, marked as just used.
    pub fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(key)?;
        self.order.remove(&e.1);
        self.order.insert(tick, key.clone());
        e.1 = tick;
        Some(e.0.clone())
    }

    /// Keeps `value` unless it alone costs more than the budget.
    pub fn insert(&mut self, key: K, value: V, cost: usize) {
        if cost > self.budget {
            return;
        }
        self.tick += 1;
        if let Some(old) = self.entries.insert(key.clone(), (value, self.tick, cost)) {
            self.cost -= old.2;
            self.order.remove(&old.1);
        }
        self.order.insert(self.tick, key);
        self.cost += cost;
        while self.cost > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.cost -= e.2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_within_budget() {
        let mut c = Lru::new(3);
        c.insert(1, "a", 1);
        c.insert(2, "b", 1);
        c.insert(3, "c", 1);
        assert_eq!(c.get(&1), Some("a"));
        c.insert(4, "d", 1);
        assert_eq!(c.get(&2), None, "2 was least recently used");
        assert_eq!(c.get(&1), Some("a"));
        c.insert(5, "e", 9);
        assert_eq!(c.get(&5), None, "larger than the whole budget");
        c.insert(6, "f", 3);
        assert_eq!((c.get(&1), c.get(&6)), (None, Some("f")));
        c.insert(6, "g", 1);
        c.insert(7, "h", 2);
        assert_eq!((c.get(&6), c.get(&7)), (Some("g"), Some("h")));
        assert_eq!(c.entries.len(), c.order.len());
    }
}
