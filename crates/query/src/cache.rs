//! A small least-recently-used cache with a cost budget, for decoded blocks and for the
//! per-segment results of filter clauses (sealed segments never change, so neither do they).

use std::collections::HashMap;
use std::hash::Hash;

/// Entries kept until their summed cost passes the budget; then the least recently used go.
pub(crate) struct Lru<K, V> {
    entries: HashMap<K, (V, u64, usize)>,
    tick: u64,
    cost: usize,
    budget: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub(crate) fn new(budget: usize) -> Lru<K, V> {
        Lru {
            entries: HashMap::new(),
            tick: 0,
            cost: 0,
            budget,
        }
    }

    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|e| {
            e.1 = tick;
            e.0.clone()
        })
    }

    /// Keeps `value` unless it alone costs more than the budget.
    pub(crate) fn insert(&mut self, key: K, value: V, cost: usize) {
        if cost > self.budget {
            return;
        }
        self.tick += 1;
        if let Some(old) = self.entries.insert(key, (value, self.tick, cost)) {
            self.cost -= old.2;
        }
        self.cost += cost;
        while self.cost > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.1)
                .map(|(k, _)| k.clone())
            else {
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
    }
}
