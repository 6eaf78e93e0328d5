//! A report's summary: counts by status and by error code, the first items
//! of each code, and the submission it answers (correlated with the gate's
//! published ledger). What `summaries/<env>/<report>.json` holds, what
//! `catalogctl report` prints.
//!
//! [`SummaryBuilder`] takes the items one at a time, in bounded memory: at
//! most [`MAX_CODES`] distinct codes are kept (the rest count under
//! `(other codes)`) and `first_n` samples each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ItemResult, ItemStatus, ParsedReport, Readability};
use crate::ledger::Published;

/// Distinct error codes kept in a summary.
pub const MAX_CODES: usize = 200;
/// The code rejected items without one are counted under.
pub const NO_CODE: &str = "(no code)";
/// The code past [`MAX_CODES`] distinct ones are counted under.
pub const OTHER_CODES: &str = "(other codes)";

/// Items counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Accepted.
    pub accepted: u64,
    /// Rejected.
    pub rejected: u64,
    /// Warnings.
    pub warning: u64,
    /// Status unknown.
    pub unknown: u64,
}

impl StatusCounts {
    /// Every item counted.
    pub fn total(&self) -> u64 {
        self.accepted + self.rejected + self.warning + self.unknown
    }

    fn add(&mut self, status: ItemStatus) {
        match status {
            ItemStatus::Accepted => self.accepted += 1,
            ItemStatus::Rejected => self.rejected += 1,
            ItemStatus::Warning => self.warning += 1,
            ItemStatus::Unknown => self.unknown += 1,
        }
    }
}

/// An item as a summary shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleItem {
    /// The item's id.
    pub item_id: String,
    /// The version, when the report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Its status.
    pub status: ItemStatus,
    /// The message, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Where in the report.
    pub line: u64,
}

/// The items of one error code (rejected and warnings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    /// The code.
    pub code: String,
    /// How many items.
    pub count: u64,
    /// The first ones.
    pub first: Vec<SampleItem>,
}

/// The submission a report answers, from the published ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    /// The catalog's name (the ledger key's stem).
    pub catalog: String,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    pub manifest_type: String,
    /// The manifest's key.
    pub manifest: String,
    /// `<ProgramCatalog version>`.
    pub catalog_version: u64,
    /// When the gate validated it.
    pub validated_at: String,
}

/// What `summaries/<env>/<report>.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// The report's key (or file name).
    pub report: String,
    /// `staging` or `prod`.
    pub env: String,
    /// What parsing found: format, readability, header, findings.
    #[serde(flatten)]
    pub parsed: ParsedReport,
    /// The submission it answers, when the ledger knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Answers>,
    /// Items counted by status.
    pub counts: StatusCounts,
    /// Rejected items and warnings by error code, most frequent first.
    pub by_code: Vec<CodeCount>,
    /// Rejections written to `state/rejections/` (dropped past a bound: see
    /// the pass).
    #[serde(default)]
    pub rejections_recorded: u64,
}

impl ReportSummary {
    /// Whether a person should be told: something rejected, or unreadable.
    pub fn needs_alert(&self) -> bool {
        self.counts.rejected > 0
            || self.parsed.header.declared.rejected.is_some_and(|n| n > 0)
            || !matches!(self.parsed.readability, Readability::Read)
    }

    /// A one-line verdict: `read`, `unrecognised`, `too large`.
    pub fn verdict(&self) -> &'static str {
        match self.parsed.readability {
            Readability::Read => "read",
            Readability::Unrecognised { .. } => "unrecognised",
            Readability::TooLarge { .. } => "too large",
        }
    }
}

/// Builds a summary one item at a time, in bounded memory.
#[derive(Debug, Clone)]
pub struct SummaryBuilder {
    first_n: usize,
    counts: StatusCounts,
    codes: BTreeMap<String, CodeCount>,
}

impl SummaryBuilder {
    /// A builder keeping the first `first_n` items of each code.
    pub fn new(first_n: usize) -> SummaryBuilder {
        SummaryBuilder {
            first_n,
            counts: StatusCounts::default(),
            codes: BTreeMap::new(),
        }
    }

