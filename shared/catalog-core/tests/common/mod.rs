//! What the integration tests share: writing and reading whole catalogs, the
//! delete order the writer promises, and proptest strategies for valid
//! catalogs whose free text is as hostile to XML as it can be.
//!
//! Not every test file uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{self, Read, Write};

use catalog_core::model::{
    Action, CatalogHeader, Credit, Delete, Entry, ExternalId, Image, Item, ItemKind, KindTag,
    LocalizedText, Metadata, Offer, OfferKind, Price, Rating, ReleaseDate, Title,
};
use catalog_core::reader::{CatalogReader, ReadOptions, ReadReport};
use catalog_core::writer::{CatalogWriter, WriteError, WriteSummary};
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// A catalog as the writer is given it: items in order, deletes in the order queued.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub header: CatalogHeader,
    pub items: Vec<Item>,
    pub deletes: Vec<(Delete, KindTag)>,
}

impl Catalog {
    /// The entries a reader must give back: the items in the order written,
    /// then the deletes children first (episodes, then seasons, then series
    /// and movies together), each group in the order queued.
    ///
    /// Written out here rather than with `KindTag::delete_rank`, so the test
    /// does not trust the code it checks.
    ///
    /// A program comes back without its offers and deep link: they travel
    /// in the `OfferCatalog`, which the reader checks but does not fold
    /// back into the program (see [`Catalog::expected_offers`]).
    pub fn expected_entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .items
            .iter()
            .cloned()
            .map(|mut item| {
                item.meta.offers.clear();
                item.meta.deep_link = None;
                Entry::Item(item)
            })
            .collect();
        let groups: [&[KindTag]; 3] = [
            &[KindTag::Episode],
            &[KindTag::Season],
            &[KindTag::Series, KindTag::Movie],
        ];
        for group in groups {
            entries.extend(
                self.deletes
                    .iter()
                    .filter(|(_, kind)| group.contains(kind))
                    .map(|(delete, _)| Entry::Delete(delete.clone())),
            );
        }
        entries
    }

    /// How many `<ProgramOffers>` the writer writes: one per program and tier.
    pub fn expected_offers(&self) -> u64 {
        self.items
            .iter()
            .map(|item| {
                OfferKind::ALL
                    .iter()
                    .filter(|tier| item.meta.offers.iter().any(|o| o.kind == **tier))
                    .count() as u64
            })
            .sum()
    }

    /// Writes the catalog into `sink` and hands the sink back, unclosed.
    pub fn write_into<W: Write>(&self, sink: W) -> Result<(W, WriteSummary), WriteError> {
        let mut writer = CatalogWriter::new(sink, &self.header)?;
        for item in &self.items {
            writer.write_item(item)?;
        }
        for (delete, kind) in &self.deletes {
            writer.delete(delete.clone(), *kind)?;
        }
        writer.finish()
    }

    /// The plain XML document.
    pub fn to_xml(&self) -> (Vec<u8>, WriteSummary) {
        self.write_into(Vec::new())
            .expect("a valid catalog is written")
    }

    /// The document through a level-3 zstd encoder, its frame closed.
    pub fn to_zstd(&self) -> (Vec<u8>, WriteSummary) {
        let encoder = zstd::Encoder::new(Vec::new(), 3).expect("a zstd encoder");
        let (encoder, summary) = self
            .write_into(encoder)
            .expect("a valid catalog is written");
        (encoder.finish().expect("the zstd frame closes"), summary)
    }
}

/// Reads a whole document (plain or compressed) and returns its entries and report.
pub fn read_all<R: Read>(input: R) -> (Vec<Entry>, ReadReport) {
    let mut reader =
        CatalogReader::new(input, ReadOptions::default()).expect("in-memory input cannot fail");
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry() {
        entries.push(entry);
    }
    (entries, reader.finish())
}

/// Every finding of a report, one per line, for assertion messages.
pub fn findings_text(report: &ReadReport) -> String {
    report.findings.iter().map(|f| format!("{f}\n")).collect()
}

