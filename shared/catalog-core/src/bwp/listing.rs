//! The listing state: what catalog-relay sent to Buy with Prime, product by
//! product, and what the result files said \[ours\].
//!
//! One entry per External ID: the content hash of the row last sent
//! ([`Product::content_hash`]), the listing status, the feed it went in (a
//! feed file name until the submission records the API's feed id) and, for
//! a failed row, its error codes as the result file gave them.
//!
//! The diff ([`ListingState::plan`]): a product not in the state goes as a
//! first listing; one whose hash differs goes again, as a first listing
//! until a result file reports it imported, as a re-listing after; an
//! unchanged product stays home, whatever its status (a pending one waits
//! for its result, a failed one for a change to its row). Products absent
//! from the export are left alone: a feed cannot delete.
//!
//! Per feed file (the header's `feeds`, for feeds some product still
//! names): the API's feed id once the feed was submitted, and whether its
//! result (or its failure) was applied, so a result is applied once.
//!
//! Saved as JSON Lines (the caller compresses): a header line, then one
//! line per product, sorted by External ID so the same state gives the
//! same bytes. Written only by the feed flow (build and result).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, Read, Write};

use hashbrown::HashTable;

use serde::{Deserialize, Serialize};

use crate::bwp::product::Product;
use crate::bwp::result::{ImportOutcome, ResultRow};
use crate::bwp::{BwpError, ListingKind};
use crate::ids::id_hash;
use crate::input::{self, Limits, Tracked};

/// The format tag on the first line of a saved listing state.
pub const LISTING_FORMAT: &str = "catalog-relay/bwp-listing";
/// The version of the saved format this code writes and reads.
pub const LISTING_FORMAT_VERSION: u32 = 1;

/// Where a product stands at Buy with Prime, as far as the result files say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListingStatus {
    /// Sent as a first listing; no result yet.
    PendingFirstListing,
    /// Listed before, sent again; no result yet.
    PendingRelisting,
    /// A result file reported the last row sent imported.
    Listed,
    /// A result file reported the first listing failed: not listed.
    FailedFirstListing,
    /// A result file reported a re-listing failed: still listed as before.
    FailedRelisting,
}

impl ListingStatus {
    /// How the product goes when it goes again.
    pub fn kind(self) -> ListingKind {
        match self {
            ListingStatus::PendingFirstListing | ListingStatus::FailedFirstListing => {
                ListingKind::FirstListing
            }
            ListingStatus::PendingRelisting
            | ListingStatus::Listed
            | ListingStatus::FailedRelisting => ListingKind::Relisting,
        }
    }

    fn pending(kind: ListingKind) -> ListingStatus {
        match kind {
            ListingKind::FirstListing => ListingStatus::PendingFirstListing,
            ListingKind::Relisting => ListingStatus::PendingRelisting,
        }
    }
}

/// What the state knows about one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingEntry {
    /// The content hash of the row last sent.
    pub hash: u64,
    /// The listing status.
    pub status: ListingStatus,
    /// The feed the last row went in.
    pub feed: Option<String>,
    /// The error codes of the last failed row, as the result file wrote them.
    pub errors: Option<String>,
    /// The API's id of the feed the last row went in, once submitted.
    pub feed_id: Option<String>,
}

/// What the state knows about one feed file \[ours\].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedMeta {
    /// The API's catalog feed id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whether its result file (or its failure) was applied to the state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub applied: bool,
}

/// What to do with a product of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// As last sent: nothing to do.
    Unchanged,
    /// New or changed: send it as this kind.
    Send(ListingKind),
}

/// What one result row did to the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applied {
    /// The product is now listed.
    Listed,
    /// The product is now failed, with the row's codes.
    Failed,
    /// The row is about an older feed than the product's last one: only
    /// "it was imported once" was kept.
    Stale,
    /// The row's Import Result is not one we recognise: nothing changed.
    Unrecognised,
    /// The state holds no product of that External ID: nothing changed.
    NotInState,
}

const NO_FEED: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Slot {
    hash: u64,
    feed: u32,
    status: ListingStatus,
    errors: Option<Box<str>>,
}

/// Products by External ID, compact: ids in one arena, one record each,
/// and a table of record positions (4 bytes a slot) found by the id's hash
/// and compared by the id itself, so lookups are exact. A million products
/// take about 70 MB rather than the 200 of a `HashMap<Box<str>, _>`.
#[derive(Debug, Clone, Default)]
struct Table {
    ids: String,
    records: Vec<Record>,
    index: HashTable<u32>,
    live: usize,
}

