//! HTML reports, parsed whole with a browser-grade parser (`scraper`, over
//! html5ever), bounded by `max_whole_bytes`.
//!
//! Per-item results come from tables whose header row names an item id and
//! a status or error code column (the names of [`super::fields`]). The
//! report's own facts come from `Name: value` text in the page (`Report ID:
//! R1`, `Status: Completed`); without a table of items that is all that is
//! read, and a finding says so.

use std::io::BufRead;

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

use super::fields::{self, HeaderField, ItemField, Mapped};
use super::{Context, ItemResult, Readability, ReportError, ReportHeader};

/// Reads an HTML report.
pub(crate) fn read<R: BufRead>(
    reader: R,
    ctx: &mut Context,
    header: &mut ReportHeader,
    on_item: &mut dyn FnMut(&ItemResult),
) -> Result<Readability, ReportError> {
    let Some(bytes) = ctx.read_whole(reader)? else {
        return Ok(Readability::TooLarge {
            limit: ctx.options().max_whole_bytes,
        });
    };
    let text = String::from_utf8_lossy(&bytes);
    let page = Html::parse_document(&text);
    drop(bytes);
    let (Some(tables), Some(rows), Some(cells), Some(blocks), Some(containers)) = (
        selector("table"),
        selector("tr"),
        selector("th, td"),
        selector("title, h1, h2, h3, h4, h5, h6, p, li, dt, dd, div, caption"),
        selector("div, p, li, table, dl, ul, ol, h1, h2, h3, h4, h5, h6"),
    ) else {
        return Ok(Readability::Unrecognised {
            reason: "internal: a CSS selector did not parse".to_owned(),
        });
    };
    page_facts(&page, &blocks, &containers, header);
    let mut item_tables = 0;
    for table in page.select(&tables) {
        let mut columns: Option<Vec<String>> = None;
        for (row_at, row) in table.select(&rows).enumerate() {
            let texts: Vec<String> = row.select(&cells).map(|cell| text_of(&cell)).collect();
            let Some(names) = &columns else {
                if is_item_header(&texts) {
                    columns = Some(texts);
                    item_tables += 1;
                }
                continue;
            };
            if texts.iter().all(|t| t.is_empty()) {
                continue;
            }
            let line = row_at as u64 + 1;
            let values = names
                .iter()
                .zip(texts)
                .filter(|(name, _)| !name.is_empty())
                .map(|(name, text)| (name.as_str(), Value::String(text)));
            match fields::map_record(values, line, header) {
                Mapped::Item(item) => ctx.item(&item, on_item),
                _ => ctx.finding(line, "a table row with no item id; skipped"),
            }
        }
    }
    if item_tables == 0 {
        ctx.finding(
            0,
            "no table names an item id and a status column; only the page's text was read",
        );
    }
    Ok(Readability::Read)
}

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

fn text_of(element: &ElementRef<'_>) -> String {
    let text: String = element.text().collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_item_header(cells: &[String]) -> bool {
    let kinds: Vec<Option<ItemField>> = cells.iter().map(|c| fields::item_field(c)).collect();
    kinds.contains(&Some(ItemField::Id))
        && (kinds.contains(&Some(ItemField::Status)) || kinds.contains(&Some(ItemField::Code)))
}

/// `Name: value` text anywhere in the page, for the report's own fields.
fn page_facts(page: &Html, blocks: &Selector, containers: &Selector, header: &mut ReportHeader) {
    for block in page.select(blocks) {
        // The innermost blocks only: a container's text runs several
        // `Name: value` pairs together.
        if block.select(containers).next().is_some() {
            continue;
        }
        let text = text_of(&block);
        if text.len() > 400 {
            continue;
        }
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match fields::header_field(name.trim()) {
            None | Some(HeaderField::Items) => {}
            Some(_) => {
                fields::merge_header_field(header, name.trim(), Value::String(value.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ItemStatus, ParseOptions, ReportFormat, parse_report};

    #[test]
    fn a_table_of_items_and_the_pages_facts() {
        let page = br#"<!DOCTYPE html><html><head><title>Ingestion report</title></head><body>
            <p><b>Report ID:</b> RPT-7</p>
            <p>Manifest: catalog-20260101T000000Z-update.manifest</p>
            <p>Status: Completed with errors</p>
            <table><tr><td>layout</td></tr></table>
            <table>
              <thead><tr><th>Item ID</th><th>Version</th><th>Status</th><th>Error code</th><th>Message</th></tr></thead>
              <tbody>
                <tr><td>M1</td><td>1</td><td>Accepted</td><td></td><td></td></tr>
                <tr><td>M2</td><td>4</td><td>Rejected</td><td>INVALID_RATING</td><td>rating &amp; region</td></tr>
              </tbody>
            </table></body></html>"#;
        let mut items = Vec::new();
        let parsed = parse_report(&page[..], &ParseOptions::default(), &mut |i| {
            items.push(i.clone())
        })
        .unwrap();
        assert_eq!(parsed.format, Some(ReportFormat::Html));
        assert_eq!(parsed.header.report_id.as_deref(), Some("RPT-7"));
        assert_eq!(
            parsed.header.submission.as_deref(),
            Some("catalog-20260101T000000Z-update.manifest")
        );
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].status, ItemStatus::Rejected);
        assert_eq!(items[1].message.as_deref(), Some("rating & region"));
        assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
    }

    #[test]
    fn a_page_without_a_table_is_read_for_its_text() {
        let page =
            b"<html><body><h1>Report</h1><p>Status: FAILED</p><p>Rejected: 12</p></body></html>";
        let parsed = parse_report(&page[..], &ParseOptions::default(), &mut |_| {}).unwrap();
        assert_eq!(parsed.header.status.as_deref(), Some("FAILED"));
        assert_eq!(parsed.header.declared.rejected, Some(12));
        assert_eq!(parsed.findings.len(), 1);
    }

    #[test]
    fn html_larger_than_the_bound_is_too_large() {
        let mut page = b"<html><body>".to_vec();
        page.extend(std::iter::repeat_n(b'x', 10_000));
        let options = ParseOptions {
            max_whole_bytes: 1000,
            ..ParseOptions::default()
        };
        let parsed = parse_report(&page[..], &options, &mut |_| {}).unwrap();
        assert_eq!(
            parsed.readability,
            super::super::Readability::TooLarge { limit: 1000 }
        );
    }
}
