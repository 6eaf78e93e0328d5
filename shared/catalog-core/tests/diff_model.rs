//! Model-based tests of the diff [`Planner`]: random sequences of daily
//! exports are planned, written with [`CatalogWriter`], read back with
//! [`CatalogReader`] (so the real XML is checked, deletes order included) and
//! applied to a model of Amazon's side. After every day Amazon must hold
//! exactly the latest export (rows that could not be loaded held as they
//! were), versions must only go up, deletes must come children first, and
//! the committed state must agree with Amazon.
//!
//! Then the shrink guard at its boundaries, removals under `hold`, the
//! keep-alive update, moves between seasons and holds in a full, one
//! scenario each (the last two are regressions the property found).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use catalog_core::diff::{Outcome, Plan, Planner, Policy, Request};
use catalog_core::model::{
    Action, CatalogHeader, Delete, Entry, Item, ItemKind, KindTag, LocalizedText, Metadata,
    SubmissionType,
};
use catalog_core::reader::{CatalogReader, ReadOptions, ReadReport};
use catalog_core::state::{CatalogState, Status};
use catalog_core::writer::CatalogWriter;
use catalog_core::{Finding, Rule};
use proptest::prelude::*;

const DAY: i64 = 24 * 60 * 60;
const T0: i64 = 1_760_000_000;
const FULL_AFTER_DAYS: i64 = 25;

// ---------------------------------------------------------------------------
// Exports.
// ---------------------------------------------------------------------------

fn item(id: &str, kind: ItemKind, title: u8, synopsis: u8) -> Item {
    Item {
        id: id.into(),
        version: 1,
        kind,
        meta: Metadata {
            title: LocalizedText {
                locale: "en-US".into(),
                // Text that needs escaping, so the round trip is not trivial.
                text: format!("{id} & <v{title}> \"Fish\""),
            },
            synopsis: (synopsis > 0).then(|| format!("Synopsis {synopsis}: it's <new>")),
            ..Metadata::default()
        },
    }
}

fn movie(id: &str, title: u8) -> Item {
    item(id, ItemKind::Movie, title, 0)
}

fn series(id: &str) -> Item {
    item(id, ItemKind::Series, 0, 0)
}

fn season(id: &str, series_id: &str, number: u32) -> Item {
    item(
        id,
        ItemKind::Season {
            series_id: series_id.into(),
            season_number: number,
        },
        0,
        0,
    )
}

fn episode(id: &str, series_id: &str, season_id: &str, number: u32) -> Item {
    item(
        id,
        ItemKind::Episode {
            series_id: series_id.into(),
            season_id: season_id.into(),
            episode_number: number,
        },
        0,
        0,
    )
}

const MOVIES: usize = 6;
const SERIES: usize = 3;
const SEASONS: usize = 3;
const EPISODES: usize = 6;

#[derive(Debug, Clone)]
struct ItemSpec {
    present: bool,
    title: u8,
    synopsis: u8,
}

#[derive(Debug, Clone)]
struct EpisodeSpec {
    item: ItemSpec,
    /// `Some((series, season))` when the episode sits somewhere else today.
    moved: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct SeriesSpec {
    item: ItemSpec,
    seasons: Vec<ItemSpec>,
    episodes: Vec<EpisodeSpec>,
}

/// One day: how far time moves, whether a full is forced, and the export.
#[derive(Debug, Clone)]
struct DaySpec {
    advance_days: i64,
    force_full: bool,
    movies: Vec<ItemSpec>,
    series: Vec<SeriesSpec>,
    /// Rows of live movies and episodes that could not be loaded today.
    holds: Vec<prop::sample::Index>,
    /// A quiet day: the export is yesterday's, unchanged.
    quiet: bool,
}

/// Mostly the same content as yesterday; sometimes another, sometimes back.
fn variant() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)]
}

fn item_spec(presence: f64) -> impl Strategy<Value = ItemSpec> {
    (prop::bool::weighted(presence), variant(), variant()).prop_map(|(present, title, synopsis)| {
        ItemSpec {
            present,
            title,
            synopsis,
        }
    })
}

fn episode_spec() -> impl Strategy<Value = EpisodeSpec> {
    let moved = prop_oneof![
        8 => Just(None),
        1 => (0..SERIES, 0..SEASONS).prop_map(Some),
    ];
    (item_spec(0.85), moved).prop_map(|(item, moved)| EpisodeSpec { item, moved })
}

fn series_spec() -> impl Strategy<Value = SeriesSpec> {
    (
        item_spec(0.85),
        prop::collection::vec(item_spec(0.85), SEASONS),
        prop::collection::vec(episode_spec(), EPISODES),
    )
        .prop_map(|(item, seasons, episodes)| SeriesSpec {
            item,
            seasons,
            episodes,
        })
}

fn day_spec() -> impl Strategy<Value = DaySpec> {
    (
        1..=10i64,
        prop::bool::weighted(0.15),
        prop::collection::vec(item_spec(0.8), MOVIES),
        prop::collection::vec(series_spec(), SERIES),
        prop_oneof![
            4 => Just(Vec::new()),
            1 => prop::collection::vec(any::<prop::sample::Index>(), 1..=3),
        ],
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(advance_days, force_full, movies, series, holds, quiet)| DaySpec {
                advance_days,
                force_full,
                movies,
                series,
                holds,
                quiet,
            },
        )
}

