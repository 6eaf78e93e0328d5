//! From "the provider's latest export" to "the catalog to send".
//!
//! A [`Planner`] is given the [`CatalogState`] (what was sent before) and
//! then every item of the new export, one at a time. For each it answers
//! whether the item goes into the catalog, and with which version:
//!
//! - **new** (never sent, or deleted before): version 1, or above any version
//!   ever used for that id;
//! - **changed** (its content hash differs): the last version + 1;
//! - **unchanged**: keeps its version; written in a full submission, left out
//!   of an update.
//!
//! [`Planner::finish`] then finds the **removed** items (live, not in the
//! export) and their descendants, and returns a [`Plan`]: the deletes (each
//! at its last version + 1; the writer puts children first), the counts, the
//! verdict, and the new state. The new state is only produced, never applied
//! in place: the caller commits it after the catalog is safely stored, so a
//! crash in between resends rather than skips.
//!
//! The choice of full or update, the keep-alive update and the shrink guard
//! follow [`Policy`]; see [`Planner::new`] and [`Plan::outcome`].

use thiserror::Error;

use crate::finding::{Finding, Position, Rule};
use crate::model::{Delete, Item, ItemKind, KindTag, SubmissionType};
use crate::state::{CatalogState, ItemState, StateError, Status};

const DAY: i64 = 24 * 60 * 60;

/// When to send a full catalog, when to send a keep-alive update, and how
/// much a full catalog may shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A full submission is due when the last one is at least this old
    /// (seconds). Default 25 days: Amazon's limit is 30.
    pub full_after: i64,
    /// An update with nothing to send still goes out (as a keep-alive) when
    /// the last update is at least this old (seconds). Default 4 days: Amazon
    /// asks for one every 7, and the compliance alarm fires at 5.
    pub keepalive_after: i64,
    /// A full submission may drop at most this share of the live items, in
    /// basis points (default 1000 = 10%); more is refused without an override.
    pub shrink_limit_bps: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            full_after: 25 * DAY,
            keepalive_after: 4 * DAY,
            shrink_limit_bps: 1000,
        }
    }
}

/// What the caller asks for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Now, in Unix seconds.
    pub now: i64,
    /// Force a full submission (otherwise the policy decides).
    pub force_full: bool,
    /// Override the shrink guard for this one run.
    pub allow_shrink: bool,
}

/// Items per kind, indexed like [`KindTag::ALL`].
pub type PerKind = [u64; 4];

/// What the diff found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffCounts {
    /// Items never sent before (or deleted before).
    pub new: PerKind,
    /// Items whose content changed.
    pub changed: PerKind,
    /// Items whose content did not change.
    pub unchanged: PerKind,
    /// Live items absent from the export (and their descendants).
    pub removed: PerKind,
    /// Items the export listed in rows that could not be loaded: kept as they are.
    pub held: u64,
}

/// The verdict of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send the catalog.
    Send,
    /// An update with nothing to send, and no keep-alive due: write no catalog.
    NothingToDo,
    /// The shrink guard refused a full catalog (or the removal guard an
    /// update); the message names the counts.
    Refused(String),
}

/// What to send, and the state after sending it.
#[derive(Debug)]
pub struct Plan {
    /// Full or update.
    pub kind: SubmissionType,
    /// Send, nothing to do, or refused.
    pub outcome: Outcome,
    /// The `<ProgramCatalog version>` to write.
    pub catalog_version: u64,
    /// The counts behind the verdict.
    pub counts: DiffCounts,
    /// The items removed, with each item's kind for ordering. An update
    /// writes them as `Delete`s; a full removes them by omission and writes
    /// none (the delete versions are then unused).
    pub deletes: Vec<(Delete, KindTag)>,
    /// The `ProgramOffers` to delete in an update: every tier of a removed
    /// program (at the program's delete version), and the tiers a changed
    /// program no longer has (at its new version). Ids by
    /// [`crate::model::program_offers_id`].
    pub offer_deletes: Vec<Delete>,
    /// The keep-alive item to write when an update had nothing else to send:
    /// the live item sent longest ago, unchanged, at its version + 1.
    pub keepalive: Option<Item>,
    /// Problems the diff found (orphans deleted with their parent, held removals).
    pub findings: Vec<Finding>,
    /// The state to commit once the catalog is safely stored (`Send` only).
    pub new_state: Option<CatalogState>,
}

