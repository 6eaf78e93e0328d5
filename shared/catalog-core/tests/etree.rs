//! Round trip through an independent XML parser: a catalog written by
//! `CatalogWriter` is read by Python's `xml.etree` (`tests/etree_roundtrip.py`
//! at the workspace root), which must give back every id, external id,
//! title (with its language, territories and default mark), description
//! and synopsis byte for byte: `&`, `<`, quotes, carriage returns, emoji
//! and non-Latin text included. The second test starts from a JSON Lines
//! export, so the whole path export → loader → writer → parser is checked
//! against the export's own strings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use catalog_core::source::{LoadOptions, SourceFormat, SourceLoader};
use serde_json::{Value, json};

use catalog_core::model::{
    Action, CatalogHeader, Delete, Item, ItemKind, KindTag, LocalizedText, Metadata, Offer,
    OfferKind,
};
use catalog_core::writer::CatalogWriter;

fn item(id: &str, kind: ItemKind, title: &str, synopsis: Option<&str>) -> Item {
    Item {
        id: id.into(),
        version: 1,
        kind,
        meta: Metadata {
            title: LocalizedText {
                locale: "en-US".into(),
                text: title.into(),
            },
            synopsis: synopsis.map(Into::into),
            ..Metadata::default()
        },
    }
}

#[test]
fn python_etree_reads_back_every_id_title_and_synopsis() {
    let mut movie = item(
        "m&1<\"x\">",
        ItemKind::Movie,
        "Fish & Chips: <The \"Movie\"> ]]> 'quoted'",
        Some("東京 🎬 Ωmega\nline two\r kept, tab\tkept"),
    );
    movie.meta.offers = vec![Offer {
        kind: OfferKind::Free,
        region: "US".into(),
        start: None,
        end: None,
        price: None,
    }];
    let items = vec![
        movie,
        item("tv-ü", ItemKind::Series, "Сериал «Ночь»", None),
        item(
            "tv-ü-s1",
            ItemKind::Season {
                series_id: "tv-ü".into(),
                season_number: 1,
            },
            "الموسم الأول",
            Some("  spaces kept  "),
        ),
    ];
    let header = CatalogHeader {
        id: "CAT&<1>".into(),
        version: 1,
        action: Action::Upsert,
    };
    let mut writer = CatalogWriter::new(Vec::new(), &header).unwrap();
    for item in &items {
        writer.write_item(item).unwrap();
    }
    writer
        .delete(
            Delete {
                id: "gone\"&<".into(),
                version: 2,
            },
            KindTag::Movie,
        )
        .unwrap();
    let (xml, _) = writer.finish().unwrap();
    let parsed = etree(&xml);

    let expected: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "kind": i.kind.tag().element(),
                "id": i.id,
                "external_ids": [],
                "titles": [{"text": i.meta.title.text, "language": "en-US", "default": "true"}],
                "descriptions": [],
                "synopses": i.meta.synopsis.iter().map(|s| json!({"text": s, "language": "en-US", "default": "true"})).collect::<Vec<_>>(),
                "keywords": [],
                "studios": [],
            })
        })
        .collect();
    assert_eq!(parsed["programs"], Value::Array(expected));
    assert_eq!(
        parsed["offers"],
        json!([["m&1<\"x\">.offers.free", "m&1<\"x\">"]])
    );
    assert_eq!(parsed["deletes"], json!(["gone\"&<"]));
}

/// Text that breaks naive XML writers and readers.
const HOSTILE: [&str; 8] = [
    "Fish & Chips: <The \"Movie\"> ]]> 'quoted' &amp; &#60;",
    "東京 🎬 Ωmega\nline two\r kept, tab\tkept",
    "Сериал «Ночь» 👩‍👩‍👧",
    "الموسم الأول",
    "  spaces kept  ",
    "<Title>not a tag</Title>",
    "한국어 & \"ключ\"",
    "e\u{301} \u{200B}\u{FEFF}\u{10FFFF}",
];

