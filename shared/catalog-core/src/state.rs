//! Catalog state: what has been sent to Amazon, item by item.
//!
//! For every item ever sent the state keeps its kind, parent, last version,
//! a hash of its content, its status (live, deleted, rejected by Amazon) and
//! when it was last sent; for the catalog, its id, its version and when the
//! last full and incremental submissions went out.
//!
//! Memory is compact so a million items take about 60 MB: ids live in one
//! string arena, each item is a fixed 32-byte record, and lookups go through
//! a hash table of record positions (4 bytes a slot) that compares the ids
//! themselves, so lookups are exact.
//!
//! The state is saved and loaded as a stream of JSON Lines (zstd-compressed by
//! the caller, or not): a header line, then one line per item. The format is
//! versioned; see [`StateHeader`].

use hashbrown::HashTable;
use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{KnownItem, KnownItems, Sent, id_hash};
use crate::input::{self, Limits, Tracked};
use crate::model::KindTag;

/// The format tag on the first line of a saved state.
pub const STATE_FORMAT: &str = "catalog-relay/state";
/// The version of the saved format this code writes and reads.
///
/// 2: EMBER 1.0.0. Its content hash is the program's hash XOR one hash per
/// `ProgramOffers` ([`crate::diff::content_hash`]). A format-1 state (the
/// CDF-shaped catalogs Amazon never ingested) still loads, marked
/// [`CatalogState::upgraded_from`]: the next build is a full EMBER
/// catalog that resends every live item one version above the last sent.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The oldest saved format this code reads.
pub const STATE_FORMAT_OLDEST: u32 = 1;

const NONE: u32 = u32::MAX;

/// Where an item stands at Amazon, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Sent and, as far as we know, accepted.
    Live,
    /// Removed (by a `Delete`, or by being absent from a full submission).
    Deleted,
    /// Amazon's ingestion report rejected the last version sent.
    Rejected,
}

/// What the state knows about one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    /// The item's kind.
    pub kind: KindTag,
    /// Its direct parent's id (a season's series, an episode's season).
    pub parent: Option<String>,
    /// The last version sent for this id (an upsert or a delete).
    pub version: u64,
    /// The content hash of the last upsert sent.
    pub hash: u64,
    /// Live, deleted or rejected.
    pub status: Status,
    /// When it was last sent, in Unix seconds.
    pub sent_at: i64,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    id_start: u32,
    parent: u32,
    sent_at: u32,
    id_len: u16,
    kind: KindTag,
    status: Status,
    version: u64,
    hash: u64,
}

/// What can go wrong loading or saving a state.
#[derive(Debug, Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("could not read or write the catalog state: {0}")]
    Io(#[from] io::Error),
    /// A line is not what this version writes.
    #[error("the catalog state is corrupt at line {line}: {reason}")]
    Corrupt {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// Too many items or ids for the compact layout.
    #[error("the catalog state is too large: {0}")]
    TooLarge(&'static str),
}

/// The first line of a saved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHeader {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// [`STATE_FORMAT_VERSION`] when written by this code.
    pub format_version: u32,
    /// The provider's catalog id.
    pub catalog_id: String,
    /// The version of the last catalog sent (0 before the first).
    pub catalog_version: u64,
    /// When the last full submission went out (Unix seconds).
    pub last_full: Option<i64>,
    /// When the last incremental submission went out (Unix seconds).
    pub last_update: Option<i64>,
    /// How many item lines follow.
    pub items: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ItemLine<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    parent: Option<Cow<'a, str>>,
    version: u64,
    hash: String,
    status: Status,
    sent_at: i64,
    /// The tiers the item's offers were last sent in (bit `OfferKind as u8`).
    #[serde(default, skip_serializing_if = "is_zero")]
    tiers: u8,
}

fn is_zero(tiers: &u8) -> bool {
    *tiers == 0
}

/// The state of one catalog.
#[derive(Debug, Clone)]
pub struct CatalogState {
    /// The provider's catalog id.
    pub catalog_id: String,
    /// The version of the last catalog sent (0 before the first).
    pub catalog_version: u64,
    /// When the last full submission went out (Unix seconds).
    pub last_full: Option<i64>,
    /// When the last incremental submission went out (Unix seconds).
    pub last_update: Option<i64>,
    /// The saved format this state was loaded from, when older than
    /// [`STATE_FORMAT_VERSION`]: nothing it records was sent in EMBER.
    pub upgraded_from: Option<u32>,
    ids: String,
    records: Vec<Record>,
    /// Per record, the tiers its `ProgramOffers` were last sent in: one
    /// byte each beside the records, so they keep their 32 bytes.
    tiers: Vec<u8>,
    /// Record positions, found by the hash of their id and compared by id.
    index: HashTable<u32>,
}

fn id_of<'a>(ids: &'a str, record: &Record) -> &'a str {
    let start = record.id_start as usize;
    &ids[start..start + usize::from(record.id_len)]
}