/// What can go wrong while planning.
#[derive(Debug, Error)]
pub enum DiffError {
    /// The export listed the same id twice (the loader prevents it).
    #[error("the export lists {0:?} twice")]
    DuplicateId(String),
    /// The new state could not be recorded (an id too large, a parent missing).
    #[error(transparent)]
    State(#[from] StateError),
}

/// Queues a `Delete` of `program`'s `ProgramOffers` in each tier of `tiers`.
fn push_offer_deletes(out: &mut Vec<Delete>, program: &str, tiers: u8, version: u64) {
    for tier in crate::model::OfferKind::ALL {
        if tiers & (1 << tier as u8) != 0 {
            out.push(Delete {
                id: crate::model::program_offers_id(program, tier),
                version,
            });
        }
    }
}

/// Full or update for a run: full when asked, when no full was ever sent,
/// or when the last full is at least `policy.full_after` old.
///
/// A state saved before EMBER ([`CatalogState::upgraded_from`]) always
/// gives a full: Amazon has never received an EMBER document from it.
pub fn submission_kind(state: &CatalogState, policy: Policy, request: &Request) -> SubmissionType {
    let full_due = state.upgraded_from.is_some()
        || state
            .last_full
            .is_none_or(|at| request.now - at >= policy.full_after);
    if request.force_full || full_due {
        SubmissionType::Full
    } else {
        SubmissionType::Update
    }
}

/// Diffs one export against the state, item by item.
#[derive(Debug)]
pub struct Planner {
    /// The state, updated in place as items are diffed (so memory holds one
    /// state, not two); handed back in the plan only when it is to be sent.
    state: CatalogState,
    /// How many items the state held before this run.
    old_len: usize,
    /// Whether each of those items was live (or rejected) before this run.
    was_live: Vec<bool>,
    live_before: u64,
    last_full_before: Option<i64>,
    last_update_before: Option<i64>,
    version_before: u64,
    kind: SubmissionType,
    request: Request,
    policy: Policy,
    seen: Vec<bool>,
    counts: DiffCounts,
    keepalive: Option<(i64, Item)>,
    hold_removals: Option<String>,
    /// Items held in a full: they go by omission all the same.
    held_in_full: Vec<usize>,
    findings: Vec<Finding>,
    offer_deletes: Vec<Delete>,
}

impl Planner {
    /// Starts a diff. The submission is full when asked, when no full was
    /// ever sent, or when the last full is at least `policy.full_after` old;
    /// otherwise it is an update.
    pub fn new(state: CatalogState, policy: Policy, request: Request) -> Planner {
        let kind = submission_kind(&state, policy, &request);
        let mut findings = Vec::new();
        if let Some(format) = state.upgraded_from {
            findings.push(Finding::warning(
                Rule::StateUpgraded,
                crate::finding::Position {
                    line: 0,
                    column: 0,
                    offset: 0,
                },
                format!(
                    "the catalog state was saved in format {format}, before EMBER: Amazon has no EMBER catalog from it yet, so this build is a full EMBER catalog that resends every live item one version above the last one sent"
                ),
            ));
        }
        let old_len = state.len();
        let was_live: Vec<bool> = (0..old_len)
            .map(|at| state.status_at(at) != Status::Deleted)
            .collect();
        Planner {
            live_before: was_live.iter().filter(|&&live| live).count() as u64,
            was_live,
            old_len,
            last_full_before: state.last_full,
            last_update_before: state.last_update,
            version_before: state.catalog_version,
            state,
            kind,
            request,
            policy,
            seen: vec![false; old_len],
            counts: DiffCounts::default(),
            keepalive: None,
            hold_removals: None,
            held_in_full: Vec::new(),
            findings,
            offer_deletes: Vec::new(),
        }
    }

    /// Full or update, decided when the planner was made.
    pub fn kind(&self) -> SubmissionType {
        self.kind
    }

    /// The counts so far (removals are counted by `finish`).
    pub fn counts(&self) -> &DiffCounts {
        &self.counts
    }