/// A `Read` that hands out at most `chunk` bytes per call, so every token,
/// entity reference and multi-byte character can straddle a buffer boundary.
#[derive(Debug)]
pub struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> Chunked<'a> {
    pub fn new(data: &'a [u8], chunk: usize) -> Chunked<'a> {
        Chunked {
            data,
            chunk: chunk.max(1),
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Whether XML 1.0 can carry `c` (written independently of `rules::is_xml_char`).
pub fn xml_can_carry(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Fragments of text that break naive XML writers or readers. Concatenated
/// into free-text fields; all of them are characters XML 1.0 can carry.
pub const HOSTILE: &[&str] = &[
    "<",
    ">",
    "&",
    "\"",
    "'",
    "]]>",
    "<![CDATA[",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "</Title>",
    "<Delete id=\"x\" version=\"9\"/>",
    "&amp;",
    "&#60;",
    "&#x3C;",
    "&lt;",
    "&quot;",
    "&unknown;",
    "&#0;",
    "🎬",
    "👩‍👩‍👧",
    "🇯🇵",
    "東京",
    "한국어",
    "e\u{301}",
    "\u{301}",
    "a\u{20DD}\u{0336}",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\r",
    "\r\r\n",
    " ",
    "   ",
    "\u{A0}",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{7F}",
    "\u{9F}",
    "\u{FEFF}",
    "\u{200B}",
    "\u{FFFD}",
    "\u{10FFFF}",
    "Fish & Chips",
    "O'Brien",
    "plain words",
    "x",
    "=",
    "/>",
    "\\",
];

/// Free text: 0–5 hostile fragments, now and then a random character XML can carry.
pub fn hostile_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        4 => select(HOSTILE).prop_map(str::to_owned),
        1 => any::<char>()
            .prop_filter("XML cannot carry it", |&c| xml_can_carry(c))
            .prop_map(String::from),
    ];
    prop::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat())
}

/// Hostile text that is not blank, for fields the rules require (title, image type).
pub fn non_blank_text() -> impl Strategy<Value = String> {
    hostile_text().prop_filter("the field must not be blank", |s| !s.trim().is_empty())
}

const LOCALES: &[&str] = &[
    "en-US",
    "de",
    "zh-Hant-TW",
    "fr-CA",
    "ja",
    "pt-BR",
    "es-419",
];
const DATES: &[&str] = &["2024-02-29", "1999-12-31", "2000-01-01", "1970-06-15"];
const URLS: &[&str] = &[
    "https://images.example.com/p.jpg?w=1000&h=1500",
    "http://img.example.com/a/b\"c'd<e>f&amp;g",
    "https://例え.jp/画像.png#]]>",
    "https://cdn.example.com",
];
const DEEP_LINKS: &[&str] = &[
    "myapp://title/1?a=1&b=2",
    "https://example.com/watch?v=<x>&t=\"1\"",
    "x-app+v.1:/a\"b'c&#60;",
    "urn:isbn:0451450523",
];
const REGIONS: &[&str] = &["US", "GB", "DE", "JP", "BR"];
const WINDOWS: &[(Option<&str>, Option<&str>)] = &[
    (None, None),
    (Some("2025-04-20T00:00:00Z"), None),
    (None, Some("2026-12-31T23:59:59Z")),
    (Some("2024-01-01T00:00:00Z"), Some("2024-01-01T00:00:01Z")),
    (
        Some("2025-04-20T00:00:00+02:00"),
        Some("2025-05-01T12:30:00.5-05:00"),
    ),
];
const AMOUNTS: &[&str] = &["0", "3.99", "10.5", "1234"];
const CURRENCIES: &[&str] = &["USD", "EUR", "JPY"];
const OFFER_KINDS: &[OfferKind] = &[
    OfferKind::Subscription,
    OfferKind::Free,
    OfferKind::Purchase,
    OfferKind::Rental,
];

/// An offer the rules accept: a price exactly when it is paid for.
pub fn offer() -> impl Strategy<Value = Offer> {
    (
        select(OFFER_KINDS),
        select(REGIONS),
        select(WINDOWS),
        select(AMOUNTS),
        select(CURRENCIES),
    )
        .prop_map(|(kind, region, (start, end), amount, currency)| Offer {
            kind,
            region: region.into(),
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
            price: kind.is_paid().then(|| Price {
                amount: amount.into(),
                currency: currency.into(),
            }),
        })
}

const SCHEMES: &[&str] = &["imdb", "tmdb", "eidr", "x&<\"'"];
const TERRITORIES: &[&str] = &["", "US", "US,CA", "GLOBAL"];
const RELEASE_TYPES: &[&str] = &["streaming", "theatrical", "dvd & <blu-ray>"];
const ASPECT_RATIOS: &[&str] = &["16:9", "2:3", "2.39:1"];
const MIME_TYPES: &[&str] = &["image/jpeg", "image/png", "image/svg+xml"];

/// What the source format of issue 16 added to the metadata, with hostile
/// text in every free-text field.
#[allow(clippy::type_complexity)]
fn extra_metadata() -> impl Strategy<
    Value = (
        Vec<ExternalId>,
        Vec<Title>,
        Option<String>,
        Vec<LocalizedText>,
        Vec<LocalizedText>,
        Vec<ReleaseDate>,
        Vec<String>,
        Vec<String>,
        Vec<(Option<&'static str>, Option<&'static str>, Option<String>)>,
    ),
> {
    let localized = || {
        prop::collection::vec(
            (select(LOCALES), hostile_text()).prop_map(|(locale, text)| LocalizedText {
                locale: locale.into(),
                text,
            }),
            0..3,
        )
    };
    (
        prop::collection::vec(
            (select(SCHEMES), non_blank_text()).prop_map(|(scheme, id)| ExternalId {
                scheme: scheme.into(),
                id,
            }),
            0..3,
        ),
        prop::collection::vec(
            (select(LOCALES), non_blank_text(), select(TERRITORIES)).prop_map(
                |(locale, text, territories)| Title {
                    locale: locale.into(),
                    text,
                    territories: territories.into(),
                },
            ),
            0..3,
        ),
        prop::option::of(hostile_text()),
        localized(),
        localized(),
        prop::collection::vec(
            (select(DATES), prop::option::of(select(RELEASE_TYPES))).prop_map(|(date, kind)| {
                ReleaseDate {
                    date: date.into(),
                    release_type: kind.map(str::to_owned),
                }
            }),
            0..3,
        ),
        prop::collection::vec(hostile_text(), 0..3),
        prop::collection::vec(hostile_text(), 0..3),
        // Attributes for the first images.
        prop::collection::vec(
            (
                prop::option::of(select(ASPECT_RATIOS)),
                prop::option::of(select(MIME_TYPES)),
                prop::option::of(hostile_text()),
            ),
            0..3,
        ),
    )
}

/// Metadata the rules accept, with hostile text in every free-text field.
pub fn metadata() -> impl Strategy<Value = Metadata> {
    (
        extra_metadata(),
        (select(LOCALES), non_blank_text()),
        prop::option::of(hostile_text()),
        prop::option::of(1..=u32::MAX),
        prop::collection::vec(hostile_text(), 0..3),
        prop::option::of((hostile_text(), hostile_text())),
        prop::collection::vec((hostile_text(), hostile_text()), 0..3),
        prop::collection::vec((non_blank_text(), select(URLS)), 0..3),
        prop::collection::vec(offer(), 0..3),
        prop::option::of(select(DEEP_LINKS)),
    )
        .prop_map(
            |(
                (
                    external_ids,
                    other_titles,
                    description,
                    other_descriptions,
                    other_synopses,
                    release_dates,
                    keywords,
                    studios,
                    image_attributes,
                ),
                (locale, title),
                synopsis,
                runtime_minutes,
                genres,
                rating,
                credits,
                images,
                offers,
                deep_link,
            )| Metadata {
                external_ids,
                title: LocalizedText {
                    locale: locale.into(),
                    text: title,
                },
                other_titles,
                description,
                other_descriptions,
                synopsis,
                other_synopses,
                release_dates,
                runtime_minutes,
                genres,
                keywords,
                studios,
                rating: rating.map(|(system, value)| Rating { system, value }),
                credits: credits
                    .into_iter()
                    .map(|(role, name)| Credit { role, name })
                    .collect(),
                images: images
                    .into_iter()
                    .enumerate()
                    .map(|(n, (kind, url))| {
                        let (aspect_ratio, mime_type, resolution) =
                            image_attributes.get(n).cloned().unwrap_or_default();
                        Image {
                            kind,
                            url: url.into(),
                            aspect_ratio: aspect_ratio.map(str::to_owned),
                            mime_type: mime_type.map(str::to_owned),
                            resolution,
                        }
                    })
                    .collect(),
                offers,
                deep_link: deep_link.map(str::to_owned),
            },
        )
}

/// What kind of item to make; a season or episode picks its parent among
/// those already made, and falls back to a parent kind when there is none.
#[derive(Debug, Clone)]
pub enum Shape {
    Movie,
    Series,
    Season(Index, u32),
    Episode(Index, u32),
}

pub fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Movie),
        Just(Shape::Series),
        (any::<Index>(), any::<u32>()).prop_map(|(i, n)| Shape::Season(i, n)),
        (any::<Index>(), any::<u32>()).prop_map(|(i, n)| Shape::Episode(i, n)),
    ]
}

