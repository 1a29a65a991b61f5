//! A bounded LRU cache of carried states after a schedule's first steps, so that schedules
//! sharing those steps (a DFS child and its parent) do not recompute them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::schedule::Approx;

/// The state of every image after a schedule's first steps, in the kernel's block layout.
pub struct PrefixState<T> {
    /// Carried states (h, and c for an LSTM), [blocks][state][hidden][lanes].
    pub h: Vec<T>,
    /// Peak |Chebyshev argument| of each image over the prefix's polynomial slots,
    /// [blocks][lanes].
    pub peak: Vec<T>,
    /// Out-of-domain counts of the prefix's steps.
    pub ood: Vec<u64>,
    /// Deviation sums of the prefix's steps.
    pub dev: Vec<f64>,
}

/// LRU over prefixes, bounded in bytes.
pub struct PrefixCache<T> {
    entries: HashMap<Vec<Approx>, (Arc<PrefixState<T>>, u64)>,
    tick: u64,
    bytes: usize,
    capacity: usize,
    /// Hidden-state buffers of evicted or discarded states, reused so that storing a prefix
    /// writes to memory already faulted in instead of fresh pages (at most half the
    /// capacity in bytes).
    spare: Vec<Vec<T>>,
    spare_bytes: usize,
}

impl<T> PrefixCache<T> {
    /// An empty cache holding at most `capacity` bytes of states.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
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
        if self.spare_bytes + size <= self.capacity / 2 {
            self.spare_bytes += size;
            self.spare.push(buffer);
        }
    }

    /// Forgets every entry, keeping their buffers for reuse.
    pub fn clear(&mut self) {
        for (_, (state, _)) in std::mem::take(&mut self.entries) {
            if let Ok(state) = Arc::try_unwrap(state) {
                self.recycle(state.h);
            }
        }
        self.bytes = 0;
    }

    fn entry_bytes(state: &PrefixState<T>) -> usize {
        (state.h.len() + state.peak.len()) * std::mem::size_of::<T>() + state.ood.len() * 16
    }

    /// The most steps (at least 1, fewer than all) of `entries` (a schedule's entries,
    /// step-major, `slots` per step) whose state is cached, with that state, marking it
    /// recently used.
    pub fn longest_prefix(
        &mut self,
        entries: &[Approx],
        slots: usize,
    ) -> Option<(usize, Arc<PrefixState<T>>)> {
        self.tick += 1;
        let steps = entries.len() / slots.max(1);
        for len in (1..steps).rev() {
            if let Some((state, used)) = self.entries.get_mut(&entries[..len * slots]) {
                *used = self.tick;
                return Some((len, Arc::clone(state)));
            }
        }
        None
    }

    /// Stores the state after `prefix`, evicting least recently used entries to stay within
    /// the capacity. A state larger than the whole capacity is not stored.
    pub fn insert(&mut self, prefix: Vec<Approx>, state: PrefixState<T>) {
        let size = Self::entry_bytes(&state);
        if size > self.capacity || self.entries.contains_key(&prefix) {
            self.recycle(state.h);
            return;
        }
        while self.bytes + size > self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&oldest) {
                self.bytes -= Self::entry_bytes(&old);
                if let Ok(old) = Arc::try_unwrap(old) {
                    self.recycle(old.h);
                }
            }
        }
        self.tick += 1;
        self.bytes += size;
        self.entries.insert(prefix, (Arc::new(state), self.tick));
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

    #[test]
    fn longest_prefix_and_eviction() {
        let mut c = PrefixCache::new(4 * 100);
        let s = [Degree(17), Degree(7), Degree(3), Degree(17)];
        c.insert(s[..1].to_vec(), state(50));
        c.insert(s[..2].to_vec(), state(50));
        assert_eq!(c.longest_prefix(&s, 1).map(|(l, _)| l), Some(2));
        c.longest_prefix(&s[..2], 1); // touches the length-1 entry
        c.insert(s[..3].to_vec(), state(50)); // evicts the least recently used: length 2
        assert_eq!(c.longest_prefix(&s, 1).map(|(l, _)| l), Some(3));
        assert!(c.bytes() <= 400);
        assert_eq!(
            c.longest_prefix(&[Degree(3), Degree(3)], 1).map(|(l, _)| l),
            None
        );
    }
}