    /// Takes the next item of the export and returns it, with its version
    /// set, when it belongs in the catalog.
    pub fn next(&mut self, mut item: Item) -> Result<Option<Item>, DiffError> {
        let hash = content_hash(&item);
        let kind = item.kind.tag();
        let at = self.state.position(&item.id);
        if at.is_some_and(|at| at >= self.old_len || self.seen[at]) {
            return Err(DiffError::DuplicateId(item.id));
        }
        let send = match at {
            None => {
                item.version = item.version.max(1);
                self.counts.new[kind as usize] += 1;
                true
            }
            Some(at) => {
                self.seen[at] = true;
                let last = self.state.version_at(at);
                if self.state.status_at(at) == Status::Deleted {
                    item.version = item.version.max(last + 1);
                    self.counts.new[kind as usize] += 1;
                    true
                } else if self.state.upgraded_from.is_some()
                    || self.state.hash_at(at) != hash
                    || self.state.kind_at(at) != kind
                {
                    // After an upgrade every item goes one above its last
                    // version, so the gate's "same version, other content"
                    // rule cannot fire on hashes made by the old format.
                    item.version = item.version.max(last + 1);
                    self.counts.changed[kind as usize] += 1;
                    true
                } else {
                    item.version = last;
                    self.counts.unchanged[kind as usize] += 1;
                    if self.kind == SubmissionType::Update {
                        self.consider_keepalive(at, &item);
                    }
                    self.kind == SubmissionType::Full
                }
            }
        };
        if send {
            let tiers = crate::model::offer_tiers(&item.meta);
            let before = match at {
                Some(at) if self.state.status_at(at) != Status::Deleted => self.state.tiers_at(at),
                _ => 0,
            };
            push_offer_deletes(
                &mut self.offer_deletes,
                &item.id,
                before & !tiers,
                item.version,
            );
            let state = ItemState {
                kind,
                parent: item.kind.parent_id().map(str::to_owned),
                version: item.version,
                hash,
                status: Status::Live,
                sent_at: self.request.now,
            };
            self.state.upsert(&item.id, &state)?;
            self.state.set_tiers(&item.id, tiers);
        }
        Ok(send.then_some(item))
    }

    /// Marks an item the export listed in a row that could not be loaded:
    /// it is kept as it is (not removed, not resent), unless its parent goes.
    /// A full keeps only what it lists, so there the item goes by omission
    /// like a removed one (reported), and is sent again once its row loads.
    pub fn hold(&mut self, id: &str) {
        if let Some(at) = self.state.position(id)
            && at < self.old_len
            && !self.seen[at]
        {
            self.seen[at] = true;
            self.counts.held += 1;
            if self.kind == SubmissionType::Full {
                self.held_in_full.push(at);
            }
        }
    }

    /// Sends no deletes this run: some export rows could not be read at all,
    /// so an absent id may only be unreadable, not removed. `why` is reported.
    /// A full cannot hold anything: Amazon deletes whatever it does not
    /// list, so there the absent items are removed (and count against the
    /// shrink guard) all the same, and the finding says so.
    pub fn hold_all_removals(&mut self, why: impl Into<String>) {
        self.hold_removals = Some(why.into());
    }

    fn consider_keepalive(&mut self, at: usize, item: &Item) {
        if self.state.status_at(at) != Status::Live {
            return;
        }
        let sent = self.state.sent_at(at);
        if self.keepalive.as_ref().is_none_or(|(best, _)| sent < *best) {
            self.keepalive = Some((sent, item.clone()));
        }
    }

    /// Ends the diff: finds removals, applies the policy, returns the plan.
    pub fn finish(mut self) -> Result<Plan, DiffError> {
        let now = self.request.now;
        let removed = self.removals();
        let mut deletes = Vec::new();
        for (at, &gone) in removed.iter().enumerate() {
            if !gone {
                continue;
            }
            let kind = self.state.kind_at(at);
            let id = self.state.id_at(at).to_owned();
            self.counts.removed[kind as usize] += 1;
            let last = self.state.version_at(at);
            let delete_version = last + 1;
            let tiers = self.state.tiers_at(at);
            push_offer_deletes(&mut self.offer_deletes, &id, tiers, delete_version);
            deletes.push((
                Delete {
                    id: id.clone(),
                    version: delete_version,
                },
                kind,
            ));
            let version = match self.kind {
                SubmissionType::Update => delete_version,
                // A full submission deletes by omission; the version is not spent.
                SubmissionType::Full => last,
            };
            let mut state = self.state.get(&id).ok_or_else(|| StateError::Corrupt {
                line: 0,
                reason: format!("{id:?} vanished from the state being built"),
            })?;
            state.status = Status::Deleted;
            state.version = version;
            state.sent_at = now;
            self.state.upsert(&id, &state)?;
            self.state.set_tiers(&id, 0);
        }

        let removed_total: u64 = self.counts.removed.iter().sum();
        let sent_total: u64 =
            self.counts.new.iter().sum::<u64>() + self.counts.changed.iter().sum::<u64>();
        let mut keepalive = None;
        let guard = shrink_exceeded(
            self.kind,
            removed_total,
            self.live_before,
            self.policy.shrink_limit_bps,
        );
        let outcome = match (guard, self.kind) {
            (Some(why), _) if !self.request.allow_shrink => Outcome::Refused(format!(
                "{why}; check the export is complete, or let one build through with the override state/overrides/allow-shrink.json"
            )),
            (_, SubmissionType::Full) => Outcome::Send,
            (_, SubmissionType::Update) if sent_total == 0 && removed_total == 0 => {
                let last = self.last_update_before.or(self.last_full_before);
                let due = last.is_none_or(|at| now - at >= self.policy.keepalive_after);
                match self.keepalive.take() {
                    Some((_, mut item)) if due => {
                        item.version += 1;
                        let state = ItemState {
                            kind: item.kind.tag(),
                            parent: item.kind.parent_id().map(str::to_owned),
                            version: item.version,
                            hash: content_hash(&item),
                            status: Status::Live,
                            sent_at: now,
                        };
                        self.state.upsert(&item.id, &state)?;
                        keepalive = Some(item);
                        Outcome::Send
                    }
                    _ => Outcome::NothingToDo,
                }
            }
            (_, SubmissionType::Update) => Outcome::Send,
        };

        let catalog_version = self.version_before + 1;
        let new_state = (outcome == Outcome::Send).then(|| {
            let mut state = self.state;
            state.catalog_version = catalog_version;
            state.upgraded_from = None;
            match self.kind {
                SubmissionType::Full => state.last_full = Some(now),
                SubmissionType::Update => state.last_update = Some(now),
            }
            state
        });
        Ok(Plan {
            kind: self.kind,
            outcome,
            catalog_version,
            counts: self.counts,
            deletes,
            offer_deletes: match self.kind {
                SubmissionType::Update => self.offer_deletes,
                // A full removes by omission, offers included.
                SubmissionType::Full => Vec::new(),
            },
            keepalive,
            findings: self.findings,
            new_state,
        })
    }

