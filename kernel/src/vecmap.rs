//! A small ordered map from `u64` keys to values: a vector kept sorted by key.
//!
//! For the kernel's tables of tens (at most a few thousand) of entries that are looked up on
//! every system call or fault and walked often: the scheduler's threads and a program's
//! memory ranges. Under QEMU's TCG a walk over a vector costs a few translated blocks per
//! entry where a `BTreeMap`'s iterator costs a dozen (leaf and edge navigation); lookups are a
//! binary search; an insert or removal shifts the entries after it (a bounded copy: the
//! callers cap their sizes).

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::ops::Range;

/// Values of type `V` by `u64` key, in key order.
pub struct VecMap<V> {
    entries: Vec<(u64, V)>,
}

impl<V> Default for VecMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> VecMap<V> {
    pub const fn new() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }

    fn index(&self, key: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&key, |(k, _)| *k)
    }

    /// Index of the first entry whose key is `key` or more.
    fn lower_bound(&self, key: u64) -> usize {
        self.entries.partition_point(|(k, _)| *k < key)
    }

    /// Room for `more` entries beyond those present, so the next inserts do not allocate.
    pub fn try_reserve(&mut self, more: usize) -> Result<(), TryReserveError> {
        self.entries.try_reserve(more)
    }

    /// Insert `value` under `key`, replacing (and returning) one already there.
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match self.index(key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn get(&self, key: &u64) -> Option<&V> {
        self.index(*key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &u64) -> Option<&mut V> {
        self.index(*key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn remove(&mut self, key: &u64) -> Option<V> {
        self.index(*key).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&u64, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&u64, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entry with the largest key not above `key`.
    pub fn at_or_below(&self, key: u64) -> Option<(u64, &V)> {
        let i = self.entries.partition_point(|(k, _)| *k <= key);
        i.checked_sub(1)
            .map(|i| (self.entries[i].0, &self.entries[i].1))
    }

    /// The entry with the largest key below `key`.
    pub fn below(&self, key: u64) -> Option<(u64, &V)> {
        self.lower_bound(key)
            .checked_sub(1)
            .map(|i| (self.entries[i].0, &self.entries[i].1))
    }

    /// The entries with keys in `keys`, in key order.
    pub fn range(&self, keys: Range<u64>) -> impl DoubleEndedIterator<Item = (u64, &V)> {
        let (from, to) = self.bounds(keys);
        self.entries[from..to].iter().map(|(k, v)| (*k, v))
    }

    /// As [`range`](Self::range), the values mutable.
    pub fn range_mut(&mut self, keys: Range<u64>) -> impl Iterator<Item = (u64, &mut V)> {
        let (from, to) = self.bounds(keys);
        self.entries[from..to].iter_mut().map(|(k, v)| (*k, v))
    }

    fn bounds(&self, keys: Range<u64>) -> (usize, usize) {
        let from = self.lower_bound(keys.start);
        let to = self.lower_bound(keys.end).max(from);
        (from, to)
    }

    /// Remove the entries with keys in `keys`, handing each to `each` in key order.
    pub fn drain_range(&mut self, keys: Range<u64>, mut each: impl FnMut(u64, V)) {
        let (from, to) = self.bounds(keys);
        for (k, v) in self.entries.drain(from..to) {
            each(k, v);
        }
    }
}