/// Builds items from shapes so that every parent comes earlier in the list
/// and an episode's series is its season's series. Ids are hostile text made
/// unique by a `#n` suffix (the part after the last `#` differs).
pub fn build_items(specs: Vec<(Shape, String, u64, Metadata)>) -> Vec<Item> {
    let mut series: Vec<String> = Vec::new();
    let mut seasons: Vec<(String, String)> = Vec::new();
    let mut items = Vec::with_capacity(specs.len());
    for (n, (shape, stem, version, meta)) in specs.into_iter().enumerate() {
        let id = format!("{stem}#{n}");
        let kind = match shape {
            Shape::Episode(pick, episode_number) if !seasons.is_empty() => {
                let (season_id, series_id) = pick.get(&seasons).clone();
                ItemKind::Episode {
                    series_id,
                    season_id,
                    episode_number,
                }
            }
            Shape::Season(pick, season_number) | Shape::Episode(pick, season_number)
                if !series.is_empty() =>
            {
                ItemKind::Season {
                    series_id: pick.get(&series).clone(),
                    season_number,
                }
            }
            Shape::Movie => ItemKind::Movie,
            _ => ItemKind::Series,
        };
        match &kind {
            ItemKind::Series => series.push(id.clone()),
            ItemKind::Season { series_id, .. } => seasons.push((id.clone(), series_id.clone())),
            ItemKind::Movie | ItemKind::Episode { .. } => {}
        }
        items.push(Item {
            id,
            version,
            kind,
            meta,
        });
    }
    items
}