    /// Which old items go: live ones not seen, and every descendant of a
    /// removed item (even one the export still lists: reported).
    fn removals(&mut self) -> Vec<bool> {
        let old_len = self.old_len;
        if let Some(why) = self.hold_removals.take() {
            let absent = (0..old_len)
                .filter(|&at| !self.seen[at] && self.was_live[at])
                .count();
            let full = self.kind == SubmissionType::Full;
            if absent > 0 {
                let message = if full {
                    format!(
                        "{absent} live items are absent from the export; a full catalog removes them by omission, so they cannot be held this run: {why}"
                    )
                } else {
                    format!(
                        "{absent} live items are absent from the export but are not deleted this run: {why}"
                    )
                };
                self.findings.push(Finding::warning(
                    Rule::RemovalsHeld,
                    Position::default(),
                    message,
                ));
            }
            if !full {
                return vec![false; old_len];
            }
        }
        // First the live items the export does not list (in a full, held
        // ones too).
        let mut removed: Vec<bool> = (0..old_len)
            .map(|at| !self.seen[at] && self.was_live[at])
            .collect();
        let mut held = 0u64;
        for at in std::mem::take(&mut self.held_in_full) {
            if self.was_live[at] {
                removed[at] = true;
                held += 1;
            }
        }
        if held > 0 {
            self.findings.push(Finding::warning(
                Rule::RemovalsHeld,
                Position::default(),
                format!(
                    "{held} held item{} (export rows that could not be loaded) not in this full catalog, so Amazon deletes them; they are sent again once their rows load",
                    if held == 1 { " is" } else { "s are" }
                ),
            ));
        }
        // Then the descendants of removed items, seasons before episodes. Not
        // in record order: an item moved to a parent recorded after it (a new
        // season, say) comes before its parent there. A parent new this run
        // is past the old items and is not removed.
        for (kind, at) in [KindTag::Season, KindTag::Episode]
            .into_iter()
            .flat_map(|kind| (0..old_len).map(move |at| (kind, at)))
        {
            if self.state.kind_at(at) != kind || removed[at] || !self.was_live[at] {
                continue;
            }
            let parent = self.state.parent_position(at);
            if parent.is_some_and(|p| removed.get(p).copied().unwrap_or(false)) {
                removed[at] = true;
                let id = self.state.id_at(at);
                let parent_id = parent.map(|p| self.state.id_at(p)).unwrap_or_default();
                self.findings.push(
                    Finding::warning(
                        Rule::ParentMissing,
                        Position::default(),
                        format!("{id:?} is still in the export but its parent {parent_id:?} is not; it is deleted with its parent"),
                    )
                    .for_item(id),
                );
            }
        }
        removed
    }
}

/// Deletes in an update below this count never trip the removal guard.
pub const SHRINK_GUARD_MIN_ITEMS: u64 = 10;

/// The shrink guard (DOMAIN.md A3, extended to updates: ours), for the
/// planner and the gate alike: a full catalog leaving out, or an update
/// deleting, `dropped` of `live` items is refused when that is more than
/// `limit_bps` basis points of them. An export cut off at a line boundary
/// looks like mass removals either way. An update deleting fewer than
/// [`SHRINK_GUARD_MIN_ITEMS`] items is never refused: in a small catalog one
/// series with its seasons and episodes is already more than 10%, and
/// deleting it is an ordinary edit, not a truncated export (our choice; a
/// full keeps the strict guard it always had). Returns why, with the counts.
pub fn shrink_exceeded(
    kind: SubmissionType,
    dropped: u64,
    live: u64,
    limit_bps: u32,
) -> Option<String> {
    let floor = match kind {
        SubmissionType::Full => 1,
        SubmissionType::Update => SHRINK_GUARD_MIN_ITEMS,
    };
    let over =
        dropped >= floor && u128::from(dropped) * 10_000 > u128::from(live) * u128::from(limit_bps);
    let what = match kind {
        SubmissionType::Full => "the full catalog would drop",
        SubmissionType::Update => "the update would delete",
    };
    over.then(|| {
        format!(
            "{what} {dropped} of {live} live items ({:.1}%), more than the {:.1}% allowed",
            percent(dropped, live),
            f64::from(limit_bps) / 100.0,
        )
    })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A stable 64-bit hash of everything an item sends except its id and
/// version: two exports of the same content hash the same on any machine
/// and any version of this program (the encoding below must not change
/// without a state format version bump).
///
/// In EMBER a program and its offers travel in two catalogs of one
/// document, so the hash is [`program_hash`] XOR one [`tier_hash`] per
/// `<ProgramOffers>`: a reader can check it without holding the program
/// until its offers arrive. Prices are not part of it (EMBER has no place
/// for them, so they are not sent).
pub fn content_hash(item: &Item) -> u64 {
    let mut hash = program_hash(item);
    for tier in crate::model::OfferKind::ALL {
        let mut offers = item
            .meta
            .offers
            .iter()
            .filter(|o| o.kind == tier)
            .peekable();
        if offers.peek().is_some() {
            hash ^= tier_hash(tier, offers, item.meta.deep_link.as_deref());
        }
    }
    hash
}

/// The hash of one `<ProgramOffers>`: its tier, its offers (type,
/// territories, window) and the deep link each carries.
pub fn tier_hash<'o>(
    tier: crate::model::OfferKind,
    offers: impl Iterator<Item = &'o crate::model::Offer>,
    deep_link: Option<&str>,
) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let text = |h: &mut xxhash_rust::xxh3::Xxh3, s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    let opt = |h: &mut xxhash_rust::xxh3::Xxh3, s: Option<&str>| match s {
        Some(s) => {
            h.update(&[1]);
            text(h, s);
        }
        None => h.update(&[0]),
    };
    text(&mut h, tier.as_str());
    for offer in offers {
        h.update(&[2]);
        text(&mut h, &offer.region);
        opt(&mut h, offer.start.as_deref());
        opt(&mut h, offer.end.as_deref());
    }
    h.update(&[3]);
    opt(&mut h, deep_link);
    h.digest()
}