/// Sent-at times are kept as u32 seconds since this epoch (2020-01-01), good to 2156.
const EPOCH: i64 = 1_577_836_800;

fn pack_time(unix: i64) -> u32 {
    u32::try_from((unix - EPOCH).max(0)).unwrap_or(u32::MAX)
}

fn unpack_time(packed: u32) -> i64 {
    EPOCH + i64::from(packed)
}

impl CatalogState {
    /// The tiers (bit `OfferKind as u8`) the item at `at` last had
    /// `ProgramOffers` in; 0 when none.
    pub fn tiers_at(&self, at: usize) -> u8 {
        self.tiers.get(at).copied().unwrap_or(0)
    }

    /// Records the tiers an item's `ProgramOffers` were sent in.
    pub fn set_tiers(&mut self, id: &str, tiers: u8) {
        if let Some(at) = self.position(id)
            && let Some(slot) = self.tiers.get_mut(at)
        {
            *slot = tiers;
        }
    }

    /// The state of a catalog nothing has been sent for yet.
    pub fn new(catalog_id: impl Into<String>) -> CatalogState {
        CatalogState {
            catalog_id: catalog_id.into(),
            catalog_version: 0,
            last_full: None,
            last_update: None,
            upgraded_from: None,
            ids: String::new(),
            records: Vec::new(),
            tiers: Vec::new(),
            index: HashTable::new(),
        }
    }

