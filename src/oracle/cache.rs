//! A bounded LRU cache of carried states after a schedule's first steps, so that schedules
//! sharing those steps (a DFS child and its parent) do not recompute them.
//!
//! States are kept per work item (a fixed range of image blocks): a run that stops early
//! still leaves the states of the work items it finished, and each work item of a later run
//! resumes from the longest prefix cached for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::schedule::Approx;

/// The state of one work item's images after a schedule's first steps, in the kernel's
/// block layout.
pub struct PrefixState<T> {
    /// Carried states (h, and c for an LSTM), [blocks][state][hidden][lanes].
    pub h: Vec<T>,
    /// Peak |Chebyshev argument| of each image over the prefix's polynomial slots,
    /// [blocks][lanes].
    pub peak: Vec<T>,
    /// Out-of-domain counts of the prefix's steps, [steps][slots].
    pub ood: Vec<u64>,
    /// Deviation sums of the prefix's steps per deviation-sample block of the work item,
    /// [steps][blocks].
    pub dev: Vec<f64>,
}

/// A cached prefix: its entries, shared by the map and the recency order.
type Key = Arc<[Approx]>;

/// One work item's cached state and its last use.
type Cached<T> = Option<(Arc<PrefixState<T>>, u64)>;

/// A work item's resumable state: the steps it covers and the state.
pub type Resumed<T> = Option<(usize, Arc<PrefixState<T>>)>;

/// LRU over (prefix, work item) states, bounded in bytes.
pub struct PrefixCache<T> {
    /// Per prefix, each work item's state (if cached) and when it was last used.
    entries: HashMap<Key, Vec<Cached<T>>>,
    /// (last use, prefix, work item) of every cached state, least recently used first.
    order: BTreeMap<u64, (Key, usize)>,
    tick: u64,
    bytes: usize,
    capacity: usize,
    /// Hidden-state buffers of evicted or discarded states, reused so that storing a prefix
    /// writes to memory already faulted in instead of fresh pages (at most the capacity in
    /// bytes: buffers are only allocated when none is spare, so the spare ones never exceed
    /// what the cache and the runs in flight once held).
    spare: Vec<Vec<T>>,
    spare_bytes: usize,
}