/// The export of one day, parents before children. An episode lives in its
/// home season (`episode % SEASONS` of its own series) unless moved; it is
/// absent when its own series, or the season it sits in, is absent.
fn export_of(day: &DaySpec) -> Vec<Item> {
    let mut items = Vec::new();
    for (m, spec) in day.movies.iter().enumerate() {
        if spec.present {
            items.push(item(
                &format!("m{m}"),
                ItemKind::Movie,
                spec.title,
                spec.synopsis,
            ));
        }
    }
    let season_live =
        |s: usize, k: usize| day.series[s].item.present && day.series[s].seasons[k].present;
    for (s, spec) in day.series.iter().enumerate() {
        if !spec.item.present {
            continue;
        }
        let series_id = format!("s{s}");
        items.push(item(
            &series_id,
            ItemKind::Series,
            spec.item.title,
            spec.item.synopsis,
        ));
        for (k, season) in spec.seasons.iter().enumerate() {
            if season_live(s, k) {
                items.push(item(
                    &format!("s{s}-k{k}"),
                    ItemKind::Season {
                        series_id: series_id.clone(),
                        season_number: k as u32 + 1,
                    },
                    season.title,
                    season.synopsis,
                ));
            }
        }
        for (k, _) in spec.seasons.iter().enumerate() {
            if !season_live(s, k) {
                continue;
            }
            for (home, owner) in day.series.iter().enumerate() {
                for (e, ep) in owner.episodes.iter().enumerate() {
                    let at = ep.moved.unwrap_or((home, e % SEASONS));
                    if owner.item.present && ep.item.present && at == (s, k) {
                        items.push(item(
                            &format!("s{home}-e{e}"),
                            ItemKind::Episode {
                                series_id: series_id.clone(),
                                season_id: format!("s{s}-k{k}"),
                                episode_number: e as u32 + 1,
                            },
                            ep.item.title,
                            ep.item.synopsis,
                        ));
                    }
                }
            }
        }
    }
    items
}

// ---------------------------------------------------------------------------
// Running the planner, writing and reading the catalog.
// ---------------------------------------------------------------------------

/// One planned run and the catalog it produced, read back from its XML.
struct Run {
    plan: Plan,
    /// The entries read back (empty when no catalog was written).
    entries: Vec<Entry>,
    /// The reader's report (`None` when no catalog was written).
    report: Option<ReadReport>,
    /// What `next` returned, in order.
    sent: Vec<Item>,
}

fn request(now: i64, force_full: bool, allow_shrink: bool) -> Request {
    Request {
        now,
        force_full,
        allow_shrink,
    }
}

/// Plans `export` (holding `held`), and when the outcome is Send writes the
/// catalog the way the caller does and reads it back with the state as the
/// known items.
fn run(state: &CatalogState, request: Request, export: &[Item], held: &[&str]) -> Run {
    let mut planner = Planner::new(state.clone(), Policy::default(), request);
    let mut sent = Vec::new();
    for item in export {
        if let Some(item) = planner
            .next(item.clone())
            .expect("the planner takes the item")
        {
            sent.push(item);
        }
    }
    for id in held {
        planner.hold(id);
    }
    let plan = planner.finish().expect("the planner finishes");
    let (entries, report) = if plan.outcome == Outcome::Send {
        let (entries, report) = write_and_read(state, &plan, &sent);
        (entries, Some(report))
    } else {
        (Vec::new(), None)
    };
    Run {
        plan,
        entries,
        report,
        sent,
    }
}

fn write_and_read(state: &CatalogState, plan: &Plan, sent: &[Item]) -> (Vec<Entry>, ReadReport) {
    let header = CatalogHeader {
        id: state.catalog_id.clone(),
        version: plan.catalog_version,
        action: Action::Upsert,
    };
    let mut writer = CatalogWriter::new(Vec::new(), &header).expect("the header is valid");
    for item in sent {
        writer.write_item(item).expect("the item is written");
    }
    if let Some(keepalive) = &plan.keepalive {
        writer
            .write_item(keepalive)
            .expect("the keep-alive is written");
    }
    // A full removes by omission: its `deletes` are listed, never written.
    if plan.kind == SubmissionType::Update {
        for (delete, kind) in &plan.deletes {
            writer
                .delete(delete.clone(), *kind)
                .expect("the delete is queued");
        }
    }
    let (xml, _) = writer.finish().expect("the catalog is finished");
    let options = ReadOptions {
        known: Some(state),
        ..ReadOptions::default()
    };
    let mut reader = CatalogReader::new(&xml[..], options).expect("in-memory input");
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry() {
        entries.push(entry);
    }
    let report = reader.finish();
    assert_eq!(
        report.header.as_ref(),
        Some(&header),
        "the root reads back as written"
    );
    (entries, report)
}

fn findings_text(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
}

fn report_text(report: &ReadReport) -> String {
    report.findings.iter().map(|f| format!("{f}\n")).collect()
}

fn assert_valid(run: &Run, context: &str) {
    let report = run.report.as_ref().expect("a catalog was written");
    assert!(
        report.is_valid(),
        "{context}: the catalog read back is invalid:\n{}\nentries: {:#?}",
        report_text(report),
        run.entries
    );
}

fn items_of(entries: &[Entry]) -> Vec<&Item> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Item(item) => Some(item),
            Entry::Delete(_) => None,
        })
        .collect()
}

fn deletes_of(entries: &[Entry]) -> Vec<&Delete> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Delete(delete) => Some(delete),
            Entry::Item(_) => None,
        })
        .collect()
}

/// An item with its version blanked, for comparing content.
fn content(item: &Item) -> Item {
    Item {
        version: 0,
        ..item.clone()
    }
}

// ---------------------------------------------------------------------------
// Amazon's side.
// ---------------------------------------------------------------------------

/// What Amazon holds: the live items, and per id the highest version seen.
#[derive(Debug, Default, Clone)]
struct Amazon {
    live: BTreeMap<String, Item>,
    seen: HashMap<String, u64>,
}

impl Amazon {
    /// Checks an upsert against what Amazon saw before, then records it.
    fn check_upsert(&self, item: &Item, keepalive: Option<&str>, kind: SubmissionType) {
        let seen = self.seen.get(&item.id).copied();
        let before = self.live.get(&item.id);
        let changed = before.is_none_or(|b| content(b) != content(item));
        if let Some(seen) = seen {
            assert!(
                item.version >= seen,
                "{:?} sent at version {} below the {seen} Amazon saw",
                item.id,
                item.version
            );
            if changed {
                assert!(
                    item.version > seen,
                    "{:?} is new or changed but sent at version {}, not above the {seen} Amazon saw",
                    item.id,
                    item.version
                );
            }
        }
        if kind == SubmissionType::Update && !changed {
            assert_eq!(
                Some(item.id.as_str()),
                keepalive,
                "{:?} is unchanged but in an update (and is not the keep-alive)",
                item.id
            );
            assert!(
                item.version > seen.unwrap_or(0),
                "the keep-alive {:?} goes out at a higher version",
                item.id
            );
        }
    }