    /// How many items the state holds (any status).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the state holds no item.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many items are live (or rejected but not deleted).
    pub fn live_count(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| r.status != Status::Deleted)
            .count() as u64
    }

    /// What the state knows about `id`.
    pub fn get(&self, id: &str) -> Option<ItemState> {
        self.position(id).map(|at| self.item_state(at))
    }

    /// Every item, in the order recorded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ItemState)> + '_ {
        (0..self.records.len()).map(|at| (self.id_at(at), self.item_state(at)))
    }

    /// Bytes of memory the item tables take (for benchmarks).
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity()
            + self.records.capacity() * std::mem::size_of::<Record>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index
            .find(id_hash(id), |&at| self.id_at(at as usize) == id)
            .map(|&at| at as usize)
    }

    pub(crate) fn id_at(&self, at: usize) -> &str {
        id_of(&self.ids, &self.records[at])
    }

    fn item_state(&self, at: usize) -> ItemState {
        let r = self.records[at];
        ItemState {
            kind: r.kind,
            parent: (r.parent != NONE).then(|| self.id_at(r.parent as usize).to_owned()),
            version: r.version,
            hash: r.hash,
            status: r.status,
            sent_at: unpack_time(r.sent_at),
        }
    }

    pub(crate) fn parent_position(&self, at: usize) -> Option<usize> {
        let parent = self.records[at].parent;
        (parent != NONE).then_some(parent as usize)
    }

    pub(crate) fn status_at(&self, at: usize) -> Status {
        self.records[at].status
    }

    pub(crate) fn kind_at(&self, at: usize) -> KindTag {
        self.records[at].kind
    }

    pub(crate) fn version_at(&self, at: usize) -> u64 {
        self.records[at].version
    }

    pub(crate) fn hash_at(&self, at: usize) -> u64 {
        self.records[at].hash
    }

    pub(crate) fn sent_at(&self, at: usize) -> i64 {
        unpack_time(self.records[at].sent_at)
    }

    /// Records or replaces an item. Its parent must already be recorded.
    pub fn upsert(&mut self, id: &str, state: &ItemState) -> Result<(), StateError> {
        let parent = match &state.parent {
            Some(parent) => match self.position(parent) {
                Some(at) => at as u32,
                None => {
                    return Err(StateError::Corrupt {
                        line: 0,
                        reason: format!(
                            "{id:?} names parent {parent:?}, which is not recorded before it"
                        ),
                    });
                }
            },
            None => NONE,
        };
        if let Some(at) = self.position(id) {
            let r = &mut self.records[at];
            r.parent = parent;
            r.kind = state.kind;
            r.version = state.version;
            r.hash = state.hash;
            r.status = state.status;
            r.sent_at = pack_time(state.sent_at);
            return Ok(());
        }
        let at = u32::try_from(self.records.len())
            .ok()
            .filter(|&n| n != NONE)
            .ok_or(StateError::TooLarge("more than 4 billion items"))?;
        let id_start = u32::try_from(self.ids.len())
            .map_err(|_| StateError::TooLarge("ids longer than 4 GB in all"))?;
        let id_len = u16::try_from(id.len())
            .map_err(|_| StateError::TooLarge("an id longer than 65535 bytes"))?;
        self.ids.push_str(id);
        self.tiers.push(0);
        self.records.push(Record {
            id_start,
            id_len,
            parent,
            sent_at: pack_time(state.sent_at),
            version: state.version,
            hash: state.hash,
            kind: state.kind,
            status: state.status,
        });
        let (ids, records) = (&self.ids, &self.records);
        self.index.insert_unique(id_hash(id), at, |&at| {
            id_hash(id_of(ids, &records[at as usize]))
        });
        Ok(())
    }

    /// The ids of the items whose direct parent is `id`, any status.
    /// Scans the whole state: meant for the few deleted parents of one catalog.
    pub fn children_of(&self, id: &str) -> Vec<String> {
        let Some(parent) = self.position(id) else {
            return Vec::new();
        };
        (0..self.records.len())
            .filter(|&at| self.records[at].parent == parent as u32)
            .map(|at| self.id_at(at).to_owned())
            .collect()
    }

    /// Writes the state as JSON Lines: a header, then one line per item.
    pub fn save<W: Write>(&self, out: W) -> Result<W, StateError> {
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        let header = StateHeader {
            format: STATE_FORMAT.into(),
            format_version: STATE_FORMAT_VERSION,
            catalog_id: self.catalog_id.clone(),
            catalog_version: self.catalog_version,
            last_full: self.last_full,
            last_update: self.last_update,
            items: self.records.len() as u64,
        };
        serde_json::to_writer(&mut out, &header).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        for at in 0..self.records.len() {
            let r = &self.records[at];
            let line = ItemLine {
                id: Cow::Borrowed(self.id_at(at)),
                kind: Cow::Borrowed(r.kind.source_name()),
                parent: (r.parent != NONE).then(|| Cow::Borrowed(self.id_at(r.parent as usize))),
                version: r.version,
                hash: format!("{:016x}", r.hash),
                status: r.status,
                sent_at: unpack_time(r.sent_at),
                tiers: self.tiers_at(at),
            };
            serde_json::to_writer(&mut out, &line).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        out.into_inner().map_err(|e| StateError::Io(e.into_error()))
    }

    /// Reads a state written by [`save`](Self::save), plain or compressed.
    pub fn load<R: io::Read>(input: R) -> Result<CatalogState, StateError> {
        let (decoded, _) = input::open(input)?;
        let limits = Limits {
            max_bytes: u64::MAX,
            max_token_bytes: 1 << 20,
            max_pending_bytes: 0,
            max_depth: 0,
        };
        let mut lines = Tracked::new(decoded, &limits);
        let mut line = String::new();
        let corrupt = |line: u64, reason: String| StateError::Corrupt { line, reason };
        if lines.read_line(&mut line)? == 0 {
            return Err(corrupt(1, "the file is empty".into()));
        }
        let header: StateHeader = serde_json::from_str(&line)
            .map_err(|e| corrupt(1, format!("not a state header: {e}")))?;
        if header.format != STATE_FORMAT
            || !(STATE_FORMAT_OLDEST..=STATE_FORMAT_VERSION).contains(&header.format_version)
        {
            return Err(corrupt(
                1,
                format!(
                    "format {:?} version {} is not {STATE_FORMAT:?} version {STATE_FORMAT_OLDEST} to {STATE_FORMAT_VERSION}",
                    header.format, header.format_version
                ),
            ));
        }
        let mut state = CatalogState::new(header.catalog_id);
        state.upgraded_from =
            (header.format_version < STATE_FORMAT_VERSION).then_some(header.format_version);
        state.catalog_version = header.catalog_version;
        state.last_full = header.last_full;
        state.last_update = header.last_update;
        let expected = usize::try_from(header.items).unwrap_or(0).min(1 << 28);
        state.records.reserve(expected);
        let (ids, records) = (&state.ids, &state.records);
        state
            .index
            .reserve(expected, |&at| id_hash(id_of(ids, &records[at as usize])));
        let mut number = 1u64;
        loop {
            line.clear();
            lines.mark_token();
            if lines.read_line(&mut line)? == 0 {
                break;
            }
            number += 1;
            let item: ItemLine<'_> = serde_json::from_str(&line)
                .map_err(|e| corrupt(number, format!("not an item line: {e}")))?;
            let kind = KindTag::ALL
                .into_iter()
                .find(|k| k.source_name() == item.kind)
                .ok_or_else(|| corrupt(number, format!("unknown kind {:?}", item.kind)))?;
            let hash = u64::from_str_radix(&item.hash, 16).map_err(|_| {
                corrupt(number, format!("hash {:?} is not 16 hex digits", item.hash))
            })?;
            let item_state = ItemState {
                kind,
                parent: item.parent.map(Cow::into_owned),
                version: item.version,
                hash,
                status: item.status,
                sent_at: item.sent_at,
            };
            state.upsert(&item.id, &item_state).map_err(|e| match e {
                StateError::Corrupt { reason, .. } => corrupt(number, reason),
                other => other,
            })?;
            state.set_tiers(&item.id, item.tiers);
        }
        if number - 1 != header.items {
            return Err(corrupt(
                number,
                format!(
                    "the header announces {} items but {} follow; the file is truncated",
                    header.items,
                    number - 1
                ),
            ));
        }
        Ok(state)
    }
}

