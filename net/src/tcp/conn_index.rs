//! The connection index: (local, remote) → slot, a B-tree with the last hit remembered.
//!
//! Segments come in runs for one connection (a request/response exchange, a handshake, a
//! bulk transfer), so the 4-tuple found last is compared first: one 128-bit compare instead
//! of a B-tree descent (≈150 instructions once a busy client's TIME-WAIT blocks fill the
//! tree). The tree keeps O(log n) lookups whatever addresses and ports a peer chooses.
//!
//! Owns the mapping only; never looks at the connections themselves.

use alloc::collections::BTreeMap;

use super::ConnKey;

#[derive(Debug, Default)]
pub(crate) struct ConnIndex {
    map: BTreeMap<ConnKey, usize>,
    /// The entry found or filed last; always an entry of `map`.
    last: Option<(ConnKey, usize)>,
}

impl ConnIndex {
    /// The slot of `key`, remembering it for the next lookup.
    #[inline]
    pub fn get(&mut self, key: ConnKey) -> Option<usize> {
        if let Some((k, idx)) = self.last {
            if k == key {
                return Some(idx);
            }
        }
        let idx = *self.map.get(&key)?;
        self.last = Some((key, idx));
        Some(idx)
    }

    pub fn contains_key(&self, key: ConnKey) -> bool {
        self.last.is_some_and(|(k, _)| k == key) || self.map.contains_key(&key)
    }

    /// File `key` for slot `idx` (replacing any entry of that key).
    pub fn insert(&mut self, key: ConnKey, idx: usize) {
        self.map.insert(key, idx);
        self.last = Some((key, idx));
    }

    /// Remove `key` if it belongs to slot `idx` (a newer connection may own it by now).
    pub fn remove_if(&mut self, key: ConnKey, idx: usize) {
        if let alloc::collections::btree_map::Entry::Occupied(e) = self.map.entry(key) {
            if *e.get() == idx {
                e.remove();
                if self.last.is_some_and(|(k, _)| k == key) {
                    self.last = None;
                }
            }
        }
    }

    /// Connections filed.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn keys(&self) -> impl Iterator<Item = &ConnKey> + '_ {
        self.map.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, SocketAddrV4};

    fn key(port: u16) -> ConnKey {
        ConnKey::new(
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port),
        )
    }

    #[test]
    fn lookups_follow_inserts_and_removals() {
        let mut ix = ConnIndex::default();
        ix.insert(key(1), 10);
        ix.insert(key(2), 20);
        assert_eq!(ix.get(key(1)), Some(10));
        assert_eq!(ix.get(key(1)), Some(10));
        assert_eq!(ix.get(key(3)), None);
        // Removing the remembered entry forgets it.
        ix.remove_if(key(1), 10);
        assert_eq!(ix.get(key(1)), None);
        assert!(!ix.contains_key(key(1)));
        assert_eq!(ix.get(key(2)), Some(20));
        // A removal on behalf of another slot leaves the owner's entry alone.
        ix.remove_if(key(2), 99);
        assert_eq!(ix.get(key(2)), Some(20));
        // Re-filing a key to a new slot is what later lookups see.
        ix.insert(key(2), 21);
        assert_eq!(ix.get(key(2)), Some(21));
        assert!(ix.contains_key(key(2)));
        assert_eq!(ix.keys().count(), 1);
    }
}