impl<T> PrefixCache<T> {
    /// An empty cache holding at most `capacity` bytes of states.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            capacity,
            spare: Vec::new(),
            spare_bytes: 0,
        }
    }

    /// A buffer of `len` values for a state to be stored (contents unspecified).
    pub fn buffer(&mut self, len: usize) -> Vec<T>
    where
        T: Clone + Default,
    {
        let mut b = match self.spare.pop() {
            Some(b) => {
                self.spare_bytes -= b.capacity() * std::mem::size_of::<T>();
                b
            }
            None => Vec::new(),
        };
        b.resize(len, T::default());
        b
    }

    /// Returns a buffer that is no longer needed, for [`PrefixCache::buffer`].
    pub fn recycle(&mut self, buffer: Vec<T>) {
        let size = buffer.capacity() * std::mem::size_of::<T>();
        if self.spare_bytes + size <= self.capacity {
            self.spare_bytes += size;
            self.spare.push(buffer);
        }
    }

    /// Forgets every entry, keeping their buffers for reuse.
    pub fn clear(&mut self) {
        self.order.clear();
        for (_, states) in std::mem::take(&mut self.entries) {
            for (state, _) in states.into_iter().flatten() {
                self.release(state);
            }
        }
        self.bytes = 0;
    }

    fn release(&mut self, state: Arc<PrefixState<T>>) {
        if let Ok(state) = Arc::try_unwrap(state) {
            self.recycle(state.h);
        }
    }

    fn entry_bytes(state: &PrefixState<T>) -> usize {
        (state.h.len() + state.peak.len()) * std::mem::size_of::<T>()
            + state.ood.len() * 8
            + state.dev.len() * 8
    }

    /// For each of `items` work items, the most steps (at least 1, fewer than all) of
    /// `entries` (a schedule's entries, step-major, `slots` per step) whose state is cached
    /// for that item, with the state; marks them recently used.
    pub fn longest_prefixes(
        &mut self,
        entries: &[Approx],
        slots: usize,
        items: usize,
    ) -> Vec<Resumed<T>> {
        let mut found: Vec<Resumed<T>> = vec![None; items];
        let mut missing = items;
        let steps = entries.len() / slots.max(1);
        for len in (1..steps).rev() {
            if missing == 0 {
                break;
            }
            let Some((key, states)) = self.entries.get_key_value(&entries[..len * slots]) else {
                continue;
            };
            let key = Arc::clone(key);
            let mut touched = Vec::new();
            for (item, slot) in found.iter_mut().enumerate() {
                if slot.is_none()
                    && let Some(Some((state, used))) = states.get(item)
                {
                    *slot = Some((len, Arc::clone(state)));
                    touched.push((item, *used));
                    missing -= 1;
                }
            }
            // One lookup for all the touched items (disjoint fields: entries, order, tick).
            let Some(states) = self.entries.get_mut(&key) else {
                continue;
            };
            for (item, used) in touched {
                self.tick += 1;
                self.order.remove(&used);
                self.order.insert(self.tick, (Arc::clone(&key), item));
                if let Some(Some((_, u))) = states.get_mut(item) {
                    *u = self.tick;
                }
            }
        }
        found
    }

    /// Stores work item `item`'s state (of `items`) after `prefix`, evicting the least
    /// recently used states to stay within the capacity. A state larger than the whole
    /// capacity, or one already cached, is not stored.
    pub fn insert(&mut self, prefix: &[Approx], item: usize, items: usize, state: PrefixState<T>) {
        let size = Self::entry_bytes(&state);
        let cached = self
            .entries
            .get(prefix)
            .is_some_and(|states| states.get(item).is_some_and(Option::is_some));
        if size > self.capacity || cached || item >= items {
            self.recycle(state.h);
            return;
        }
        while self.bytes + size > self.capacity {
            let Some((_, (key, old_item))) = self.order.pop_first() else {
                break;
            };
            let Some(states) = self.entries.get_mut(&key) else {
                continue;
            };
            if let Some((old, _)) = states.get_mut(old_item).and_then(Option::take) {
                self.bytes -= Self::entry_bytes(&old);
                if states.iter().all(Option::is_none) {
                    self.entries.remove(&key);
                }
                self.release(old);
            }
        }
        self.tick += 1;
        self.bytes += size;
        let key: Key = match self.entries.get_key_value(prefix) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(prefix),
        };
        let states = self
            .entries
            .entry(Arc::clone(&key))
            .or_insert_with(|| (0..items).map(|_| None).collect());
        states[item] = Some((Arc::new(state), self.tick));
        self.order.insert(self.tick, (key, item));
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Approx::Degree;

    fn state(n: usize) -> PrefixState<f32> {
        PrefixState {
            h: vec![0.0; n],
            peak: vec![],
            ood: vec![],
            dev: vec![],
        }
    }

    fn lengths(found: &[Resumed<f32>]) -> Vec<Option<usize>> {
        found.iter().map(|f| f.as_ref().map(|(l, _)| *l)).collect()
    }

    #[test]
    fn longest_prefix_per_item_and_eviction() {
        let mut c = PrefixCache::new(4 * 100);
        let s = [Degree(17), Degree(7), Degree(3), Degree(17)];
        c.insert(&s[..1], 0, 2, state(25));
        c.insert(&s[..2], 0, 2, state(25));
        c.insert(&s[..1], 1, 2, state(25));
        assert_eq!(lengths(&c.longest_prefixes(&s, 1, 2)), [Some(2), Some(1)]);
        // Touches (length 1, item 0) and (length 1, item 1): (length 2, item 0) is now the
        // least recently used, and goes first.
        c.longest_prefixes(&s[..2], 1, 2);
        c.insert(&s[..3], 1, 2, state(25));
        c.insert(&s[..3], 0, 2, state(25));
        assert_eq!(lengths(&c.longest_prefixes(&s, 1, 2)), [Some(3), Some(3)]);
        assert!(c.bytes() <= 400);
        assert_eq!(
            lengths(&c.longest_prefixes(&s[..3], 1, 2)),
            [Some(1), Some(1)]
        );
        assert_eq!(
            lengths(&c.longest_prefixes(&[Degree(3), Degree(3)], 1, 2)),
            [None, None]
        );
    }

    #[test]
    fn clear_keeps_buffers_for_reuse() {
        let mut c = PrefixCache::new(4 * 100);
        c.insert(&[Degree(3)], 0, 1, state(50));
        c.clear();
        assert_eq!(c.bytes(), 0);
        assert!(c.buffer(50).capacity() >= 50);
        assert_eq!(
            lengths(&c.longest_prefixes(&[Degree(3), Degree(7)], 1, 1)),
            [None]
        );
    }
}