impl KnownItems for CatalogState {
    fn get(&self, id: &str) -> Option<KnownItem> {
        let at = self.position(id)?;
        if self.records[at].status == Status::Deleted {
            return None;
        }
        Some(KnownItem {
            kind: self.records[at].kind,
            parent: self.parent_position(at).map(|p| self.id_at(p).to_owned()),
        })
    }

    fn children(&self, id: &str) -> Vec<String> {
        let Some(parent) = self.position(id) else {
            return Vec::new();
        };
        (0..self.records.len())
            .filter(|&at| {
                self.records[at].parent == parent as u32
                    && self.records[at].status != Status::Deleted
            })
            .map(|at| self.id_at(at).to_owned())
            .collect()
    }

    fn sent(&self, id: &str) -> Option<Sent> {
        let r = &self.records[self.position(id)?];
        Some(Sent {
            version: r.version,
            content: (r.status != Status::Deleted).then_some(r.hash),
            deleted: r.status == Status::Deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: KindTag, parent: Option<&str>, version: u64) -> ItemState {
        ItemState {
            kind,
            parent: parent.map(str::to_owned),
            version,
            hash: 0xdead_beef_0000_0001,
            status: Status::Live,
            sent_at: 1_750_000_000,
        }
    }

    #[test]
    fn records_are_thirty_two_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 32);
    }

