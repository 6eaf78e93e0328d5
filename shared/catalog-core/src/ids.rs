//! Compact sets of item ids, and what a caller already knows about ids.
//!
//! Checking that ids are unique across a million items must not keep a
//! million strings: [`IdSet`] keeps a 64-bit hash per id (about 18 bytes an
//! id with the table's slack). Two different ids share a hash with odds of
//! about n²/2⁶⁵ (3 in 100 million for a million ids); the consequence would be
//! one spurious duplicate-id finding, which names both positions.
//!
//! [`KnownItems`] is how a caller tells a reader about items outside the file
//! (already live at Amazon): their kind and parent, and their children.
//! [`KnownCatalog`] is the in-memory implementation the CLI builds from an
//! earlier catalog.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::model::{Entry, KindTag};

/// The 64-bit hash an [`IdSet`] keeps for `id`. Stable within one build of
/// the program; never persist it.
pub fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// A hasher for keys that are already hashes.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A `HashMap` keyed by [`id_hash`] values.
pub type IdHashMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// A set of ids, kept as hashes.
#[derive(Debug, Default, Clone)]
pub struct IdSet {
    hashes: HashSet<u64, BuildHasherDefault<PassThrough>>,
}

impl IdSet {
    /// An empty set.
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// Adds `id`; false when it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        self.hashes.insert(id_hash(id))
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &str) -> bool {
        self.hashes.contains(&id_hash(id))
    }

    /// [`insert`](Self::insert) for an id whose [`id_hash`] is at hand.
    pub fn insert_hash(&mut self, hash: u64) -> bool {
        self.hashes.insert(hash)
    }

    /// [`contains`](Self::contains) for an id whose [`id_hash`] is at hand.
    pub fn contains_hash(&self, hash: u64) -> bool {
        self.hashes.contains(&hash)
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// What a caller knows about one item outside the file being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    /// The item's kind.
    pub kind: KindTag,
    /// Its direct parent (a season's series, an episode's season).
    pub parent: Option<String>,
}

/// What was last sent for one id, for the rule that versions only go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The last version sent, by an item or a `Delete`.
    pub version: u64,
    /// The content hash of the last item sent ([`crate::diff::content_hash`]),
    /// when the caller keeps it.
    pub content: Option<u64>,
    /// Whether the last thing sent was a delete.
    pub deleted: bool,
}

/// Items already live at Amazon, as far as the caller knows.
pub trait KnownItems {
    /// The kind and parent of `id`, if it is known to be live.
    fn get(&self, id: &str) -> Option<KnownItem>;

    /// The ids of `id`'s direct children that are known to be live.
    fn children(&self, id: &str) -> Vec<String>;

    /// What was last sent for `id` (live or deleted), when the caller knows.
    /// The reader then checks every entry against it
    /// ([`crate::rules::check_item_version`], [`crate::rules::check_delete_version`]).
    fn sent(&self, id: &str) -> Option<Sent> {
        let _ = id;
        None
    }
}

/// Known items held in memory: built from entries of an earlier catalog.
#[derive(Debug, Default, Clone)]
pub struct KnownCatalog {
    items: HashMap<String, (KnownItem, u64)>,
    children: HashMap<String, Vec<String>>,
}

impl KnownCatalog {
    /// An empty set of known items.
    pub fn new() -> KnownCatalog {
        KnownCatalog::default()
    }

    /// Records an entry: an item becomes known (with its parent), a delete forgets one.
    pub fn apply(&mut self, entry: &Entry) {
        match entry {
            Entry::Item(item) => {
                let parent = item.kind.parent_id().map(str::to_owned);
                if let Some(parent) = &parent {
                    self.children
                        .entry(parent.clone())
                        .or_default()
                        .push(item.id.clone());
                }
                self.items.insert(
                    item.id.clone(),
                    (
                        KnownItem {
                            kind: item.kind.tag(),
                            parent,
                        },
                        item.version,
                    ),
                );
            }
            Entry::Delete(delete) => {
                let parent = self
                    .items
                    .remove(&delete.id)
                    .and_then(|(known, _)| known.parent);
                if let Some(siblings) = parent.and_then(|p| self.children.get_mut(&p)) {
                    siblings.retain(|c| c != &delete.id);
                }
            }
        }
    }

    /// How many items are known.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl KnownItems for KnownCatalog {
    fn get(&self, id: &str) -> Option<KnownItem> {
        self.items.get(id).map(|(known, _)| known.clone())
    }

    fn children(&self, id: &str) -> Vec<String> {
        self.children.get(id).cloned().unwrap_or_default()
    }

    fn sent(&self, id: &str) -> Option<Sent> {
        self.items.get(id).map(|&(_, version)| Sent {
            version,
            content: None,
            deleted: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_finds_repeats() {
        let mut set = IdSet::new();
        assert!(set.insert("a"));
        assert!(set.insert("b"));
        assert!(!set.insert("a"));
        assert!(set.contains("b") && !set.contains("c"));
        assert_eq!(set.len(), 2);
    }
}
