//! Round trip through an independent XML parser: a catalog written by
//! `CatalogWriter` is read by Python's `xml.etree` (`tests/etree_roundtrip.py`
//! at the workspace root), which must give back every id, title and
//! synopsis byte for byte: `&`, `<`, quotes, carriage returns, emoji and
//! non-Latin text included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

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
    child.stdin.take().unwrap().write_all(&xml).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let expected: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            serde_json::json!([
                i.kind.tag().element(),
                i.id,
                [i.meta.title.text],
                i.meta.synopsis.iter().collect::<Vec<_>>(),
            ])
        })
        .collect();
    assert_eq!(parsed["programs"], serde_json::Value::Array(expected));
    assert_eq!(
        parsed["offers"],
        serde_json::json!([["m&1<\"x\">.offers.free", "m&1<\"x\">"]])
    );
    assert_eq!(parsed["deletes"], serde_json::json!(["gone\"&<"]));
}
