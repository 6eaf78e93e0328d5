//! Write → read round trips: whatever valid catalog the writer is given, the
//! reader gives back unchanged, plain or through zstd, and whatever text XML
//! cannot carry the writer refuses instead of writing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use catalog_core::model::{Delete, Item, KindTag};
use catalog_core::reader::ReadReport;
use catalog_core::rules;
use catalog_core::synthetic::Synthetic;
use catalog_core::writer::{CatalogWriter, WriteError, WriteSummary};
use catalog_core::{Entry, input::Compression};
use common::{Catalog, Chunked, catalog, findings_text, read_all};
use proptest::prelude::*;
use proptest::sample::Index;

/// Checks one read of `catalog` against what was written.
fn assert_read_back(
    catalog: &Catalog,
    summary: &WriteSummary,
    entries: &[Entry],
    report: &ReadReport,
    how: &str,
) {
    assert!(
        report.is_valid(),
        "{how}: the report is not valid:\n{}",
        findings_text(report)
    );
    assert_eq!(report.findings.warning_count(), 0, "{how}: warnings");
    assert!(report.complete, "{how}");
    assert_eq!(report.header.as_ref(), Some(&catalog.header), "{how}");
    assert_eq!(entries, catalog.expected_entries(), "{how}");
    assert_eq!(report.items, summary.items, "{how}: items per kind");
    assert_eq!(report.deletes, summary.total_deletes(), "{how}");
    assert_eq!(report.rejected, 0, "{how}");
    assert_eq!(report.xml_bytes, summary.xml_bytes, "{how}");
}

fn assert_round_trip(catalog: &Catalog) {
    for item in &catalog.items {
        rules::check_item(item, &mut |rule, message| {
            panic!(
                "the generator made an invalid item {:?}: {rule} {message}",
                item.id
            )
        });
    }

    let (xml, summary) = catalog.to_xml();
    assert_eq!(summary.xml_bytes, xml.len() as u64);
    assert_eq!(summary.total_items(), catalog.items.len() as u64);
    assert_eq!(summary.total_deletes(), catalog.deletes.len() as u64);
    for kind in KindTag::ALL {
        let queued = catalog.deletes.iter().filter(|(_, k)| *k == kind).count();
        assert_eq!(summary.deletes_of(kind), queued as u64, "{kind} deletes");
    }
    let (entries, report) = read_all(&xml[..]);
    assert_eq!(report.compression, Compression::None);
    assert_read_back(catalog, &summary, &entries, &report, "plain");

    let (zst, zst_summary) = catalog.to_zstd();
    assert_eq!(zst_summary, summary);
    assert_eq!(
        zstd::decode_all(&zst[..]).unwrap(),
        xml,
        "zstd holds the same bytes"
    );
    let (entries, report) = read_all(&zst[..]);
    assert_eq!(report.compression, Compression::Zstd);
    assert_read_back(catalog, &summary, &entries, &report, "zstd");
}