    /// Applies a catalog read back from XML, checking it on the way.
    fn apply(&mut self, kind: SubmissionType, entries: &[Entry], keepalive: Option<&str>) {
        let items = items_of(entries);
        let deletes = deletes_of(entries);
        for item in &items {
            self.check_upsert(item, keepalive, kind);
        }
        match kind {
            SubmissionType::Full => {
                assert!(
                    deletes.is_empty(),
                    "a full catalog carries deletes: {deletes:?}"
                );
                self.live.clear();
            }
            SubmissionType::Update => {}
        }
        for item in &items {
            let seen = self.seen.entry(item.id.clone()).or_default();
            *seen = (*seen).max(item.version);
            self.live.insert(item.id.clone(), (*item).clone());
        }
        // Deletes: each of a live item, above its last version, and no
        // parent before any of its children (as Amazon knows them now).
        let parent_of = |live: &BTreeMap<String, Item>, id: &str| {
            live.get(id)
                .and_then(|i| i.kind.parent_id().map(str::to_owned))
        };
        for (at, delete) in deletes.iter().enumerate() {
            for later in &deletes[at + 1..] {
                assert_ne!(
                    parent_of(&self.live, &later.id).as_deref(),
                    Some(delete.id.as_str()),
                    "{:?} is deleted before its child {:?}",
                    delete.id,
                    later.id
                );
            }
        }
        for delete in &deletes {
            assert!(
                self.live.contains_key(&delete.id),
                "Delete of {:?}, which is not live at Amazon",
                delete.id
            );
            let seen = self.seen.get(&delete.id).copied().unwrap_or(0);
            assert!(
                delete.version > seen,
                "Delete of {:?} at version {}, not above the {seen} Amazon saw",
                delete.id,
                delete.version
            );
            self.seen.insert(delete.id.clone(), delete.version);
            self.live.remove(&delete.id);
        }
        for item in self.live.values() {
            if let Some(parent) = item.kind.parent_id() {
                assert!(
                    self.live.contains_key(parent),
                    "{:?} stays live but its parent {parent:?} is gone",
                    item.id
                );
            }
        }
    }

    /// Amazon holds exactly `export`: same ids, same content.
    fn assert_holds(&self, export: &[Item]) {
        let expected: BTreeMap<&str, Item> =
            export.iter().map(|i| (i.id.as_str(), content(i))).collect();
        let actual: BTreeMap<&str, Item> = self
            .live
            .iter()
            .map(|(id, i)| (id.as_str(), content(i)))
            .collect();
        assert_eq!(actual, expected, "Amazon does not hold the latest export");
    }

    /// The state agrees with Amazon: live ids, versions, kinds and parents.
    fn assert_agrees_with(&self, state: &CatalogState) {
        let mut live_in_state = 0;
        for (id, known) in state.iter() {
            let seen = self.seen.get(id).copied();
            assert_eq!(
                Some(known.version),
                seen,
                "the state's version of {id:?} is not the last Amazon saw"
            );
            match known.status {
                Status::Live => {
                    live_in_state += 1;
                    let item = self.live.get(id).unwrap_or_else(|| {
                        panic!("the state says {id:?} is live; Amazon has no such item")
                    });
                    assert_eq!(known.kind, item.kind.tag(), "{id:?}");
                    assert_eq!(known.parent.as_deref(), item.kind.parent_id(), "{id:?}");
                }
                Status::Deleted => assert!(
                    !self.live.contains_key(id),
                    "the state says {id:?} is deleted; Amazon still has it"
                ),
                Status::Rejected => panic!("nothing is rejected in this model"),
            }
        }
        assert_eq!(
            live_in_state,
            self.live.len(),
            "live items: state vs Amazon"
        );
    }
}

/// What Amazon must hold after a day: the export's loaded items; in an
/// update also each held item Amazon had, with the content it had, as long
/// as its parent stays (a full keeps only what it lists). Held items are
/// movies and episodes only, so a held item's parent is never held.
fn expected_at_amazon(
    amazon: &Amazon,
    kind: SubmissionType,
    loaded: &[Item],
    held: &[&str],
) -> Vec<Item> {
    let mut expected = loaded.to_vec();
    if kind == SubmissionType::Update {
        for id in held {
            let Some(before) = amazon.live.get(*id) else {
                continue;
            };
            let parent_stays = before
                .kind
                .parent_id()
                .is_none_or(|p| loaded.iter().any(|i| i.id == p));
            if parent_stays {
                expected.push(before.clone());
            }
        }
    }
    expected
}