    /// Counts one item.
    pub fn add(&mut self, item: &ItemResult) {
        self.counts.add(item.status);
        if !matches!(item.status, ItemStatus::Rejected | ItemStatus::Warning) {
            return;
        }
        let code = item.error_code.as_deref().unwrap_or(NO_CODE);
        let code = if self.codes.contains_key(code) || self.codes.len() < MAX_CODES {
            code
        } else {
            OTHER_CODES
        };
        let entry = self
            .codes
            .entry(code.to_owned())
            .or_insert_with(|| CodeCount {
                code: code.to_owned(),
                count: 0,
                first: Vec::new(),
            });
        entry.count += 1;
        if entry.first.len() < self.first_n {
            entry.first.push(SampleItem {
                item_id: item.item_id.clone(),
                version: item.version,
                status: item.status,
                message: item.message.clone(),
                line: item.line,
            });
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> StatusCounts {
        self.counts
    }

    /// The summary of `parsed`, answering `answers`.
    pub fn finish(
        self,
        report: &str,
        env: &str,
        parsed: ParsedReport,
        answers: Option<Answers>,
    ) -> ReportSummary {
        let mut by_code: Vec<CodeCount> = self.codes.into_values().collect();
        by_code.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        ReportSummary {
            report: report.to_owned(),
            env: env.to_owned(),
            parsed,
            answers,
            counts: self.counts,
            by_code,
            rejections_recorded: 0,
        }
    }
}

/// The catalog name of a ledger record's key or a file name: what is left
/// of its last path segment without `.json`.
pub fn catalog_of_ledger_key(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".json").unwrap_or(name)
}

/// Which published submission a report answers [inferred: reports name
/// their submission by the manifest's or a catalog file's name or key, and
/// report file names may carry it too]. The longest name found in the
/// report's own submission field, else in the report's key, wins (so a
/// part's name beats its catalog's prefix). `None` when none is named.
pub fn correlate<'a>(
    named: Option<&str>,
    report_key: &str,
    published: &'a [Published],
) -> Option<&'a Published> {
    let report_name = report_key.rsplit('/').next().unwrap_or(report_key);
    for haystack in [named, Some(report_name)].into_iter().flatten() {
        let mut best: Option<(usize, &Published)> = None;
        for record in published {
            for needle in names_of(record) {
                if needle.len() >= 8
                    && haystack.contains(needle)
                    && best.is_none_or(|(len, _)| needle.len() > len)
                {
                    best = Some((needle.len(), record));
                }
            }
        }
        if let Some((_, record)) = best {
            return Some(record);
        }
    }
    None
}

/// The names a published submission may be called by.
fn names_of(record: &Published) -> Vec<&str> {
    let mut names = vec![record.catalog.as_str(), stem(&record.catalog)];
    let manifest = record
        .manifest
        .rsplit('/')
        .next()
        .unwrap_or(&record.manifest);
    names.push(manifest);
    names.push(manifest.strip_suffix(".manifest").unwrap_or(manifest));
    for file in &record.files {
        let name = file
            .destination
            .rsplit('/')
            .next()
            .unwrap_or(&file.destination);
        names.push(name);
        names.push(stem(name));
    }
    names
}

fn stem(name: &str) -> &str {
    name.strip_suffix(".xml.zst")
        .or_else(|| name.strip_suffix(".batch.json"))
        .unwrap_or(name)
}