#[test]
fn python_etree_reads_back_every_text_of_an_export_byte_for_byte() {
    let [a, b, c, d, e, f, g, h] = HOSTILE;
    let rows = [
        json!({
            "type": "movie", "id": format!("m&1<\"{a}\">"),
            "external_ids": [{"scheme": "imdb", "id": "tt0113277"}, {"scheme": "x&<\"'", "id": b}],
            "title": a, "locale": "en-US",
            "titles": [
                {"text": b, "language": "ja-JP"},
                {"text": c, "language": "ru-RU", "territories": ["RU", "BY"]},
            ],
            "description": d,
            "descriptions": [{"text": e, "language": "ar"}, {"text": f, "language": "fr-FR"}],
            "synopsis": g,
            "synopses": [{"text": h, "language": "ko-KR"}],
            "keywords": [a, c], "studios": [g],
            "offers": [{"type": "free", "regions": ["US"]}],
        }),
        json!({
            "type": "series", "id": "tv-ü", "external_ids": [{"scheme": "imdb", "id": "tt0000001"}],
            "titles": [
                {"text": c, "language": "ru-RU", "default": true},
                {"text": d, "language": "ar", "territories": ["GLOBAL"]},
            ],
            "description": b,
        }),
    ];
    let export: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let mut loader = SourceLoader::new(
        export.as_bytes(),
        SourceFormat::JsonLines,
        LoadOptions::default(),
    )
    .unwrap();
    let header = CatalogHeader {
        id: "CAT".into(),
        version: 1,
        action: Action::Upsert,
    };
    let mut writer = CatalogWriter::new(Vec::new(), &header).unwrap();
    let mut loaded = 0;
    while let Some(item) = loader.next_item().unwrap() {
        writer.write_item(&item).unwrap();
        loaded += 1;
    }
    let report = loader.finish();
    assert_eq!(loaded, 2, "{:?}", report.findings);
    assert_eq!(report.findings.error_count(), 0, "{:?}", report.findings);
    let (xml, _) = writer.finish().unwrap();
    let parsed = etree(&xml);

    let default =
        |text: &str, language: &str| json!({"text": text, "language": language, "default": "true"});
    let other = |text: &str, language: &str| json!({"text": text, "language": language});
    let listed = |texts: &[&str]| texts.iter().map(|t| json!({"text": t})).collect::<Vec<_>>();
    let expected = json!([
        {
            "kind": "Movie", "id": format!("m&1<\"{a}\">"),
            "external_ids": [{"text": "tt0113277", "scheme": "imdb"}, {"text": b, "scheme": "x&<\"'"}],
            "titles": [
                default(a, "en-US"),
                other(b, "ja-JP"),
                json!({"text": c, "language": "ru-RU", "territories": "RU,BY"}),
            ],
            "descriptions": [default(d, "en-US"), other(e, "ar"), other(f, "fr-FR")],
            "synopses": [default(g, "en-US"), other(h, "ko-KR")],
            "keywords": listed(&[a, c]),
            "studios": listed(&[g]),
        },
        {
            "kind": "TVSeries", "id": "tv-ü",
            "external_ids": [{"text": "tt0000001", "scheme": "imdb"}],
            "titles": [
                default(c, "ru-RU"),
                json!({"text": d, "language": "ar", "territories": "GLOBAL"}),
            ],
            "descriptions": [default(b, "ru-RU")],
            "synopses": [],
            "keywords": [],
            "studios": [],
        },
    ]);
    assert_eq!(parsed["programs"], expected);
    let id = format!("m&1<\"{a}\">");
    assert_eq!(parsed["offers"], json!([[format!("{id}.offers.free"), id]]));
}

/// What `tests/etree_roundtrip.py` makes of a document.
fn etree(xml: &[u8]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/etree_roundtrip.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed");
    child.stdin.take().unwrap().write_all(xml).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