/// Runs a sequence of days through planner, writer, reader and Amazon.
fn check_days(days: &[DaySpec]) {
    let mut state = CatalogState::new("MODEL");
    let mut amazon = Amazon::default();
    let mut now = T0;
    let mut export = Vec::new();
    for (n, day) in days.iter().enumerate() {
        now += day.advance_days * DAY;
        if n == 0 || !day.quiet {
            export = export_of(day);
        }
        let context = format!("day {n} (now = T0 + {} days)", (now - T0) / DAY);
        // Some rows of live movies and episodes could not be loaded.
        let holdable: Vec<&str> = export
            .iter()
            .filter(|i| matches!(i.kind.tag(), KindTag::Movie | KindTag::Episode))
            .filter(|i| state.get(&i.id).is_some_and(|s| s.status == Status::Live))
            .map(|i| i.id.as_str())
            .collect();
        let mut held: Vec<&str> = if holdable.is_empty() {
            Vec::new()
        } else {
            day.holds.iter().map(|pick| *pick.get(&holdable)).collect()
        };
        held.sort_unstable();
        held.dedup();
        let loaded: Vec<Item> = export
            .iter()
            .filter(|i| !held.contains(&i.id.as_str()))
            .cloned()
            .collect();

        let run = run(&state, request(now, day.force_full, true), &loaded, &held);
        let plan = &run.plan;

        let full_due = state
            .last_full
            .is_none_or(|at| now - at >= FULL_AFTER_DAYS * DAY);
        let expected_kind = if day.force_full || full_due {
            SubmissionType::Full
        } else {
            SubmissionType::Update
        };
        assert_eq!(plan.kind, expected_kind, "{context}: kind by cadence");
        let counts = &plan.counts;
        let seen: u64 = (0..4)
            .map(|k| counts.new[k] + counts.changed[k] + counts.unchanged[k])
            .sum();
        assert_eq!(
            seen,
            loaded.len() as u64,
            "{context}: every loaded item is counted once"
        );
        assert_eq!(counts.held, held.len() as u64, "{context}");
        // Findings only about held rows: deleted with their parent (update),
        // or gone by omission (full).
        for finding in &plan.findings {
            let expected = match plan.kind {
                SubmissionType::Update => {
                    finding.rule == Rule::ParentMissing
                        && finding
                            .item_id
                            .as_deref()
                            .is_some_and(|id| held.contains(&id))
                }
                SubmissionType::Full => finding.rule == Rule::RemovalsHeld && !held.is_empty(),
            };
            assert!(expected, "{context}: unexpected finding: {finding}");
        }
        let expected = expected_at_amazon(&amazon, plan.kind, &loaded, &held);

        match &plan.outcome {
            Outcome::Refused(why) => panic!("{context}: refused with allow_shrink: {why}"),
            Outcome::NothingToDo => {
                assert_eq!(plan.kind, SubmissionType::Update, "{context}");
                assert!(run.sent.is_empty() && plan.deletes.is_empty(), "{context}");
                assert!(plan.keepalive.is_none(), "{context}");
                assert!(plan.new_state.is_none(), "{context}: nothing to commit");
                // The keep-alive clock runs from the last update (from the
                // last full before any update), as `Policy` documents.
                let last = state.last_update.or(state.last_full).unwrap();
                assert!(now - last < 4 * DAY, "{context}: the keep-alive was due");
                amazon.assert_holds(&expected);
            }
            Outcome::Send => {
                assert_valid(&run, &context);
                let catalog = &run.entries;
                match plan.kind {
                    SubmissionType::Full => {
                        let ids: Vec<&str> =
                            items_of(catalog).iter().map(|i| i.id.as_str()).collect();
                        let expected: Vec<&str> = loaded.iter().map(|i| i.id.as_str()).collect();
                        assert_eq!(ids, expected, "{context}: a full lists every loaded item");
                        assert!(
                            deletes_of(catalog).is_empty(),
                            "{context}: a full has no deletes"
                        );
                        // It lists what it removes by omission: what Amazon
                        // has that is not loaded (held rows included).
                        let mut removed: Vec<&str> =
                            plan.deletes.iter().map(|(d, _)| d.id.as_str()).collect();
                        removed.sort_unstable();
                        let gone: Vec<&str> = amazon
                            .live
                            .keys()
                            .map(String::as_str)
                            .filter(|id| !loaded.iter().any(|i| i.id == *id))
                            .collect();
                        assert_eq!(removed, gone, "{context}: the removals of a full");
                    }
                    SubmissionType::Update => {
                        let written = items_of(catalog).len() + deletes_of(catalog).len();
                        assert!(written > 0, "{context}: an update sent with nothing in it");
                        if let Some(keepalive) = &plan.keepalive {
                            assert_eq!(written, 1, "{context}: a keep-alive goes alone");
                            assert!(
                                now - state.last_update.or(state.last_full).unwrap() >= 4 * DAY
                            );
                            let before = state.get(&keepalive.id).unwrap();
                            assert_eq!(keepalive.version, before.version + 1, "{context}");
                        }
                        for id in &held {
                            assert!(
                                !items_of(catalog).iter().any(|i| i.id == *id),
                                "{context}: held {id:?} was sent"
                            );
                        }
                    }
                }
                amazon.apply(
                    plan.kind,
                    catalog,
                    plan.keepalive.as_ref().map(|i| i.id.as_str()),
                );
                amazon.assert_holds(&expected);
                let new_state = run.plan.new_state.expect("Send carries the new state");
                assert_eq!(new_state.catalog_version, state.catalog_version + 1);
                amazon.assert_agrees_with(&new_state);
                state = new_state;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the sequence of exports, Amazon ends each day holding exactly
    /// the latest export (held rows as they were, in an update), through
    /// valid catalogs whose versions only go up.
    #[test]
    fn amazon_holds_the_latest_export_every_day(days in prop::collection::vec(day_spec(), 3..=8)) {
        check_days(&days);
    }
}

// ---------------------------------------------------------------------------
// The shrink guard.
// ---------------------------------------------------------------------------

fn movies(n: usize) -> Vec<Item> {
    (0..n).map(|i| movie(&format!("m{i:03}"), 0)).collect()
}

/// A state with `live` movies sent in one full.
fn state_with_movies(live: usize) -> CatalogState {
    let run = run(
        &CatalogState::new("C"),
        request(T0, false, false),
        &movies(live),
        &[],
    );
    assert_eq!(run.plan.kind, SubmissionType::Full);
    let state = run.plan.new_state.unwrap();
    assert_eq!(state.live_count(), live as u64);
    state
}

/// The outcome of a forced full keeping only the first `keep` of the movies.
fn forced_full(state: &CatalogState, keep: usize, allow_shrink: bool) -> Run {
    let export = movies(state.len());
    let run = run(
        state,
        request(T0 + DAY, true, allow_shrink),
        &export[..keep],
        &[],
    );
    assert_eq!(run.plan.kind, SubmissionType::Full);
    run
}

#[test]
fn a_full_may_drop_exactly_ten_percent() {
    let state = state_with_movies(100);
    let run = forced_full(&state, 90, false);
    assert_eq!(run.plan.outcome, Outcome::Send);
    assert_eq!(run.plan.counts.removed[KindTag::Movie as usize], 10);
    assert_valid(&run, "90 of 100");
    let new_state = run.plan.new_state.unwrap();
    assert_eq!(new_state.live_count(), 90);
}

#[test]
fn a_full_dropping_one_more_than_ten_percent_is_refused_with_the_counts() {
    let state = state_with_movies(100);
    let run = forced_full(&state, 89, false);
    let Outcome::Refused(why) = &run.plan.outcome else {
        panic!("dropping 11 of 100 was not refused: {:?}", run.plan.outcome);
    };
    assert!(why.contains("11 of 100"), "{why}");
    assert!(why.contains("11.0%") && why.contains("10.0%"), "{why}");
    assert!(
        run.plan.new_state.is_none(),
        "a refused plan commits nothing"
    );

    let state = state_with_movies(9);
    let run = forced_full(&state, 8, false);
    let Outcome::Refused(why) = &run.plan.outcome else {
        panic!("dropping 1 of 9 was not refused: {:?}", run.plan.outcome);
    };
    assert!(why.contains("1 of 9"), "{why}");
}

#[test]
fn allow_shrink_overrides_the_guard_for_one_run() {
    let state = state_with_movies(100);
    let run = forced_full(&state, 50, true);
    assert_eq!(run.plan.outcome, Outcome::Send);
    assert_valid(&run, "50 of 100, overridden");
    let new_state = run.plan.new_state.unwrap();
    assert_eq!(new_state.live_count(), 50);
    assert_eq!(new_state.get("m099").unwrap().status, Status::Deleted);
    // The override was for that run only.
    let run = forced_full(&new_state, 40, false);
    assert!(
        matches!(run.plan.outcome, Outcome::Refused(_)),
        "{:?}",
        run.plan.outcome
    );
}

#[test]
fn the_guard_rounds_down_on_a_non_round_live_count() {
    // 10% of 95 is 9.5: 9 may go, 10 may not.
    let state = state_with_movies(95);
    assert_eq!(forced_full(&state, 86, false).plan.outcome, Outcome::Send);
    let run = forced_full(&state, 85, false);
    let Outcome::Refused(why) = &run.plan.outcome else {
        panic!("dropping 10 of 95 was not refused: {:?}", run.plan.outcome);
    };
    assert!(why.contains("10 of 95"), "{why}");
}

#[test]
fn the_guard_counts_descendants_of_a_removed_series() {
    // 1 series + 2 seasons + 6 episodes + 40 movies = 49 live; dropping the
    // series drops 9 (18%), though the export lost one row.
    let mut export = hierarchy("s", 2, 3);
    export.extend(movies(40));
    let run = run(
        &CatalogState::new("C"),
        request(T0, false, false),
        &export,
        &[],
    );
    let state = run.plan.new_state.unwrap();
    let without: Vec<Item> = export
        .iter()
        .filter(|i| !i.id.starts_with('s'))
        .cloned()
        .collect();
    let run = self::run(&state, request(T0 + DAY, true, false), &without, &[]);
    let Outcome::Refused(why) = &run.plan.outcome else {
        panic!("dropping 9 of 49 was not refused: {:?}", run.plan.outcome);
    };
    assert!(why.contains("9 of 49"), "{why}");
}

// ---------------------------------------------------------------------------
// Removals and holds.
// ---------------------------------------------------------------------------

/// A series `id` with `seasons` seasons of `episodes` episodes each.
fn hierarchy(id: &str, seasons: usize, episodes: usize) -> Vec<Item> {
    let mut items = vec![series(id)];
    for k in 0..seasons {
        let season_id = format!("{id}-k{k}");
        items.push(season(&season_id, id, k as u32 + 1));
        for e in 0..episodes {
            items.push(episode(
                &format!("{season_id}-e{e}"),
                id,
                &season_id,
                e as u32 + 1,
            ));
        }
    }
    items
}

/// A state where `export` went out in a full at T0, and the matching Amazon.
fn sent_in_full(export: &[Item]) -> (CatalogState, Amazon) {
    let run = run(
        &CatalogState::new("C"),
        request(T0, false, false),
        export,
        &[],
    );
    assert_valid(&run, "the first full");
    let mut amazon = Amazon::default();
    amazon.apply(SubmissionType::Full, &run.entries, None);
    (run.plan.new_state.unwrap(), amazon)
}

#[test]
fn removing_a_series_deletes_its_seasons_and_episodes_children_first() {
    let mut export = hierarchy("a", 2, 2);
    export.extend(hierarchy("b", 1, 1));
    export.push(movie("m", 0));
    let (state, mut amazon) = sent_in_full(&export);

    // Series "a" is gone; two of its episodes are still listed, in rows that
    // could not be loaded.
    let today: Vec<Item> = export
        .iter()
        .filter(|i| !i.id.starts_with('a'))
        .cloned()
        .collect();
    let run = run(
        &state,
        request(T0 + DAY, false, false),
        &today,
        &["a-k0-e1", "a-k1-e0"],
    );
    let plan = &run.plan;
    assert_eq!(plan.kind, SubmissionType::Update);
    assert_eq!(plan.outcome, Outcome::Send);
    assert_valid(&run, "series removed");
    let order: Vec<&str> = deletes_of(&run.entries)
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "a-k0-e0", "a-k0-e1", "a-k1-e0", "a-k1-e1", "a-k0", "a-k1", "a"
        ],
        "episodes, then seasons, then the series"
    );
    for delete in deletes_of(&run.entries) {
        assert_eq!(
            delete.version, 2,
            "{}: one above the version sent",
            delete.id
        );
    }
    assert_eq!(plan.counts.removed, [0, 1, 2, 4]);
    assert_eq!(plan.counts.held, 2);
    // The held rows are deleted with their series, each with a finding.
    let orphans: Vec<&str> = plan
        .findings
        .iter()
        .filter(|f| f.rule == Rule::ParentMissing)
        .filter_map(|f| f.item_id.as_deref())
        .collect();
    assert_eq!(
        orphans,
        ["a-k0-e1", "a-k1-e0"],
        "{}",
        findings_text(&plan.findings)
    );
    amazon.apply(SubmissionType::Update, &run.entries, None);
    amazon.assert_holds(&today);
    let new_state = run.plan.new_state.unwrap();
    amazon.assert_agrees_with(&new_state);
}

#[test]
fn a_held_row_whose_parent_stays_is_kept_live_and_not_sent() {
    let export = hierarchy("s", 1, 3);
    let (state, amazon) = sent_in_full(&export);
    // Episode e1 is held; e2 changed.
    let mut today: Vec<Item> = export
        .iter()
        .filter(|i| i.id != "s-k0-e1")
        .cloned()
        .collect();
    let e2 = today.iter_mut().find(|i| i.id == "s-k0-e2").unwrap();
    e2.meta.title.text.push_str(" (director's cut)");
    let mut run = run(
        &state,
        request(T0 + DAY, false, false),
        &today,
        &["s-k0-e1"],
    );
    assert_eq!(run.plan.outcome, Outcome::Send);
    assert_valid(&run, "a held episode");
    let sent: Vec<&str> = items_of(&run.entries)
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(sent, ["s-k0-e2"]);
    assert!(run.plan.deletes.is_empty());
    assert_eq!(run.plan.counts.held, 1);
    let new_state = run.plan.new_state.take().unwrap();
    assert_eq!(
        new_state.get("s-k0-e1"),
        state.get("s-k0-e1"),
        "the held item is as it was"
    );
    let mut amazon = amazon;
    amazon.apply(SubmissionType::Update, &run.entries, None);
    amazon.assert_agrees_with(&new_state);

    // With nothing else to send, a held row gives nothing to do.
    let run = self::run(
        &new_state,
        request(T0 + 2 * DAY, false, false),
        &today,
        &["s-k0-e1"],
    );
    assert_eq!(run.plan.outcome, Outcome::NothingToDo);
}

#[test]
fn hold_all_removals_sends_no_deletes_and_says_why() {
    let mut export = hierarchy("s", 1, 2);
    export.extend(movies(3));
    let (state, amazon) = sent_in_full(&export);
    // The series and a movie are absent, but some rows could not be read.
    let mut today: Vec<Item> = movies(3)[..2].to_vec();
    today[0].meta.synopsis = Some("changed".into());
    let mut planner = Planner::new(
        state.clone(),
        Policy::default(),
        request(T0 + DAY, false, false),
    );
    let mut sent = Vec::new();
    for item in today.iter().cloned() {
        sent.extend(planner.next(item).unwrap());
    }
    planner.hold_all_removals("3 rows of the export could not be read");
    let mut plan = planner.finish().unwrap();
    assert_eq!(plan.kind, SubmissionType::Update);
    assert_eq!(plan.outcome, Outcome::Send);
    assert!(plan.deletes.is_empty(), "{:?}", plan.deletes);
    assert_eq!(plan.counts.removed, [0; 4]);
    let [finding] = &plan.findings[..] else {
        panic!("one finding expected:\n{}", findings_text(&plan.findings));
    };
    assert_eq!(finding.rule, Rule::RemovalsHeld);
    assert!(
        finding.message.contains("5 live items"),
        "{}",
        finding.message
    );
    assert!(
        finding
            .message
            .contains("3 rows of the export could not be read"),
        "{}",
        finding.message
    );
    let (entries, report) = write_and_read(&state, &plan, &sent);
    assert!(report.is_valid(), "{}", report_text(&report));
    let new_state = plan.new_state.take().unwrap();
    assert_eq!(
        new_state.live_count(),
        state.live_count(),
        "nothing is marked deleted"
    );
    let mut amazon = amazon;
    amazon.apply(SubmissionType::Update, &entries, None);
    amazon.assert_agrees_with(&new_state);
}

// ---------------------------------------------------------------------------
// Keep-alive.
// ---------------------------------------------------------------------------

#[test]
fn the_keepalive_after_four_quiet_days_resends_one_item_one_version_up() {
    let mut export = hierarchy("s", 1, 2);
    export.extend(movies(2));
    let (state, mut amazon) = sent_in_full(&export);

    let quiet = run(
        &state,
        request(T0 + 4 * DAY - 1, false, false),
        &export,
        &[],
    );
    assert_eq!(quiet.plan.outcome, Outcome::NothingToDo);

    let run = run(&state, request(T0 + 4 * DAY, false, false), &export, &[]);
    assert_eq!(run.plan.kind, SubmissionType::Update);
    assert_eq!(run.plan.outcome, Outcome::Send);
    assert!(run.sent.is_empty() && run.plan.deletes.is_empty());
    let keepalive = run.plan.keepalive.clone().expect("a keep-alive is due");
    assert_valid(&run, "keep-alive");
    let [Entry::Item(only)] = &run.entries[..] else {
        panic!(
            "the keep-alive catalog holds exactly one item: {:?}",
            run.entries
        );
    };
    assert_eq!(only, &keepalive);
    let before = state.get(&keepalive.id).unwrap();
    assert_eq!(only.version, before.version + 1);
    let original = export.iter().find(|i| i.id == only.id).unwrap();
    assert_eq!(content(only), content(original), "resent unchanged");

    amazon.apply(SubmissionType::Update, &run.entries, Some(&keepalive.id));
    let new_state = run.plan.new_state.unwrap();
    amazon.assert_agrees_with(&new_state);
    assert_eq!(new_state.last_update, Some(T0 + 4 * DAY));
    // The clock restarts: the next quiet day has nothing to do, and the one
    // after four more days resends another item (the one sent longest ago).
    let again = self::run(
        &new_state,
        request(T0 + 5 * DAY, false, false),
        &export,
        &[],
    );
    assert_eq!(again.plan.outcome, Outcome::NothingToDo);
    let again = self::run(
        &new_state,
        request(T0 + 8 * DAY, false, false),
        &export,
        &[],
    );
    let next = again.plan.keepalive.expect("the next keep-alive");
    assert_ne!(next.id, keepalive.id, "the item sent longest ago goes next");
}

// ---------------------------------------------------------------------------
// Moves.
// ---------------------------------------------------------------------------

/// Day 1: series s, seasons k0 and k1, episode e in k0.
/// Day 2: k0 is gone and e has moved to k1.
fn season_emptied_by_a_move() -> (CatalogState, Amazon, Vec<Item>, Run) {
    let day1 = vec![
        series("s"),
        season("s-k0", "s", 1),
        season("s-k1", "s", 2),
        episode("e", "s", "s-k0", 1),
    ];
    let (state, amazon) = sent_in_full(&day1);
    let day2 = vec![
        series("s"),
        season("s-k1", "s", 2),
        episode("e", "s", "s-k1", 1),
    ];
    let run = run(&state, request(T0 + DAY, false, false), &day2, &[]);
    (state, amazon, day2, run)
}

#[test]
fn an_episode_moved_out_of_a_removed_season_stays_live() {
    let (_, mut amazon, day2, run) = season_emptied_by_a_move();
    let plan = &run.plan;
    assert_eq!(plan.kind, SubmissionType::Update);
    assert!(
        plan.findings.is_empty(),
        "{}",
        findings_text(&plan.findings)
    );
    let sent: Vec<(&str, u64)> = items_of(&run.entries)
        .iter()
        .map(|i| (i.id.as_str(), i.version))
        .collect();
    assert_eq!(sent, [("e", 2)]);
    let deletes: Vec<&str> = deletes_of(&run.entries)
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(deletes, ["s-k0"], "only the emptied season goes");
    assert_valid(&run, "a move");
    amazon.apply(SubmissionType::Update, &run.entries, None);
    amazon.assert_holds(&day2);
    amazon.assert_agrees_with(run.plan.new_state.as_ref().unwrap());
}

/// A child re-sent under another parent in the same catalog is no orphan of
/// its deleted old parent.
#[test]
fn a_season_emptied_by_a_move_can_be_deleted() {
    let (_, _, _, run) = season_emptied_by_a_move();
    assert_valid(&run, "a move");
}

/// Regression: an episode moved to a season new this run (recorded after
/// the old items) made `finish` index past the old items and panic.
#[test]
fn an_episode_moved_to_a_new_season_is_planned() {
    let day1 = vec![
        series("s"),
        season("s-k0", "s", 1),
        episode("e", "s", "s-k0", 1),
    ];
    let (state, mut amazon) = sent_in_full(&day1);
    let day2 = vec![
        series("s"),
        season("s-k0", "s", 1),
        season("s-k1", "s", 2),
        episode("e", "s", "s-k1", 1),
    ];
    let run = run(&state, request(T0 + DAY, false, false), &day2, &[]);
    assert_valid(&run, "a move to a new season");
    amazon.apply(SubmissionType::Update, &run.entries, None);
    amazon.assert_holds(&day2);
    amazon.assert_agrees_with(run.plan.new_state.as_ref().unwrap());
}

/// Regression: descendants were found in record order, which a move breaks
/// (the episode is recorded before the season it moved to). When that
/// season's series goes while the episode's row is held, the episode must
/// go too, children first.
#[test]
fn a_held_episode_goes_with_a_removed_season_recorded_after_it() {
    let day1 = vec![
        series("a"),
        season("a-k0", "a", 1),
        episode("e", "a", "a-k0", 1),
        series("b"),
    ];
    let (state, mut amazon) = sent_in_full(&day1);
    // Day 2: e moves to b's new season.
    let day2 = vec![
        series("a"),
        season("a-k0", "a", 1),
        series("b"),
        season("b-k0", "b", 1),
        episode("e", "b", "b-k0", 1),
    ];
    let run2 = run(&state, request(T0 + DAY, false, false), &day2, &[]);
    assert_valid(&run2, "day 2");
    amazon.apply(SubmissionType::Update, &run2.entries, None);
    let state = run2.plan.new_state.unwrap();
    // Day 3: series b is gone; e's row is still listed but could not be loaded.
    let day3 = vec![series("a"), season("a-k0", "a", 1)];
    let run3 = run(&state, request(T0 + 2 * DAY, false, false), &day3, &["e"]);
    assert_valid(&run3, "day 3");
    let deletes: Vec<&str> = deletes_of(&run3.entries)
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(deletes, ["e", "b-k0", "b"]);
    let orphans: Vec<Option<&str>> = run3
        .plan
        .findings
        .iter()
        .map(|f| f.item_id.as_deref())
        .collect();
    assert_eq!(
        orphans,
        [Some("e")],
        "{}",
        findings_text(&run3.plan.findings)
    );
    amazon.apply(SubmissionType::Update, &run3.entries, None);
    amazon.assert_holds(&day3);
    amazon.assert_agrees_with(run3.plan.new_state.as_ref().unwrap());
}

// ---------------------------------------------------------------------------
// Holds in a full.
// ---------------------------------------------------------------------------

/// A full cannot keep what it does not list: Amazon deletes every item
/// absent from it, held or not. The state must say so, or the item, once its
/// row loads again unchanged, would never be sent again.
#[test]
fn a_row_held_in_a_full_is_gone_at_amazon_and_comes_back_next_run() {
    let export = movies(20);
    let (state, mut amazon) = sent_in_full(&export);
    // A forced full in which m003's row could not be loaded.
    let today: Vec<Item> = export.iter().filter(|i| i.id != "m003").cloned().collect();
    let run = run(&state, request(T0 + DAY, true, false), &today, &["m003"]);
    let plan = &run.plan;
    assert_eq!(plan.kind, SubmissionType::Full);
    assert_eq!(plan.outcome, Outcome::Send);
    assert_eq!(plan.counts.held, 1);
    assert_eq!(
        plan.counts.removed[KindTag::Movie as usize],
        1,
        "it goes by omission"
    );
    assert!(
        plan.findings
            .iter()
            .any(|f| f.rule == Rule::RemovalsHeld && f.message.contains("1 held item is")),
        "{}",
        findings_text(&plan.findings)
    );
    assert_valid(&run, "a full with a held row");
    amazon.apply(SubmissionType::Full, &run.entries, None);
    let state = run.plan.new_state.unwrap();
    amazon.assert_agrees_with(&state);
    assert_eq!(state.get("m003").unwrap().status, Status::Deleted);

    // The row loads again, unchanged: it goes out again, one version up.
    let run = self::run(&state, request(T0 + 2 * DAY, false, false), &export, &[]);
    assert_eq!(run.plan.kind, SubmissionType::Update);
    let sent: Vec<(&str, u64)> = items_of(&run.entries)
        .iter()
        .map(|i| (i.id.as_str(), i.version))
        .collect();
    assert_eq!(sent, [("m003", 2)]);
    amazon.apply(SubmissionType::Update, &run.entries, None);
    amazon.assert_holds(&export);
    amazon.assert_agrees_with(run.plan.new_state.as_ref().unwrap());
}

/// `hold_all_removals` cannot hold anything in a full either: the absent
/// items go by omission, count against the shrink guard, and are said so.
#[test]
fn removals_cannot_be_held_in_a_full() {
    let export = movies(20);
    let (state, mut amazon) = sent_in_full(&export);
    let today = &export[..19];
    let mut planner = Planner::new(
        state.clone(),
        Policy::default(),
        request(T0 + DAY, true, false),
    );
    let mut sent = Vec::new();
    for item in today.iter().cloned() {
        sent.extend(planner.next(item).unwrap());
    }
    planner.hold_all_removals("2 rows could not be read");
    let mut plan = planner.finish().unwrap();
    assert_eq!(plan.kind, SubmissionType::Full);
    assert_eq!(plan.outcome, Outcome::Send);
    assert_eq!(plan.counts.removed[KindTag::Movie as usize], 1);
    let [finding] = &plan.findings[..] else {
        panic!("one finding expected:\n{}", findings_text(&plan.findings));
    };
    assert_eq!(finding.rule, Rule::RemovalsHeld);
    assert!(
        finding.message.contains("2 rows could not be read"),
        "{}",
        finding.message
    );
    let (entries, report) = write_and_read(&state, &plan, &sent);
    assert!(report.is_valid(), "{}", report_text(&report));
    amazon.apply(SubmissionType::Full, &entries, None);
    amazon.assert_agrees_with(&plan.new_state.take().unwrap());

    // More than the guard allows is refused, as for any full.
    let mut planner = Planner::new(
        state.clone(),
        Policy::default(),
        request(T0 + DAY, true, false),
    );
    for item in export[..10].iter().cloned() {
        planner.next(item).unwrap();
    }
    planner.hold_all_removals("half the rows could not be read");
    let plan = planner.finish().unwrap();
    assert!(
        matches!(plan.outcome, Outcome::Refused(_)),
        "{:?}",
        plan.outcome
    );
}

// ---------------------------------------------------------------------------
// The fields the source format gained with issue 16.
// ---------------------------------------------------------------------------

/// A movie with every field of issue 16 set.
fn rich_movie(id: &str) -> Item {
    use catalog_core::model::{ExternalId, Image, ReleaseDate, Title};
    let mut item = movie(id, 0);
    let meta = &mut item.meta;
    meta.external_ids = vec![ExternalId {
        scheme: "imdb".into(),
        id: "tt0113277".into(),
    }];
    meta.other_titles = vec![Title {
        locale: "de-DE".into(),
        text: "Heat – Die Jagd".into(),
        territories: "DE,AT".into(),
    }];
    meta.description = Some("Short & <sweet>".into());
    meta.other_descriptions = vec![LocalizedText {
        locale: "fr-FR".into(),
        text: "Court".into(),
    }];
    meta.synopsis = Some("Long".into());
    meta.other_synopses = vec![LocalizedText {
        locale: "ja-JP".into(),
        text: "長い".into(),
    }];
    meta.release_dates = vec![ReleaseDate {
        date: "1995-12-15".into(),
        release_type: Some("theatrical".into()),
    }];
    meta.keywords = vec!["heist".into()];
    meta.studios = vec!["Warner Bros.".into()];
    meta.images = vec![Image {
        kind: "cover".into(),
        url: "https://img.example.com/c.jpg".into(),
        aspect_ratio: Some("2:3".into()),
        mime_type: Some("image/jpeg".into()),
        resolution: Some("4K".into()),
    }];
    item
}

/// A change to any field of issue 16 makes the item changed: it alone is
/// resent, one version up; the catalog reads back valid against the state
/// it was planned from, and against the state it leads to (the reader
/// hashes what it reads as the planner hashed the export: the gate's
/// "same version, other content" check cannot fire on it).
#[test]
fn a_change_to_any_new_field_resends_the_item_one_version_up() {
    let export = vec![rich_movie("rich"), movie("plain", 1)];
    let (state, _) = sent_in_full(&export);
    let unchanged = run(&state, request(T0 + DAY, false, false), &export, &[]);
    assert_eq!(unchanged.plan.outcome, Outcome::NothingToDo);

    type Change = (&'static str, fn(&mut Metadata));
    let changes: [Change; 16] = [
        ("external id", |m| m.external_ids[0].id = "tt0113278".into()),
        ("external id scheme", |m| {
            m.external_ids[0].scheme = "tmdb".into()
        }),
        ("another title", |m| m.other_titles[0].text = "Heat".into()),
        ("title territories", |m| {
            m.other_titles[0].territories = "DE".into()
        }),
        ("title language", |m| {
            m.other_titles[0].locale = "de-AT".into()
        }),
        ("description", |m| m.description = Some("Shorter".into())),
        ("no description", |m| m.description = None),
        ("other description", |m| {
            m.other_descriptions[0].text = "Bref".into()
        }),
        ("other synopsis", |m| {
            m.other_synopses[0].locale = "ja".into()
        }),
        ("release type", |m| m.release_dates[0].release_type = None),
        ("another release date", |m| {
            m.release_dates.push(catalog_core::model::ReleaseDate {
                date: "2017-09-05".into(),
                release_type: Some("streaming".into()),
            })
        }),
        ("keyword", |m| m.keywords.push("los angeles".into())),
        ("studio", |m| m.studios[0] = "Regency".into()),
        ("aspect ratio", |m| {
            m.images[0].aspect_ratio = Some("16:9".into())
        }),
        ("MIME type", |m| m.images[0].mime_type = None),
        ("resolution", |m| m.images[0].resolution = Some("HD".into())),
    ];
    for (what, change) in changes {
        let mut today = export.clone();
        change(&mut today[0].meta);
        let mut run = run(&state, request(T0 + DAY, false, false), &today, &[]);
        assert_eq!(run.plan.outcome, Outcome::Send, "{what}");
        assert_eq!(run.plan.kind, SubmissionType::Update, "{what}");
        assert_valid(&run, what);
        let sent: Vec<(&str, u64)> = run
            .sent
            .iter()
            .map(|i| (i.id.as_str(), i.version))
            .collect();
        assert_eq!(sent, [("rich", 2)], "{what}");
        let items = items_of(&run.entries);
        assert_eq!(items.len(), 1, "{what}");
        assert_eq!(content(items[0]), content(&today[0]), "{what}: read back");
        let new_state = run.plan.new_state.take().unwrap();
        let (_, again) = write_and_read(&new_state, &run.plan, &run.sent);
        assert!(again.is_valid(), "{what}: {}", report_text(&again));
    }
}