impl From<&Published> for Answers {
    fn from(record: &Published) -> Answers {
        Answers {
            catalog: record.catalog.clone(),
            manifest_type: record.manifest_type.clone(),
            manifest: record.manifest.clone(),
            catalog_version: record.catalog_version,
            validated_at: record.validated_at.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ledger::FileRecord;
    use crate::model::KindCounts;
    use crate::outbox::ETag;

    pub(crate) fn published(catalog: &str, env: &str, kind: &str, at: &str) -> Published {
        let stem = catalog.strip_suffix(".xml.zst").unwrap_or(catalog);
        Published {
            catalog: catalog.to_owned(),
            env: env.to_owned(),
            manifest_type: kind.to_owned(),
            bucket: "amazon-media-catalogs".to_owned(),
            manifest: format!("p/{env}/manifests/{stem}.manifest"),
            trigger: format!("outbox/{env}/catalogs/{catalog}"),
            trigger_etag: ETag::new("e"),
            files: vec![FileRecord {
                source: format!("outbox/{env}/catalogs/{catalog}"),
                destination: format!("p/{env}/catalogs/{catalog}"),
                size: 1,
                etag: ETag::new("e"),
            }],
            catalog_id: "P".to_owned(),
            catalog_version: 3,
            built_as_version: Some(3),
            items: KindCounts::default(),
            deletes: 0,
            xml_bytes: 1,
            dropped: 0,
            warnings: 0,
            validated_at: at.to_owned(),
        }
    }

    fn item(id: &str, status: ItemStatus, code: Option<&str>) -> ItemResult {
        ItemResult {
            item_id: id.to_owned(),
            version: Some(1),
            status,
            error_code: code.map(str::to_owned),
            message: None,
            line: 1,
            raw: serde_json::Map::new(),
        }
    }

    #[test]
    fn counts_by_status_and_code_with_the_first_n_of_each() {
        let mut builder = SummaryBuilder::new(2);
        for i in 0..5 {
            builder.add(&item(&format!("r{i}"), ItemStatus::Rejected, Some("E1")));
        }
        builder.add(&item("w", ItemStatus::Warning, Some("W1")));
        builder.add(&item("n", ItemStatus::Rejected, None));
        builder.add(&item("a", ItemStatus::Accepted, None));
        let counts = builder.counts();
        assert_eq!(
            (counts.accepted, counts.rejected, counts.warning),
            (1, 6, 1)
        );
        let parsed = crate::report::parse_report(
            &b"id,status\nx,ok\n"[..],
            &Default::default(),
            &mut |_| {},
        )
        .unwrap();
        let summary = builder.finish("reports/staging/r.csv", "staging", parsed, None);
        assert_eq!(summary.by_code[0].code, "E1");
        assert_eq!(summary.by_code[0].count, 5);
        assert_eq!(summary.by_code[0].first.len(), 2);
        assert!(summary.by_code.iter().any(|c| c.code == NO_CODE));
        assert!(summary.needs_alert());
    }

    #[test]
    fn distinct_codes_are_bounded() {
        let mut builder = SummaryBuilder::new(1);
        for i in 0..(MAX_CODES + 50) {
            builder.add(&item("x", ItemStatus::Rejected, Some(&format!("C{i}"))));
        }
        assert_eq!(builder.codes.len(), MAX_CODES + 1);
        assert_eq!(builder.codes[OTHER_CODES].count, 50);
    }

    #[test]
    fn a_report_is_matched_to_the_submission_it_names() {
        let ledger = vec![
            published(
                "catalog-20260101T000000Z-update.xml.zst",
                "staging",
                "CATALOG_UPDATE",
                "2026-01-01T00:00:00Z",
            ),
            published(
                "catalog-20260102T000000Z-full.xml.zst",
                "staging",
                "CATALOG_FULL",
                "2026-01-02T00:00:00Z",
            ),
        ];
        let by_manifest = correlate(
            Some("p/staging/manifests/catalog-20260102T000000Z-full.manifest"),
            "reports/staging/x.json",
            &ledger,
        );
        assert_eq!(
            by_manifest.map(|p| p.catalog.as_str()),
            Some("catalog-20260102T000000Z-full.xml.zst")
        );
        let by_file_name = correlate(
            None,
            "reports/staging/catalog-20260101T000000Z-update-report.html",
            &ledger,
        );
        assert_eq!(
            by_file_name.map(|p| p.manifest_type.as_str()),
            Some("CATALOG_UPDATE")
        );
        assert!(correlate(Some("something else"), "reports/staging/r.csv", &ledger).is_none());
    }
}