/// The hash of what an item sends inside the `ProgramCatalog`: everything
/// but its id, its version, its offers and its deep link.
pub fn program_hash(item: &Item) -> u64 {
    // The bytes are gathered in a reused buffer and hashed in one call,
    // several times faster than feeding a streaming hasher field by field;
    // the bytes hashed, and so the hash, are the same.
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|h| {
        h.clear();
        let text = |h: &mut Vec<u8>, s: &str| {
            h.extend_from_slice(&(s.len() as u64).to_le_bytes());
            h.extend_from_slice(s.as_bytes());
        };
        let opt = |h: &mut Vec<u8>, s: &Option<String>| match s {
            Some(s) => {
                h.extend_from_slice(&[1]);
                text(h, s);
            }
            None => h.extend_from_slice(&[0]),
        };
        h.extend_from_slice(&[item.kind.tag() as u8]);
        match &item.kind {
            ItemKind::Movie | ItemKind::Series => {}
            ItemKind::Season {
                series_id,
                season_number,
            } => {
                text(h, series_id);
                h.extend_from_slice(&season_number.to_le_bytes());
            }
            ItemKind::Episode {
                series_id,
                season_id,
                episode_number,
            } => {
                text(h, series_id);
                text(h, season_id);
                h.extend_from_slice(&episode_number.to_le_bytes());
            }
        }
        let meta = &item.meta;
        text(h, &meta.title.locale);
        text(h, &meta.title.text);
        opt(h, &meta.synopsis);
        // One date without a type is what the format before issue 16 could
        // hold, and hashes as it did; any other list goes in the extension.
        let legacy_date = match meta.release_dates.as_slice() {
            [only] if only.release_type.is_none() => Some(&only.date),
            _ => None,
        };
        match legacy_date {
            Some(date) => {
                h.extend_from_slice(&[1]);
                text(h, date);
            }
            None => h.extend_from_slice(&[0]),
        }
        match meta.runtime_minutes {
            Some(m) => {
                h.extend_from_slice(&[1]);
                h.extend_from_slice(&m.to_le_bytes());
            }
            None => h.extend_from_slice(&[0]),
        }
        h.extend_from_slice(&(meta.genres.len() as u64).to_le_bytes());
        for genre in &meta.genres {
            text(h, genre);
        }
        match &meta.rating {
            Some(r) => {
                h.extend_from_slice(&[1]);
                text(h, &r.system);
                text(h, &r.value);
            }
            None => h.extend_from_slice(&[0]),
        }
        h.extend_from_slice(&(meta.credits.len() as u64).to_le_bytes());
        for c in &meta.credits {
            text(h, &c.role);
            text(h, &c.name);
        }
        h.extend_from_slice(&(meta.images.len() as u64).to_le_bytes());
        for i in &meta.images {
            text(h, &i.kind);
            text(h, &i.url);
        }
        hash_extension(h, meta, legacy_date.is_none());
        let hash = xxhash_rust::xxh3::xxh3_64(h);
        if h.capacity() > 1 << 16 {
            // An item with kilobytes of text does not keep its buffer.
            *h = Vec::new();
        }
        hash
    })
}

