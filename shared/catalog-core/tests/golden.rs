//! Golden files: hand-written EMBER documents in the writer's exact format
//! (see `tests/golden/README.md`). Writing the entries each file describes
//! must give the file byte for byte, and reading the file must give the
//! entries back, with no finding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use catalog_core::model::{
    Action, CatalogHeader, Credit, Delete, ExternalId, Image, Item, ItemKind, KindTag,
    LocalizedText, Metadata, Offer, OfferKind, Price, Rating, ReleaseDate, Title,
};
use common::{Catalog, findings_text, read_all};

const SMALL: &[u8] = include_bytes!("golden/small.xml");
const DELETES_ONLY: &[u8] = include_bytes!("golden/deletes-only.xml");
const EMPTY_REPLACE: &[u8] = include_bytes!("golden/empty-replace.xml");

fn title(locale: &str, text: &str) -> LocalizedText {
    LocalizedText {
        locale: locale.into(),
        text: text.into(),
    }
}

fn delete(id: &str, version: u64, kind: KindTag) -> (Delete, KindTag) {
    (
        Delete {
            id: id.into(),
            version,
        },
        kind,
    )
}

/// `small.xml`: a movie with every field, a series, a season, an episode,
/// and one delete of each kind queued parents first.
fn small() -> Catalog {
    let movie = Item {
        id: "movie-1".into(),
        version: 3,
        kind: ItemKind::Movie,
        meta: Metadata {
            external_ids: vec![
                ExternalId {
                    scheme: "imdb".into(),
                    id: "tt0000042".into(),
                },
                ExternalId {
                    scheme: "tmdb".into(),
                    id: "42&43".into(),
                },
            ],
            title: title("en-US", "Fish & Chips: <The Movie> ]]>"),
            other_titles: vec![
                Title {
                    locale: "fr-FR".into(),
                    text: "Poisson & Frites".into(),
                    territories: String::new(),
                },
                Title {
                    locale: "en-GB".into(),
                    text: "Fish 'n' Chips".into(),
                    territories: "GB,IE".into(),
                },
            ],
            description: Some("Short & \"sweet\".".into()),
            other_descriptions: vec![title("ja-JP", "短い説明")],
            synopsis: Some(
                "A \"quoted\" tale of it's café, 東京 and 🎬 with a line break\n\
                 and a carriage return\r that stays."
                    .into(),
            ),
            other_synopses: vec![title("fr-FR", "Une histoire <vraie>.")],
            release_dates: vec![
                ReleaseDate {
                    date: "2024-02-29".into(),
                    release_type: Some("theatrical".into()),
                },
                ReleaseDate {
                    date: "2024-06-01".into(),
                    release_type: Some("streaming".into()),
                },
            ],
            runtime_minutes: Some(117),
            genres: vec!["Comedy".into(), "Drama & Romance".into()],
            keywords: vec!["fish".into(), "chips & peas".into()],
            rating: Some(Rating {
                system: "MPAA".into(),
                value: "PG-13".into(),
            }),
            studios: vec!["Acme \"Pictures\"".into()],
            credits: vec![
                Credit {
                    role: "director".into(),
                    name: "Siobhán O'Brien".into(),
                },
                Credit {
                    role: "actor".into(),
                    name: "Ada \"Ace\" Okafor".into(),
                },
            ],
            images: vec![
                Image {
                    kind: "poster".into(),
                    url: "https://images.example.com/movie-1/poster.jpg?w=1000&h=1500".into(),
                    aspect_ratio: Some("2:3".into()),
                    mime_type: Some("image/jpeg".into()),
                    resolution: Some("1000x1500".into()),
                },
                Image {
                    kind: "hero".into(),
                    url: "https://images.example.com/movie-1/hero.jpg".into(),
                    ..Image::default()
                },
            ],
            offers: vec![
                Offer {
                    kind: OfferKind::Subscription,
                    region: "US".into(),
                    start: Some("2025-04-20T00:00:00Z".into()),
                    end: None,
                    price: None,
                },
                Offer {
                    kind: OfferKind::Rental,
                    region: "GB".into(),
                    start: Some("2025-01-01T00:00:00Z".into()),
                    end: Some("2026-01-01T00:00:00Z".into()),
                    price: Some(Price {
                        amount: "3.99".into(),
                        currency: "GBP".into(),
                    }),
                },
                Offer {
                    kind: OfferKind::Purchase,
                    region: "DE".into(),
                    start: None,
                    end: None,
                    price: Some(Price {
                        amount: "9.99".into(),
                        currency: "EUR".into(),
                    }),
                },
                Offer {
                    kind: OfferKind::Free,
                    region: "JP".into(),
                    start: None,
                    end: Some("2025-12-31T23:59:59+09:00".into()),
                    price: None,
                },
            ],
            deep_link: Some("myapp://title/movie-1?from=catalog&autoplay=1".into()),
        },
    };
    let series = Item {
        id: "series-1".into(),
        version: 1,
        kind: ItemKind::Series,
        meta: Metadata {
            title: title("en-GB", "The Harbour"),
            genres: vec!["Crime".into()],
            ..Metadata::default()
        },
    };
    let season = Item {
        id: "season-1".into(),
        version: 1,
        kind: ItemKind::Season {
            series_id: "series-1".into(),
            season_number: 1,
        },
        meta: Metadata {
            title: title("en-GB", "The Harbour, Season 1"),
            release_dates: vec![ReleaseDate {
                date: "2023-09-01".into(),
                release_type: None,
            }],
            ..Metadata::default()
        },
    };
    let episode = Item {
        id: "episode-1".into(),
        version: 2,
        kind: ItemKind::Episode {
            series_id: "series-1".into(),
            season_id: "season-1".into(),
            episode_number: 1,
        },
        meta: Metadata {
            title: title("en-GB", "Pilot"),
            synopsis: Some("  Leading and trailing spaces are kept.  ".into()),
            runtime_minutes: Some(52),
            ..Metadata::default()
        },
    };
    Catalog {
        header: CatalogHeader {
            id: "ACME_CATALOG".into(),
            version: 42,
            action: Action::Upsert,
        },
        items: vec![movie, series, season, episode],
        deletes: vec![
            delete("old-movie-9", 11, KindTag::Movie),
            delete("old-series-3", 5, KindTag::Series),
            delete("old-season-2", 2, KindTag::Season),
            delete("old-episode-7", 4, KindTag::Episode),
        ],
    }
}