/// A catalog header; EMBER's ids hold no XML whitespace, so the hostile
/// id has its spaces, tabs and line breaks replaced.
pub fn header() -> impl Strategy<Value = CatalogHeader> {
    (
        non_blank_text().prop_map(|id| id.replace([' ', '\t', '\n', '\r'], "_")),
        1..=(i64::MAX as u64),
        select(vec![Action::Upsert, Action::Replace]),
    )
        .prop_map(|(id, version, action)| CatalogHeader {
            id,
            version,
            action,
        })
}

/// A valid catalog of at most `max_items` items and `max_deletes` deletes.
/// Delete ids end in `#dn`, so they never collide with an item or a parent.
pub fn catalog(max_items: usize, max_deletes: usize) -> impl Strategy<Value = Catalog> {
    let item = (shape(), hostile_text(), 1..=(i64::MAX as u64), metadata());
    let delete = (
        hostile_text(),
        1..=(i64::MAX as u64),
        select(KindTag::ALL.to_vec()),
    );
    (
        header(),
        prop::collection::vec(item, 0..=max_items),
        prop::collection::vec(delete, 0..=max_deletes),
    )
        .prop_map(|(header, specs, deletes)| Catalog {
            header,
            items: build_items(specs),
            deletes: deletes
                .into_iter()
                .enumerate()
                .map(|(n, (stem, version, kind))| {
                    (
                        Delete {
                            id: format!("{stem}#d{n}"),
                            version,
                        },
                        kind,
                    )
                })
                .collect(),
        })
}

/// Collects the parts a build writes.
#[derive(Default)]
pub struct InMemory(Vec<Vec<u8>>);

impl catalog_core::pipeline::Parts for InMemory {
    type Sink = Vec<u8>;

    fn open(&mut self, _part: u32) -> std::io::Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn close(
        &mut self,
        _part: u32,
        sink: Vec<u8>,
        _written: &catalog_core::writer::WriteSummary,
    ) -> std::io::Result<()> {
        self.0.push(sink);
        Ok(())
    }
}

/// The example export built in parts of 3 items, as the builder splits a
/// large catalog.
pub fn example_in_parts() -> Vec<Vec<u8>> {
    use catalog_core::diff::{Policy, Request};
    use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
    use catalog_core::state::CatalogState;
    let export = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/provider-export.jsonl"
    ))
    .unwrap();
    let loader =
        SourceLoader::new(&export[..], SourceFormat::JsonLines, LoadOptions::default()).unwrap();
    let request = Request {
        now: 1_767_225_600,
        force_full: false,
        allow_shrink: false,
    };
    let mut parts = InMemory::default();
    let built = catalog_core::pipeline::build_in_parts(
        loader,
        CatalogState::new("C"),
        Policy::default(),
        request,
        3,
        &mut parts,
        &mut |_, _| {},
    )
    .unwrap();
    parts.0.push(built.sink);
    parts.0
}