/// The fields the source format gained with issue 16, after the encoding
/// above: each only when present, behind its own tag, in tag order. An item
/// without them hashes exactly as before, so the hashes in saved states
/// stay valid (no state format bump); an item with them cannot hash like
/// one without, because the encoding above is self-delimiting.
fn hash_extension(h: &mut Vec<u8>, meta: &crate::model::Metadata, dates_not_legacy: bool) {
    let text = |h: &mut Vec<u8>, s: &str| {
        h.extend_from_slice(&(s.len() as u64).to_le_bytes());
        h.extend_from_slice(s.as_bytes());
    };
    let opt = |h: &mut Vec<u8>, s: Option<&str>| match s {
        Some(s) => {
            h.push(1);
            text(h, s);
        }
        None => h.push(0),
    };
    let count = |h: &mut Vec<u8>, tag: u8, n: usize| {
        h.push(tag);
        h.extend_from_slice(&(n as u64).to_le_bytes());
    };
    if !meta.external_ids.is_empty() {
        count(h, 0xE1, meta.external_ids.len());
        for e in &meta.external_ids {
            text(h, &e.scheme);
            text(h, &e.id);
        }
    }
    if !meta.other_titles.is_empty() {
        count(h, 0xE2, meta.other_titles.len());
        for t in &meta.other_titles {
            text(h, &t.locale);
            text(h, &t.text);
            text(h, &t.territories);
        }
    }
    if let Some(description) = &meta.description {
        h.push(0xE3);
        text(h, description);
    }
    for (tag, list) in [
        (0xE4, &meta.other_descriptions),
        (0xE5, &meta.other_synopses),
    ] {
        if !list.is_empty() {
            count(h, tag, list.len());
            for l in list {
                text(h, &l.locale);
                text(h, &l.text);
            }
        }
    }
    let attributes = |i: &crate::model::Image| {
        i.aspect_ratio.is_some() || i.mime_type.is_some() || i.resolution.is_some()
    };
    if meta.images.iter().any(attributes) {
        h.push(0xE6);
        for i in &meta.images {
            opt(h, i.aspect_ratio.as_deref());
            opt(h, i.mime_type.as_deref());
            opt(h, i.resolution.as_deref());
        }
    }
    if dates_not_legacy && !meta.release_dates.is_empty() {
        count(h, 0xE7, meta.release_dates.len());
        for d in &meta.release_dates {
            text(h, &d.date);
            opt(h, d.release_type.as_deref());
        }
    }
    for (tag, list) in [(0xE8, &meta.keywords), (0xE9, &meta.studios)] {
        if !list.is_empty() {
            count(h, tag, list.len());
            for s in list {
                text(h, s);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn content_hash_is_the_program_and_each_tier_and_ignores_prices() {
        use crate::model::{Offer, OfferKind, Price};
        let mut item = movie("m", "T");
        let bare = content_hash(&item);
        assert_eq!(bare, program_hash(&item));
        let offer = |kind, region: &str| Offer {
            kind,
            region: region.into(),
            start: None,
            end: None,
            price: None,
        };
        item.meta.offers = vec![offer(OfferKind::Free, "US"), offer(OfferKind::Rental, "GB")];
        item.meta.deep_link = Some("app://m".into());
        let with_offers = content_hash(&item);
        assert_ne!(with_offers, bare);
        let free = tier_hash(
            OfferKind::Free,
            item.meta.offers[..1].iter(),
            Some("app://m"),
        );
        let rental = tier_hash(
            OfferKind::Rental,
            item.meta.offers[1..].iter(),
            Some("app://m"),
        );
        assert_eq!(with_offers, bare ^ free ^ rental);
        item.meta.offers[1].price = Some(Price {
            amount: "3.99".into(),
            currency: "GBP".into(),
        });
        assert_eq!(content_hash(&item), with_offers, "a price is not sent");
    }

    use super::*;
    use crate::model::{LocalizedText, Metadata};

    const T0: i64 = 1_760_000_000;

    fn movie(id: &str, title: &str) -> Item {
        Item {
            id: id.into(),
            version: 1,
            kind: ItemKind::Movie,
            meta: Metadata {
                title: LocalizedText {
                    locale: "en-US".into(),
                    text: title.into(),
                },
                ..Metadata::default()
            },
        }
    }

    #[test]
    fn offers_of_a_dropped_tier_and_of_a_removed_program_are_deleted_in_the_update() {
        use crate::model::{Offer, OfferKind};
        let offer = |kind| Offer {
            kind,
            region: "US".into(),
            start: None,
            end: None,
            price: None,
        };
        let with = |id: &str, kinds: &[OfferKind]| {
            let mut item = movie(id, id);
            item.meta.offers = kinds.iter().map(|k| offer(*k)).collect();
            item
        };
        let (_, day1) = run(
            &CatalogState::new("C"),
            T0,
            false,
            vec![
                with("a", &[OfferKind::Free, OfferKind::Rental]),
                with("b", &[OfferKind::Subscription]),
            ],
        );
        assert!(day1.offer_deletes.is_empty());
        let state = day1.new_state.unwrap();
        // Saved and loaded: the tiers survive.
        let state = CatalogState::load(&state.save(Vec::new()).unwrap()[..]).unwrap();

        // Day 2: a drops its rental tier, b is removed.
        let (sent, day2) = run(
            &state,
            T0 + 3600,
            false,
            vec![with("a", &[OfferKind::Free])],
        );
        assert_eq!(day2.kind, SubmissionType::Update);
        assert_eq!(sent[0].version, 2);
        let deletes: Vec<_> = day2
            .offer_deletes
            .iter()
            .map(|d| (d.id.as_str(), d.version))
            .collect();
        assert_eq!(
            deletes,
            [("a.offers.rental", 2), ("b.offers.subscription", 2)]
        );

        // Day 3: nothing changes, nothing more to delete.
        let (_, day3) = run(
            &day2.new_state.unwrap(),
            T0 + 7200,
            false,
            vec![with("a", &[OfferKind::Free])],
        );
        assert!(day3.offer_deletes.is_empty());
    }

    #[test]
    fn a_state_saved_before_ember_gives_a_full_resending_every_item_one_version_up() {
        // Day 1 in the new format, then the same state saved as format 1.
        let (_, day1) = run(
            &CatalogState::new("C"),
            T0,
            false,
            vec![movie("a", "A"), movie("b", "B")],
        );
        let mut day1_state = day1.new_state.unwrap();
        day1_state.last_update = Some(T0);
        let saved = day1_state.save(Vec::new()).unwrap();
        let text = String::from_utf8(saved).unwrap();
        let old = text.replacen(
            &format!("\"format_version\":{}", crate::state::STATE_FORMAT_VERSION),
            "\"format_version\":1",
            1,
        );
        assert_ne!(old, text);
        let upgraded = CatalogState::load(old.as_bytes()).unwrap();
        assert_eq!(upgraded.upgraded_from, Some(1));

        // An hour later, nothing changed: still a full, every item at 2.
        let (sent, plan) = run(
            &upgraded,
            T0 + 3600,
            false,
            vec![movie("a", "A"), movie("b", "B")],
        );
        assert_eq!(plan.kind, SubmissionType::Full);
        assert_eq!(
            sent.iter()
                .map(|i| (i.id.as_str(), i.version))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 2)]
        );
        assert!(plan.findings.iter().any(|f| f.rule == Rule::StateUpgraded));
        let new_state = plan.new_state.unwrap();
        assert_eq!(new_state.upgraded_from, None);
        let saved = String::from_utf8(new_state.save(Vec::new()).unwrap()).unwrap();
        assert!(saved.contains(&format!(
            "\"format_version\":{}",
            crate::state::STATE_FORMAT_VERSION
        )));
    }

    fn run(
        state: &CatalogState,
        now: i64,
        force_full: bool,
        export: Vec<Item>,
    ) -> (Vec<Item>, Plan) {
        let request = Request {
            now,
            force_full,
            allow_shrink: false,
        };
        let mut planner = Planner::new(state.clone(), Policy::default(), request);
        let mut sent = Vec::new();
        for item in export {
            if let Some(item) = planner.next(item).unwrap() {
                sent.push(item);
            }
        }
        (sent, planner.finish().unwrap())
    }

    #[test]
    fn first_run_is_full_then_updates_carry_only_changes() {
        let state = CatalogState::new("C");
        let (sent, plan) = run(&state, T0, false, vec![movie("a", "A"), movie("b", "B")]);
        assert_eq!(plan.kind, SubmissionType::Full);
        assert_eq!(plan.outcome, Outcome::Send);
        assert_eq!(sent.len(), 2);
        let state = plan.new_state.unwrap();
        assert_eq!(state.catalog_version, 1);

        let (sent, plan) = run(
            &state,
            T0 + DAY,
            false,
            vec![movie("a", "A2"), movie("c", "C")],
        );
        assert_eq!(plan.kind, SubmissionType::Update);
        let versions: Vec<_> = sent.iter().map(|i| (i.id.as_str(), i.version)).collect();
        assert_eq!(versions, [("a", 2), ("c", 1)]);
        assert_eq!(
            plan.deletes,
            vec![(
                Delete {
                    id: "b".into(),
                    version: 2
                },
                KindTag::Movie
            )]
        );
        let state = plan.new_state.unwrap();
        assert_eq!(state.get("b").unwrap().status, Status::Deleted);

        // b comes back: above any version ever used.
        let (sent, plan) = run(
            &state,
            T0 + 2 * DAY,
            false,
            vec![movie("a", "A2"), movie("b", "B"), movie("c", "C")],
        );
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].id.as_str(), sent[0].version), ("b", 3));
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn nothing_to_do_unless_the_keepalive_is_due() {
        let (_, plan) = run(
            &CatalogState::new("C"),
            T0,
            false,
            vec![movie("a", "A"), movie("b", "B")],
        );
        let state = plan.new_state.unwrap();
        let (sent, plan) = run(
            &state,
            T0 + DAY,
            false,
            vec![movie("a", "A"), movie("b", "B")],
        );
        assert!(sent.is_empty());
        assert_eq!(plan.outcome, Outcome::NothingToDo);
        assert!(plan.new_state.is_none());

        let (_, plan) = run(
            &state,
            T0 + 4 * DAY,
            false,
            vec![movie("a", "A"), movie("b", "B")],
        );
        assert_eq!(plan.outcome, Outcome::Send);
        let keepalive = plan.keepalive.unwrap();
        assert_eq!((keepalive.id.as_str(), keepalive.version), ("a", 2));
        assert_eq!(plan.new_state.unwrap().get("a").unwrap().version, 2);
    }

    #[test]
    fn full_is_due_after_25_days() {
        let (_, plan) = run(&CatalogState::new("C"), T0, false, vec![movie("a", "A")]);
        let state = plan.new_state.unwrap();
        let (_, plan) = run(&state, T0 + 24 * DAY, false, vec![movie("a", "A")]);
        assert_eq!(plan.kind, SubmissionType::Update);
        let (sent, plan) = run(&state, T0 + 25 * DAY, false, vec![movie("a", "A")]);
        assert_eq!(plan.kind, SubmissionType::Full);
        assert_eq!(
            sent[0].version, 1,
            "an unchanged item keeps its version in a full"
        );
    }

    #[test]
    fn content_hash_ignores_id_and_version_only() {
        let a = movie("a", "Same");
        let mut b = movie("b", "Same");
        b.version = 9;
        assert_eq!(content_hash(&a), content_hash(&b));
        b.meta.synopsis = Some(String::new());
        assert_ne!(content_hash(&a), content_hash(&b));
        // Stable across builds: this value is persisted in states.
        assert_eq!(content_hash(&a), content_hash(&movie("x", "Same")));
    }
}
