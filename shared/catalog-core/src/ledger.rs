//! The records catalog-relay keeps of what it did, as one type each: the
//! builder's record of a submission it made (`state/ledger/submissions/`),
//! the gate's record of what it handed to Amazon (`state/ledger/published/`),
//! and the export a build read. The builder writes the first, the gate the
//! second; the report parser reads both.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::finding::Position;
use crate::model::KindCounts;
use crate::outbox::{BatchDescriptor, ETag, MetadataMap};

/// One export object, and when it was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRef {
    /// The key in the work bucket.
    pub key: String,
    /// Its ETag when the build read it.
    pub etag: ETag,
    /// When it was dropped, in Unix milliseconds: the notification's
    /// `eventTime`, else the object's LastModified (whole seconds). `0` in
    /// records written before this field existed.
    #[serde(default)]
    pub dropped_ms: i64,
}

impl ExportRef {
    /// Which of two exports is the newer: the later drop; on the same
    /// millisecond, the key that sorts last, then the ETag that sorts last.
    /// The tie-break is arbitrary but total and the same on every delivery,
    /// so every builder agrees on which export is the latest.
    pub fn order(&self, other: &ExportRef) -> Ordering {
        self.dropped_ms
            .cmp(&other.dropped_ms)
            .then_with(|| self.key.cmp(&other.key))
            .then_with(|| self.etag.bare().cmp(other.etag.bare()))
    }

    /// The same object (key and ETag), whatever the times recorded.
    pub fn same_object(&self, other: &ExportRef) -> bool {
        self.key == other.key && self.etag == other.etag
    }
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Ended {
    /// A catalog is in the outbox and the state is committed.
    Sent {
        /// `CATALOG_FULL` or `CATALOG_UPDATE`.
        manifest_type: String,
        /// What the gate acts on: the catalog, or the batch descriptor.
        key: String,
        /// The catalog files, in part order.
        parts: Vec<String>,
    },
    /// Nothing changed and no keep-alive is due.
    NothingToDo,
    /// A guard (shrink of a full, removals of an update) refused the catalog.
    Refused {
        /// The guard's message, with the counts.
        reason: String,
    },
    /// Every row of the export was refused: nothing could be built.
    ExportRejected {
        /// Why, with the first findings' rules.
        reason: String,
    },
    /// A schedule fired before any export was dropped.
    NoExport,
    /// The export is older than the one last built, or has been replaced:
    /// nothing is sent.
    Superseded {
        /// Why.
        reason: String,
    },
}

/// What a build did: the log line, the metric, and the submission record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    /// How it ended.
    #[serde(flatten)]
    pub ended: Ended,
    /// The catalog's name, when one was written.
    #[serde(default)]
    pub catalog: Option<String>,
    /// The export diffed.
    pub export: Option<ExportRef>,
    /// The catalog version built.
    pub catalog_version: Option<u64>,
    /// Items written per kind.
    pub items: KindCounts,
    /// Deletes written per kind.
    pub deletes: KindCounts,
    /// New items per kind.
    pub new: KindCounts,
    /// Changed items per kind.
    pub changed: KindCounts,
    /// Removed items per kind.
    pub removed: KindCounts,
    /// Items held as they were (their rows could not be loaded).
    #[serde(default)]
    pub held: u64,
    /// Export rows read.
    pub rows: u64,
    /// Export rows refused.
    pub rows_rejected: u64,
    /// Uncompressed XML bytes.
    pub xml_bytes: u64,
    /// Compressed bytes.
    pub compressed_bytes: u64,
    /// The one-shot override of the shrink and removal guards was used.
    #[serde(default)]
    pub allow_shrink: bool,
    /// Findings about the export and the diff (capped).
    pub findings: Vec<RecordedFinding>,
}

impl BuildReport {
    /// A report of a build that ended before writing anything.
    pub fn ended(ended: Ended, export: Option<ExportRef>) -> BuildReport {
        BuildReport {
            ended,
            catalog: None,
            export,
            catalog_version: None,
            items: KindCounts::default(),
            deletes: KindCounts::default(),
            new: KindCounts::default(),
            changed: KindCounts::default(),
            removed: KindCounts::default(),
            held: 0,
            rows: 0,
            rows_rejected: 0,
            xml_bytes: 0,
            compressed_bytes: 0,
            allow_shrink: false,
            findings: Vec::new(),
        }
    }
}