proptest! {
    /// Valid catalogs with hostile text in every free-text field come back
    /// equal: items in order, then deletes children first.
    #[test]
    fn valid_catalogs_round_trip(catalog in catalog(8, 6)) {
        assert_round_trip(&catalog);
    }

    /// Tiny reads split tags, entity references and multi-byte characters
    /// across buffer boundaries; the entries must not change.
    #[test]
    fn round_trip_survives_tiny_reads(catalog in catalog(4, 3), chunk in 1usize..8) {
        let (xml, summary) = catalog.to_xml();
        let (entries, report) = read_all(Chunked::new(&xml, chunk));
        assert_read_back(&catalog, &summary, &entries, &report, "chunked");
    }

    /// The same through zstd, whose compressed input arrives a few bytes at a
    /// time, even fewer than the 4-byte magic number.
    #[test]
    fn zstd_round_trip_survives_small_reads(catalog in catalog(4, 3), chunk in 1usize..16) {
        let (zst, summary) = catalog.to_zstd();
        let (entries, report) = read_all(Chunked::new(&zst, chunk));
        prop_assert_eq!(report.compression, Compression::Zstd);
        assert_read_back(&catalog, &summary, &entries, &report, "zstd chunked");
    }

    /// Any text field holding a character XML 1.0 cannot carry makes
    /// `write_item` fail with `Invalid`, naming the item, and nothing of the
    /// item reaches the document.
    #[test]
    fn text_xml_cannot_carry_is_refused(
        catalog in catalog(3, 0),
        which_item in any::<Index>(),
        which_field in any::<Index>(),
        at in any::<Index>(),
        bad in non_xml_char(),
    ) {
        prop_assume!(!catalog.items.is_empty());
        let mut item = which_item.get(&catalog.items).clone();
        let field = {
            let mut fields = text_fields_mut(&mut item);
            let (name, text) = which_field.get_mut(&mut fields);
            insert_char(text, at, bad);
            *name
        };

        let mut writer = CatalogWriter::new(Vec::new(), &catalog.header).unwrap();
        match writer.write_item(&item) {
            Err(WriteError::Invalid { id, reason }) => {
                prop_assert_eq!(id, item.id.clone());
                let code = format!("U+{:04X}", bad as u32);
                prop_assert!(reason.contains(&code), "{field}: {reason}");
            }
            other => prop_assert!(false, "{field} holding {bad:?}: {other:?}"),
        }
        prop_assert_eq!(writer.summary().total_items(), 0);
        let (xml, summary) = writer.finish().unwrap();
        let empty = Catalog { items: Vec::new(), ..catalog.clone() }.to_xml().0;
        prop_assert_eq!(summary.total_items(), 0);
        prop_assert_eq!(xml, empty, "{} leaked into the document", field);
    }

    /// The same holds for a catalog id and a Delete id.
    #[test]
    fn ids_xml_cannot_carry_are_refused(
        catalog in catalog(0, 0),
        at in any::<Index>(),
        bad in non_xml_char(),
    ) {
        let mut header = catalog.header.clone();
        insert_char(&mut header.id, at, bad);
        let refused = CatalogWriter::new(Vec::new(), &header);
        prop_assert!(matches!(refused, Err(WriteError::Invalid { .. })), "{refused:?}");

        let mut writer = CatalogWriter::new(Vec::new(), &catalog.header).unwrap();
        let mut id = String::from("delete-me");
        insert_char(&mut id, at, bad);
        let delete = Delete { id: id.clone(), version: 1 };
        match writer.delete(delete, KindTag::Movie) {
            Err(WriteError::Invalid { id: named, .. }) => prop_assert_eq!(named, id),
            other => prop_assert!(false, "{other:?}"),
        }
        let (xml, summary) = writer.finish().unwrap();
        prop_assert_eq!(summary.total_deletes(), 0);
        prop_assert_eq!(xml, catalog.to_xml().0);
    }
}

/// A character XML 1.0 cannot carry, not even as a character reference.
fn non_xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{0}', '\u{8}'),
        Just('\u{B}'),
        Just('\u{C}'),
        prop::char::range('\u{E}', '\u{1F}'),
        Just('\u{FFFE}'),
        Just('\u{FFFF}'),
    ]
}

fn insert_char(text: &mut String, at: Index, c: char) {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    text.insert(*at.get(&boundaries), c);
}