#[derive(Debug, Clone)]
struct Record {
    id_start: u64,
    id_len: u32,
    /// False once the product moved to another id (a rename).
    live: bool,
    slot: Slot,
}

impl Table {
    fn len(&self) -> usize {
        self.live
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn reserve(&mut self, additional: usize) {
        self.records.reserve(additional);
        let (ids, records) = (&self.ids, &self.records);
        self.index
            .reserve(additional, |&at| id_hash(id_of(ids, &records[at as usize])));
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.index
            .find(id_hash(id), |&at| {
                id_of(&self.ids, &self.records[at as usize]) == id
            })
            .map(|&at| at as usize)
    }

    fn get(&self, id: &str) -> Option<&Slot> {
        self.find(id).map(|at| &self.records[at].slot)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Slot> {
        self.find(id).map(|at| &mut self.records[at].slot)
    }

    /// Records `slot` under `id`; true when it replaced one.
    fn insert(&mut self, id: &str, slot: Slot) -> bool {
        if let Some(at) = self.find(id) {
            self.records[at].slot = slot;
            return true;
        }
        let at = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        let record = Record {
            id_start: self.ids.len() as u64,
            id_len: u32::try_from(id.len()).unwrap_or(u32::MAX),
            live: true,
            slot,
        };
        self.ids.push_str(id);
        self.records.push(record);
        self.live += 1;
        let (ids, records) = (&self.ids, &self.records);
        self.index.insert_unique(id_hash(id), at, |&at| {
            id_hash(id_of(ids, &records[at as usize]))
        });
        false
    }

    /// Takes `id`'s slot out (its record stays, dead, until the next save).
    fn remove(&mut self, id: &str) -> Option<Slot> {
        let (ids, records) = (&self.ids, &self.records);
        let entry = self
            .index
            .find_entry(id_hash(id), |&at| id_of(ids, &records[at as usize]) == id)
            .ok()?;
        let (at, _) = entry.remove();
        let record = &mut self.records[at as usize];
        record.live = false;
        self.live -= 1;
        Some(Slot {
            errors: record.slot.errors.take(),
            ..record.slot
        })
    }

    /// Every live product.
    fn iter(&self) -> impl Iterator<Item = (&str, &Slot)> + '_ {
        self.records
            .iter()
            .filter(|r| r.live)
            .map(|r| (id_of(&self.ids, r), &r.slot))
    }
}

fn id_of<'a>(ids: &'a str, record: &Record) -> &'a str {
    let start = usize::try_from(record.id_start).unwrap_or(usize::MAX);
    ids.get(start..start.saturating_add(record.id_len as usize))
        .unwrap_or_default()
}

/// The listing state of one merchant.
#[derive(Debug, Clone, Default)]
pub struct ListingState {
    products: Table,
    feeds: Vec<String>,
    feed_index: HashMap<String, u32>,
    /// By feed index.
    feed_meta: HashMap<u32, FeedMeta>,
}

/// A hash no product row has (xxh3 of real content is never 0 in
/// practice): a product recorded with it goes again at the next build.
const SEND_AGAIN: u64 = 0;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    format_version: u32,
    products: u64,
    /// Feed name → what is known of it; only feeds some product names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    feeds: BTreeMap<String, FeedMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    hash: String,
    status: ListingStatus,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    feed: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    errors: Option<std::borrow::Cow<'a, str>>,
}

impl ListingState {
    /// The state of a merchant nothing has been sent for.
    pub fn new() -> ListingState {
        ListingState::default()
    }

    /// How many products the state holds.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether the state holds no product.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// What the state knows about `external_id`.
    pub fn get(&self, external_id: &str) -> Option<ListingEntry> {
        self.products.get(external_id).map(|slot| self.entry(slot))
    }

    /// How many products have each status.
    pub fn status_counts(&self) -> HashMap<ListingStatus, u64> {
        let mut counts = HashMap::new();
        for (_, slot) in self.products.iter() {
            *counts.entry(slot.status).or_default() += 1;
        }
        counts
    }