/// `deletes-only.xml`: DOMAIN.md A4's "delete specific items", queued parents
/// first, with ids that need the attribute escapes (EMBER ids hold no spaces).
fn deletes_only() -> Catalog {
    Catalog {
        header: CatalogHeader {
            id: "ACME_\"delete\"_run&<now>".into(),
            version: 43,
            action: Action::Upsert,
        },
        items: Vec::new(),
        deletes: vec![
            delete("series-1", 2, KindTag::Series),
            delete("movie-1", i64::MAX as u64, KindTag::Movie),
            delete("season-1", 2, KindTag::Season),
            delete("episode-1", 3, KindTag::Episode),
            delete("a\"b&c<d>e'f", 1, KindTag::Episode),
        ],
    }
}

/// `empty-replace.xml`: a catalog with nothing in it and `action="replace"`.
fn empty_replace() -> Catalog {
    Catalog {
        header: CatalogHeader {
            id: "ACME_CATALOG".into(),
            version: 1,
            action: Action::Replace,
        },
        items: Vec::new(),
        deletes: Vec::new(),
    }
}

/// `BLESS_GOLDEN=1 cargo test --test golden` rewrites the files from the
/// writer; review the diff before committing it.
fn assert_writes_golden(catalog: &Catalog, golden: &[u8], name: &str) {
    let (xml, summary) = catalog.to_xml();
    if std::env::var_os("BLESS_GOLDEN").is_some() {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(path, &xml).unwrap();
        return;
    }
    // Compared as text first so a mismatch shows a readable diff.
    assert_eq!(
        String::from_utf8(xml.clone()).unwrap(),
        String::from_utf8(golden.to_vec()).unwrap(),
        "writing the {name} entries does not give tests/golden/{name}"
    );
    assert_eq!(xml, golden);
    assert_eq!(summary.xml_bytes, golden.len() as u64);
}

fn assert_reads_golden(catalog: &Catalog, golden: &[u8], name: &str) {
    let (entries, report) = read_all(golden);
    assert!(
        report.is_valid(),
        "tests/golden/{name} is not valid:\n{}",
        findings_text(&report)
    );
    assert_eq!(report.findings.warning_count(), 0, "{name}");
    assert_eq!(report.header.as_ref(), Some(&catalog.header), "{name}");
    assert_eq!(entries, catalog.expected_entries(), "{name}");
}

#[test]
fn small_is_what_the_writer_writes() {
    assert_writes_golden(&small(), SMALL, "small.xml");
}

#[test]
fn small_reads_back_as_its_entries() {
    assert_reads_golden(&small(), SMALL, "small.xml");
}

#[test]
fn small_lists_deletes_children_first() {
    let catalog = small();
    let ids: Vec<String> = catalog
        .expected_entries()
        .iter()
        .skip(catalog.items.len())
        .map(|e| e.id().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "old-episode-7",
            "old-season-2",
            "old-movie-9",
            "old-series-3"
        ]
    );
}

#[test]
fn deletes_only_is_what_the_writer_writes() {
    assert_writes_golden(&deletes_only(), DELETES_ONLY, "deletes-only.xml");
}

#[test]
fn deletes_only_reads_back_as_its_entries() {
    assert_reads_golden(&deletes_only(), DELETES_ONLY, "deletes-only.xml");
}

#[test]
fn empty_replace_is_what_the_writer_writes() {
    assert_writes_golden(&empty_replace(), EMPTY_REPLACE, "empty-replace.xml");
}

#[test]
fn empty_replace_reads_back_as_its_header() {
    assert_reads_golden(&empty_replace(), EMPTY_REPLACE, "empty-replace.xml");
}

/// The golden files stay golden through zstd: the reader sniffs the frame
/// and gives the same entries.
#[test]
fn small_through_zstd_reads_the_same() {
    let compressed = zstd::encode_all(SMALL, 3).unwrap();
    let (entries, report) = read_all(&compressed[..]);
    assert!(report.is_valid(), "{}", findings_text(&report));
    assert_eq!(entries, small().expected_entries());
}