    #[test]
    fn save_and_load_round_trip() {
        let mut state = CatalogState::new("CAT");
        state.catalog_version = 3;
        state.last_full = Some(1_750_000_000);
        state
            .upsert("series", &item(KindTag::Series, None, 2))
            .unwrap();
        state
            .upsert("season", &item(KindTag::Season, Some("series"), 1))
            .unwrap();
        let mut gone = item(KindTag::Movie, None, 9);
        gone.status = Status::Deleted;
        state.upsert("m \"1\"", &gone).unwrap();
        let bytes = state.save(Vec::new()).unwrap();
        let loaded = CatalogState::load(&bytes[..]).unwrap();
        assert_eq!(loaded.catalog_version, 3);
        assert_eq!(loaded.last_full, Some(1_750_000_000));
        assert_eq!(
            loaded.iter().collect::<Vec<_>>(),
            state.iter().collect::<Vec<_>>()
        );
        assert_eq!(
            loaded.get("season").unwrap().parent.as_deref(),
            Some("series")
        );
        assert_eq!(loaded.live_count(), 2);
        let compressed = zstd::encode_all(&bytes[..], 3).unwrap();
        assert_eq!(CatalogState::load(&compressed[..]).unwrap().len(), 3);
    }

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        let mut state = CatalogState::new("CAT");
        state.upsert("a", &item(KindTag::Movie, None, 1)).unwrap();
        state.upsert("b", &item(KindTag::Movie, None, 1)).unwrap();
        let bytes = state.save(Vec::new()).unwrap();
        let cut = bytes.len() - 10;
        let text = String::from_utf8(bytes[..cut].to_vec()).unwrap();
        let cut_at_line = &text[..text.rfind('\n').unwrap() + 1];
        let err = CatalogState::load(cut_at_line.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = CatalogState::load(&b"{\"hello\":1}\n"[..]).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn an_id_over_65535_bytes_is_an_error_not_a_truncation() {
        let mut state = CatalogState::new("CAT");
        let long = "x".repeat(65_536);
        let err = state
            .upsert(&long, &item(KindTag::Movie, None, 1))
            .unwrap_err();
        assert!(matches!(err, StateError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("65535"), "{err}");
        assert!(state.is_empty());
        assert!(state.get(&long[..65_535]).is_none());
        let longest = "y".repeat(65_535);
        state
            .upsert(&longest, &item(KindTag::Movie, None, 1))
            .unwrap();
        assert_eq!(state.iter().next().unwrap().0, longest);
    }

    #[test]
    fn known_items_skip_deleted_ones() {
        let mut state = CatalogState::new("CAT");
        state.upsert("s", &item(KindTag::Series, None, 1)).unwrap();
        state
            .upsert("s1", &item(KindTag::Season, Some("s"), 1))
            .unwrap();
        let mut gone = item(KindTag::Season, Some("s"), 2);
        gone.status = Status::Deleted;
        state.upsert("s2", &gone).unwrap();
        assert_eq!(KnownItems::children(&state, "s"), vec!["s1".to_owned()]);
        assert_eq!(state.children_of("s").len(), 2);
        assert!(KnownItems::get(&state, "s2").is_none());
        assert_eq!(
            KnownItems::get(&state, "s1").unwrap().parent.as_deref(),
            Some("s")
        );
    }
}