    /// The listing kind a feed row of `external_id` is checked as: a
    /// re-listing once a result file reported it imported.
    pub fn kind_of(&self, external_id: &str) -> ListingKind {
        self.products
            .get(external_id)
            .map_or(ListingKind::FirstListing, |slot| slot.status.kind())
    }

    /// Whether `product` goes, and as which kind.
    pub fn plan(&self, product: &Product) -> Plan {
        self.plan_hashed(&product.external_id, product.content_hash())
    }

    /// [`plan`](Self::plan) for a product whose content hash is known.
    pub fn plan_hashed(&self, external_id: &str, hash: u64) -> Plan {
        match self.products.get(external_id) {
            None => Plan::Send(ListingKind::FirstListing),
            Some(slot) if slot.hash == hash => Plan::Unchanged,
            Some(slot) => Plan::Send(slot.status.kind()),
        }
    }

    /// Records that `product` went in `feed` as `kind`: pending its result.
    pub fn record_sent(&mut self, product: &Product, kind: ListingKind, feed: &str) {
        self.record_hashed(&product.external_id, product.content_hash(), kind, feed);
    }

    /// [`record_sent`](Self::record_sent) for a product whose content hash is known.
    pub fn record_hashed(&mut self, external_id: &str, hash: u64, kind: ListingKind, feed: &str) {
        let feed = self.intern(feed);
        let slot = Slot {
            hash,
            feed,
            status: ListingStatus::pending(kind),
            errors: None,
        };
        self.products.insert(external_id, slot);
    }

    /// Applies one result row. `feed` names the feed the result is of,
    /// when known: a row of an older feed than the product's last one only
    /// records that the product was imported once (so it goes as a
    /// re-listing from now on). An imported row with an Updated External
    /// ID moves the entry to the new id.
    pub fn apply_result(&mut self, row: &ResultRow, feed: Option<&str>) -> Applied {
        let outcome = row.outcome();
        if outcome == ImportOutcome::Unrecognised {
            return Applied::Unrecognised;
        }
        let feed_index = feed.and_then(|f| self.feed_index.get(f).copied());
        let Some(slot) = self.products.get_mut(row.external_id.as_str()) else {
            return Applied::NotInState;
        };
        let stale = feed.is_some() && feed_index != Some(slot.feed);
        if stale {
            if outcome == ImportOutcome::Imported {
                slot.status = match slot.status {
                    ListingStatus::PendingFirstListing => ListingStatus::PendingRelisting,
                    ListingStatus::FailedFirstListing => ListingStatus::FailedRelisting,
                    other => other,
                };
            }
            return Applied::Stale;
        }
        match outcome {
            ImportOutcome::Failed => {
                slot.status = match slot.status.kind() {
                    ListingKind::FirstListing => ListingStatus::FailedFirstListing,
                    ListingKind::Relisting => ListingStatus::FailedRelisting,
                };
                let codes = row.error_codes.trim();
                slot.errors = (!codes.is_empty()).then(|| codes.into());
                Applied::Failed
            }
            ImportOutcome::Imported => {
                slot.status = ListingStatus::Listed;
                slot.errors = None;
                let renamed = row.updated_external_id.trim();
                if !renamed.is_empty()
                    && renamed != row.external_id
                    && let Some(mut slot) = self.products.remove(row.external_id.as_str())
                {
                    // What the product is under its new id: the row's
                    // columns, no rename pending.
                    slot.hash = row.product_renamed().content_hash();
                    self.products.insert(renamed, slot);
                }
                Applied::Listed
            }
            ImportOutcome::Unrecognised => Applied::Unrecognised,
        }
    }