/// Every text field an item has, with a name for failure messages: the ones
/// a person types and the ones with a format (dates, regions, prices).
fn text_fields_mut(item: &mut Item) -> Vec<(&'static str, &mut String)> {
    use catalog_core::model::ItemKind;

    let mut fields: Vec<(&'static str, &mut String)> = vec![("id", &mut item.id)];
    match &mut item.kind {
        ItemKind::Movie | ItemKind::Series => {}
        ItemKind::Season { series_id, .. } => fields.push(("SeriesId", series_id)),
        ItemKind::Episode {
            series_id,
            season_id,
            ..
        } => {
            fields.push(("SeriesId", series_id));
            fields.push(("SeasonId", season_id));
        }
    }
    let meta = &mut item.meta;
    for e in &mut meta.external_ids {
        fields.push(("ExternalId scheme", &mut e.scheme));
        fields.push(("ExternalId", &mut e.id));
    }
    fields.push(("Title", &mut meta.title.text));
    fields.push(("Title locale", &mut meta.title.locale));
    for t in &mut meta.other_titles {
        fields.push(("Title", &mut t.text));
        fields.push(("Title locale", &mut t.locale));
        fields.push(("Title territories", &mut t.territories));
    }
    if let Some(d) = &mut meta.description {
        fields.push(("Description", d));
    }
    for d in &mut meta.other_descriptions {
        fields.push(("Description", &mut d.text));
        fields.push(("Description language", &mut d.locale));
    }
    if let Some(s) = &mut meta.synopsis {
        fields.push(("Synopsis", s));
    }
    for s in &mut meta.other_synopses {
        fields.push(("Synopsis", &mut s.text));
        fields.push(("Synopsis language", &mut s.locale));
    }
    for d in &mut meta.release_dates {
        fields.push(("ReleaseDate", &mut d.date));
        if let Some(kind) = &mut d.release_type {
            fields.push(("ReleaseDate releaseType", kind));
        }
    }
    for g in &mut meta.genres {
        fields.push(("Genre", g));
    }
    for k in &mut meta.keywords {
        fields.push(("Keyword", k));
    }
    for s in &mut meta.studios {
        fields.push(("Studio", s));
    }
    if let Some(r) = &mut meta.rating {
        fields.push(("Rating system", &mut r.system));
        fields.push(("Rating", &mut r.value));
    }
    for c in &mut meta.credits {
        fields.push(("Credit role", &mut c.role));
        fields.push(("Credit", &mut c.name));
    }
    for i in &mut meta.images {
        fields.push(("Image type", &mut i.kind));
        fields.push(("Image url", &mut i.url));
        for (name, value) in [
            ("Image aspectRatio", &mut i.aspect_ratio),
            ("Image mimeType", &mut i.mime_type),
            ("Image resolution", &mut i.resolution),
        ] {
            if let Some(value) = value {
                fields.push((name, value));
            }
        }
    }
    for o in &mut meta.offers {
        fields.push(("Offer region", &mut o.region));
        if let Some(s) = &mut o.start {
            fields.push(("Offer start", s));
        }
        if let Some(e) = &mut o.end {
            fields.push(("Offer end", e));
        }
        if let Some(p) = &mut o.price {
            fields.push(("Price", &mut p.amount));
            fields.push(("Price currency", &mut p.currency));
        }
    }
    if let Some(d) = &mut meta.deep_link {
        fields.push(("DeepLink", d));
    }
    fields
}

/// The synthetic benchmark catalog (2000 items, seed 3) round-trips, plain
/// and through zstd, and holds every kind.
#[test]
fn synthetic_catalog_round_trips() {
    let items: Vec<Item> = Synthetic::new(2000, 3).collect();
    assert_eq!(items.len(), 2000);
    for kind in KindTag::ALL {
        assert!(items.iter().any(|i| i.kind.tag() == kind), "no {kind}");
    }
    let catalog = Catalog {
        header: catalog_core::CatalogHeader {
            id: "SYNTHETIC".into(),
            version: 3,
            action: catalog_core::Action::Replace,
        },
        items,
        deletes: vec![
            (
                Delete {
                    id: "gone-series".into(),
                    version: 2,
                },
                KindTag::Series,
            ),
            (
                Delete {
                    id: "gone-episode".into(),
                    version: 5,
                },
                KindTag::Episode,
            ),
        ],
    };
    assert_round_trip(&catalog);
}