/// A finding as records keep it: what [`Finding`] serializes to, readable
/// back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFinding {
    /// `warning` or `error`.
    pub severity: String,
    /// The rule's stable code.
    pub rule: String,
    /// The item, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// 1-based line (0 when none).
    #[serde(default)]
    pub line: u64,
    /// 1-based column (0 when unknown).
    #[serde(default)]
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl From<&Finding> for RecordedFinding {
    fn from(finding: &Finding) -> RecordedFinding {
        let Position { line, column, .. } = finding.position;
        RecordedFinding {
            severity: match finding.severity {
                crate::finding::Severity::Warning => "warning",
                crate::finding::Severity::Error => "error",
            }
            .to_owned(),
            rule: finding.rule.code().to_owned(),
            item_id: finding.item_id.clone(),
            line,
            column,
            message: finding.message.clone(),
            fix: finding.fix.to_owned(),
        }
    }
}

/// The builder's record of one build that produced (or refused) a
/// catalog: `state/ledger/submissions/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// What the build did.
    #[serde(flatten)]
    pub report: BuildReport,
    /// How the catalog is handed to the gate once the state is committed
    /// (`None` when nothing was built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
    /// When the record was written (Unix seconds).
    pub at: i64,
}

/// How a built catalog becomes visible to the gate: the last step of a
/// build, taken only after its state is committed, and taken again by the
/// next build if a crash came in between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Handover {
    /// One part: copied to the catalog's name with this metadata, then deleted.
    Copy {
        /// The part's key.
        part: String,
        /// The catalog's key, which the gate acts on.
        key: String,
        /// The catalog's metadata.
        metadata: MetadataMap,
    },
    /// Several parts: the batch descriptor, created once.
    Descriptor {
        /// The descriptor's key, which the gate acts on.
        key: String,
        /// The descriptor.
        descriptor: BatchDescriptor,
        /// The descriptor's metadata.
        metadata: MetadataMap,
    },
}

impl Handover {
    /// The key the gate acts on.
    pub fn key(&self) -> &str {
        match self {
            Handover::Copy { key, .. } | Handover::Descriptor { key, .. } => key,
        }
    }
}

/// One file of a published submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its key in the work bucket.
    pub source: String,
    /// Its key in Amazon's bucket.
    pub destination: String,
    /// Its size in bytes.
    pub size: u64,
    /// The ETag of the version validated: exactly this one is copied.
    pub etag: ETag,
}

/// The gate's record of a published catalog (`state/ledger/published/`),
/// written once validation passed and before the manifest: what was sent,
/// when, how many items of each kind, of which type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// The catalog's name.
    pub catalog: String,
    /// `staging` or `prod`.
    pub env: String,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    pub manifest_type: String,
    /// Amazon's bucket.
    pub bucket: String,
    /// The manifest's key.
    pub manifest: String,
    /// The object that triggered it (the catalog or the descriptor).
    pub trigger: String,
    /// The trigger's ETag.
    pub trigger_etag: ETag,
    /// The files, in manifest order.
    pub files: Vec<FileRecord>,
    /// `<ProgramCatalog id>`.
    pub catalog_id: String,
    /// `<ProgramCatalog version>`.
    pub catalog_version: u64,
    /// The builder's catalog version, when the builder made it.
    pub built_as_version: Option<u64>,
    /// Valid items per kind.
    pub items: KindCounts,
    /// Deletes.
    pub deletes: u64,
    /// Decompressed XML bytes.
    pub xml_bytes: u64,
    /// Live items a full catalog leaves out (Amazon deletes them).
    pub dropped: u64,
    /// Warnings found.
    pub warnings: u64,
    /// When validation passed (RFC 3339).
    pub validated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(key: &str, etag: &str, ms: i64) -> ExportRef {
        ExportRef {
            key: key.into(),
            etag: ETag::new(etag),
            dropped_ms: ms,
        }
    }

    #[test]
    fn exports_order_by_drop_time_then_key_then_etag() {
        let day1 = export("source/a.jsonl", "1", 1_000);
        let day2 = export("source/a.jsonl", "2", 2_000);
        assert_eq!(day1.order(&day2), Ordering::Less);
        let same_ms_b = export("source/b.jsonl", "0", 1_000);
        assert_eq!(day1.order(&same_ms_b), Ordering::Less);
        assert_eq!(
            export("k", "\"b\"", 5).order(&export("k", "a", 5)),
            Ordering::Greater
        );
        assert!(export("k", "\"e\"", 5).same_object(&export("k", "e", 9)));
    }

    #[test]
    fn old_export_records_read_with_time_zero() {
        let old: ExportRef = serde_json::from_str(r#"{"key":"source/a","etag":"\"x\""}"#).unwrap();
        assert_eq!(old.dropped_ms, 0);
        assert_eq!(old.etag, ETag::new("x"));
    }
}