    /// Writes the state as JSON Lines: a header, then one line per product.
    pub fn save<W: Write>(&self, out: W) -> Result<W, BwpError> {
        let mut out = io::BufWriter::with_capacity(256 * 1024, out);
        let named: std::collections::HashSet<u32> =
            self.products.iter().map(|(_, slot)| slot.feed).collect();
        let feeds = self
            .feed_meta
            .iter()
            .filter(|(at, meta)| named.contains(at) && **meta != FeedMeta::default())
            .filter_map(|(&at, meta)| Some((self.feed_name(at)?.to_owned(), meta.clone())))
            .collect();
        let header = Header {
            format: LISTING_FORMAT.into(),
            format_version: LISTING_FORMAT_VERSION,
            products: self.products.len() as u64,
            feeds,
        };
        serde_json::to_writer(&mut out, &header).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        let mut sorted: Vec<(&str, &Slot)> = self.products.iter().collect();
        sorted.sort_unstable_by_key(|&(id, _)| id);
        for (id, slot) in sorted {
            let line = Line {
                id: id.into(),
                hash: format!("{:016x}", slot.hash),
                status: slot.status,
                feed: self.feed_name(slot.feed).map(Into::into),
                errors: slot.errors.as_deref().map(Into::into),
            };
            serde_json::to_writer(&mut out, &line).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        out.into_inner().map_err(|e| BwpError::Io(e.into_error()))
    }

    /// Reads a state written by [`save`](Self::save), plain or compressed.
    pub fn load<R: Read>(input: R) -> Result<ListingState, BwpError> {
        let (decoded, _) = input::open(input)?;
        let limits = Limits {
            max_bytes: u64::MAX,
            max_token_bytes: 1 << 20,
            max_pending_bytes: 0,
            max_depth: 0,
        };
        let mut lines = Tracked::new(decoded, &limits);
        let corrupt = |line: u64, reason: String| BwpError::CorruptState { line, reason };
        let mut line = String::new();
        if lines.read_line(&mut line).map_err(BwpError::from_io)? == 0 {
            return Err(corrupt(1, "the file is empty".into()));
        }
        let header: Header = serde_json::from_str(&line)
            .map_err(|e| corrupt(1, format!("not a listing state header: {e}")))?;
        if header.format != LISTING_FORMAT || header.format_version != LISTING_FORMAT_VERSION {
            return Err(corrupt(
                1,
                format!(
                    "format {:?} version {} is not {LISTING_FORMAT:?} version {LISTING_FORMAT_VERSION}",
                    header.format, header.format_version
                ),
            ));
        }
        let mut state = ListingState::new();
        for (name, meta) in header.feeds {
            let at = state.intern(&name);
            state.feed_meta.insert(at, meta);
        }
        state
            .products
            .reserve(usize::try_from(header.products).unwrap_or(0).min(1 << 26));
        let mut number = 1u64;
        loop {
            line.clear();
            lines.mark_token();
            if lines.read_line(&mut line).map_err(BwpError::from_io)? == 0 {
                break;
            }
            number += 1;
            let item: Line<'_> = serde_json::from_str(&line)
                .map_err(|e| corrupt(number, format!("not a product line: {e}")))?;
            let hash = u64::from_str_radix(&item.hash, 16).map_err(|_| {
                corrupt(number, format!("hash {:?} is not 16 hex digits", item.hash))
            })?;
            let feed = match &item.feed {
                Some(feed) => state.intern(feed),
                None => NO_FEED,
            };
            let slot = Slot {
                hash,
                feed,
                status: item.status,
                errors: item.errors.map(|e| e.as_ref().into()),
            };
            if state.products.insert(&item.id, slot) {
                return Err(corrupt(number, format!("{:?} appears twice", item.id)));
            }
        }
        if number - 1 != header.products {
            return Err(corrupt(
                number,
                format!(
                    "the header announces {} products but {} follow; the file is truncated",
                    header.products,
                    number - 1
                ),
            ));
        }
        Ok(state)
    }

    fn intern(&mut self, feed: &str) -> u32 {
        if let Some(&at) = self.feed_index.get(feed) {
            return at;
        }
        let at = u32::try_from(self.feeds.len()).unwrap_or(NO_FEED - 1);
        self.feeds.push(feed.to_owned());
        self.feed_index.insert(feed.to_owned(), at);
        at
    }

    fn feed_name(&self, at: u32) -> Option<&str> {
        self.feeds.get(at as usize).map(String::as_str)
    }

    fn entry(&self, slot: &Slot) -> ListingEntry {
        ListingEntry {
            hash: slot.hash,
            status: slot.status,
            feed: self.feed_name(slot.feed).map(str::to_owned),
            errors: slot.errors.as_deref().map(str::to_owned),
            feed_id: self.feed_meta.get(&slot.feed).and_then(|m| m.id.clone()),
        }
    }

    /// Records the API's catalog feed id of feed file `feed`.
    pub fn set_feed_id(&mut self, feed: &str, id: &str) {
        let at = self.intern(feed);
        self.feed_meta.entry(at).or_default().id = Some(id.to_owned());
    }

    /// What the state knows about feed file `feed`.
    pub fn feed_meta(&self, feed: &str) -> FeedMeta {
        self.feed_index
            .get(feed)
            .and_then(|at| self.feed_meta.get(at))
            .cloned()
            .unwrap_or_default()
    }

    /// Marks the result (or the failure) of feed file `feed` applied.
    pub fn mark_applied(&mut self, feed: &str) {
        let at = self.intern(feed);
        self.feed_meta.entry(at).or_default().applied = true;
    }

    /// The feed files some product names as its last feed, with how many
    /// products each, by name.
    pub fn feeds_named(&self) -> BTreeMap<String, u64> {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for (_, slot) in self.products.iter() {
            if slot.feed != NO_FEED {
                *counts.entry(slot.feed).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter_map(|(at, n)| Some((self.feed_name(at)?.to_owned(), n)))
            .collect()
    }

    /// A whole feed failed (Amazon processed none of its rows): every
    /// product still pending in it becomes failed with `codes`, and goes
    /// again at the next build even unchanged (nothing of it reached Amazon).
    /// Returns how many products were marked.
    pub fn feed_failed(&mut self, feed: &str, codes: &str) -> u64 {
        let Some(&at) = self.feed_index.get(feed) else {
            return 0;
        };
        let mut marked = 0;
        for record in self.products.records.iter_mut().filter(|r| r.live) {
            let slot = &mut record.slot;
            if slot.feed != at {
                continue;
            }
            slot.status = match slot.status {
                ListingStatus::PendingFirstListing => ListingStatus::FailedFirstListing,
                ListingStatus::PendingRelisting => ListingStatus::FailedRelisting,
                _ => continue,
            };
            slot.hash = SEND_AGAIN;
            slot.errors = (!codes.is_empty()).then(|| codes.into());
            marked += 1;
        }
        marked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, sku: &str) -> Product {
        Product {
            external_id: id.into(),
            sku: Some(sku.into()),
            amazon_sku: Some("M".into()),
            image_url: Some("https://i/1".into()),
            ..Product::default()
        }
    }

    fn result(outcome: &str, id: &str, updated: &str, codes: &str) -> ResultRow {
        ResultRow {
            import_result: outcome.into(),
            external_id: id.into(),
            updated_external_id: updated.into(),
            error_codes: codes.into(),
            sku: "S".into(),
            amazon_sku: "M".into(),
            image_url: "https://i/1".into(),
            ..ResultRow::default()
        }
    }

    #[test]
    fn a_product_is_a_first_listing_until_a_result_reports_it_imported() {
        let mut state = ListingState::new();
        let p = product("p1", "S");
        assert_eq!(state.plan(&p), Plan::Send(ListingKind::FirstListing));
        state.record_sent(&p, ListingKind::FirstListing, "feed-1");
        assert_eq!(state.plan(&p), Plan::Unchanged);
        let changed = product("p1", "S2");
        assert_eq!(state.plan(&changed), Plan::Send(ListingKind::FirstListing));
        assert_eq!(
            state.apply_result(&result("SUCCESS", "p1", "", ""), Some("feed-1")),
            Applied::Listed
        );
        assert_eq!(state.get("p1").unwrap().status, ListingStatus::Listed);
        assert_eq!(state.plan(&changed), Plan::Send(ListingKind::Relisting));
    }

    #[test]
    fn a_failed_row_keeps_its_codes_and_its_kind() {
        let mut state = ListingState::new();
        state.record_sent(&product("p1", "S"), ListingKind::FirstListing, "f1");
        let row = result("FAILED", "p1", "", "InvalidAmazonSku;MissingImage");
        assert_eq!(state.apply_result(&row, None), Applied::Failed);
        let entry = state.get("p1").unwrap();
        assert_eq!(entry.status, ListingStatus::FailedFirstListing);
        assert_eq!(
            entry.errors.as_deref(),
            Some("InvalidAmazonSku;MissingImage")
        );
        assert_eq!(state.kind_of("p1"), ListingKind::FirstListing);
        assert_eq!(
            state.apply_result(&result("???", "p1", "", ""), None),
            Applied::Unrecognised
        );
        assert_eq!(
            state.apply_result(&result("SUCCESS", "zz", "", ""), None),
            Applied::NotInState
        );
    }

    #[test]
    fn a_result_of_an_older_feed_only_says_imported_once() {
        let mut state = ListingState::new();
        state.record_sent(&product("p1", "S"), ListingKind::FirstListing, "f1");
        state.record_sent(&product("p1", "S2"), ListingKind::FirstListing, "f2");
        assert_eq!(
            state.apply_result(&result("SUCCESS", "p1", "", ""), Some("f1")),
            Applied::Stale
        );
        assert_eq!(
            state.get("p1").unwrap().status,
            ListingStatus::PendingRelisting
        );
    }

    #[test]
    fn an_imported_rename_moves_the_entry_to_the_new_id() {
        let mut state = ListingState::new();
        let mut p = product("old", "S");
        state.record_sent(&p, ListingKind::FirstListing, "f1");
        state.apply_result(&result("SUCCESS", "old", "", ""), None);
        p.new_external_id = Some("new".into());
        assert_eq!(state.plan(&p), Plan::Send(ListingKind::Relisting));
        state.record_sent(&p, ListingKind::Relisting, "f2");
        state.apply_result(&result("SUCCESS", "old", "new", ""), None);
        assert!(state.get("old").is_none());
        let renamed = Product {
            external_id: "new".into(),
            new_external_id: None,
            ..p
        };
        assert_eq!(state.plan(&renamed), Plan::Unchanged);
    }

    #[test]
    fn feed_ids_and_applied_marks_survive_a_save_and_a_failed_feed_goes_again() {
        let mut state = ListingState::new();
        let (a, b) = (product("a", "S1"), product("b", "S2"));
        state.record_sent(&a, ListingKind::FirstListing, "f1");
        state.record_sent(&b, ListingKind::FirstListing, "f2");
        state.set_feed_id("f1", "feed-1");
        state.mark_applied("f1");
        state.set_feed_id("f2", "feed-2");
        assert_eq!(state.get("a").unwrap().feed_id.as_deref(), Some("feed-1"));
        assert_eq!(state.feed_failed("f2", "INVALID_FILE_FORMAT"), 1);
        let entry = state.get("b").unwrap();
        assert_eq!(entry.status, ListingStatus::FailedFirstListing);
        assert_eq!(entry.errors.as_deref(), Some("INVALID_FILE_FORMAT"));
        assert_eq!(
            state.plan(&b),
            Plan::Send(ListingKind::FirstListing),
            "nothing of a failed feed reached Amazon: it goes again unchanged"
        );
        let loaded = ListingState::load(&state.save(Vec::new()).unwrap()[..]).unwrap();
        assert!(loaded.feed_meta("f1").applied);
        assert_eq!(loaded.feed_meta("f2").id.as_deref(), Some("feed-2"));
        assert!(!loaded.feed_meta("f2").applied);
        assert_eq!(
            loaded.feeds_named().into_iter().collect::<Vec<_>>(),
            [("f1".to_owned(), 1), ("f2".to_owned(), 1)]
        );
        // A feed nobody names any more is dropped from the header.
        let mut moved = loaded.clone();
        moved.record_sent(&product("a", "S9"), ListingKind::FirstListing, "f3");
        let again = ListingState::load(&moved.save(Vec::new()).unwrap()[..]).unwrap();
        assert_eq!(again.feed_meta("f1"), FeedMeta::default());
    }

    #[test]
    fn save_and_load_round_trip_compressed_and_refuse_a_truncated_file() {
        let mut state = ListingState::new();
        for i in 0..100 {
            state.record_sent(
                &product(&format!("p{i}"), "S"),
                ListingKind::FirstListing,
                "f1",
            );
        }
        state.apply_result(&result("FAILED", "p7", "", "E1|E2"), None);
        let saved = state.save(Vec::new()).unwrap();
        let zst = zstd::encode_all(&saved[..], 3).unwrap();
        let loaded = ListingState::load(&zst[..]).unwrap();
        assert_eq!(loaded.len(), 100);
        assert_eq!(loaded.get("p7"), state.get("p7"));
        assert_eq!(loaded.get("p8"), state.get("p8"));
        assert_eq!(loaded.save(Vec::new()).unwrap(), saved);
        let cut = &saved[..saved.len() - 40];
        let cut = &cut[..cut.iter().rposition(|&b| b == b'\n').unwrap() + 1];
        assert!(matches!(
            ListingState::load(cut),
            Err(BwpError::CorruptState { .. })
        ));
    }
}
