//! The gate's decisions: what an outbox file is, which type a catalog is,
//! whether a validated catalog may go to Amazon, and the manifest that hands
//! it over (DOMAIN.md A1, A3).
//!
//! The gate reads every file of a catalog with a [`crate::reader::CatalogReader`]
//! whose [`crate::ids::KnownItems`] is the catalog state, so each entry is
//! checked against what was sent before it (parents, delete order, versions).
//! [`GateCheck`] then adds what only the whole submission shows: the root id,
//! a full catalog carrying deletes, and the shrink guard. The I/O (streaming
//! from the outbox, copying to Amazon's bucket, quarantine) belongs to the
//! manifest-writer function; nothing here touches a store.

use serde::Serialize;

use crate::diff::shrink_exceeded;
use crate::finding::{Finding, Position, Rule, Severity};
use crate::input::Compression;
use crate::ledger::Published;
use crate::model::SubmissionType;
use crate::naming::stem;
use crate::outbox::{BatchDescriptor, CatalogMeta, ETag};
use crate::reader::ReadReport;

/// The `schema` every manifest names.
pub const SCHEMA: &str = "EMBER";

pub use crate::outbox::OutboxFile;

/// What the gate is asked to publish, resolved from the object that
/// triggered it (a catalog, or a batch descriptor and its parts) before any
/// XML is read.
#[derive(Debug, Clone)]
pub struct GateSubmission {
    /// The outbox folder's environment.
    pub env: String,
    /// The catalog's name (`….xml.zst`).
    pub name: String,
    /// The object that triggered the pass.
    pub trigger: String,
    /// Its ETag, as read.
    pub trigger_etag: ETag,
    /// The catalog files in the work bucket, in order, with the sizes the
    /// descriptor gives.
    pub files: Vec<(String, Option<u64>)>,
    /// What the trigger's metadata says (for a batch, with the descriptor's
    /// type over it).
    pub meta: CatalogMeta,
}

impl GateSubmission {
    /// A catalog on its own, from the one response its bytes came with.
    pub fn single(env: &str, name: &str, key: &str, etag: ETag, meta: CatalogMeta) -> Self {
        GateSubmission {
            env: env.to_owned(),
            name: name.to_owned(),
            trigger: key.to_owned(),
            trigger_etag: etag,
            files: vec![(key.to_owned(), None)],
            meta,
        }
    }

    /// A batch: its parts must sit in the descriptor's own folder and be
    /// `.xml.zst`. With a finding to refuse it on when the descriptor is
    /// unreadable or names parts it may not.
    pub fn batch(
        env: &str,
        stem: &str,
        key: &str,
        etag: ETag,
        meta: CatalogMeta,
        descriptor: Result<BatchDescriptor, String>,
    ) -> (Self, Option<Finding>) {
        let mut submission = GateSubmission {
            env: env.to_owned(),
            name: format!("{stem}.xml.zst"),
            trigger: key.to_owned(),
            trigger_etag: etag,
            files: Vec::new(),
            meta,
        };
        let refuse = |message: String| {
            Some(Finding::error(
                Rule::BatchDescriptor,
                Position::default(),
                message,
            ))
        };
        let descriptor = match descriptor {
            Ok(descriptor) => descriptor,
            Err(message) => return (submission, refuse(message)),
        };
        if let Some(name) = descriptor.catalog.clone().filter(|n| !n.is_empty()) {
            submission.name = name;
        }
        if let Some(kind) = descriptor.catalog_type.clone().filter(|t| !t.is_empty()) {
            submission.meta.catalog_type = Some(kind);
        }
        match descriptor.part_keys(env) {
            Ok(files) => submission.files = files,
            Err(message) => return (submission, refuse(message)),
        }
        (submission, None)
    }

    /// Whether the builder made it: the state already counts it as sent.
    pub fn builder_made(&self) -> bool {
        self.meta.catalog_version.is_some()
    }

    /// Full or update, from the metadata or the name; never guessed.
    pub fn kind(&self) -> Result<SubmissionType, Finding> {
        submission_type(self.meta.catalog_type.as_deref(), &self.name)
            .map_err(|message| Finding::error(Rule::CatalogType, Position::default(), message))
    }

    /// What happens after a refusal: a catalog the builder made is already
    /// counted as sent by the state, so only a full catalog puts Amazon back
    /// in line with it; a hand-made one is simply not published.
    pub fn after_refusal(&self) -> AfterRefusal {
        if self.builder_made() {
            AfterRefusal {
                request_full: true,
                next: "nothing is published; the next build sends a full catalog, which brings Amazon in line with the state",
            }
        } else {
            AfterRefusal {
                request_full: false,
                next: "nothing is published; fix the findings and upload the catalog again under a new name",
            }
        }
    }
}

/// What follows a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterRefusal {
    /// Ask the next build for a full catalog.
    pub request_full: bool,
    /// What happens next, in the provider's words.
    pub next: &'static str,
}

/// Whether this stack publishes a catalog dropped under `outbox/<env>/`:
/// only its own environment (`CATALOG_ENV`), and `prod` only once Amazon
/// granted production access.
pub fn env_guard(env: &str, stack_env: &str, production_access: bool) -> Result<(), Finding> {
    let refuse =
        |rule: Rule, message: String| Err(Finding::error(rule, Position::default(), message));
    if env != "prod" && env != "staging" {
        return refuse(
            Rule::WrongEnv,
            format!("{env:?} is not one of Amazon's environments (staging, prod)"),
        );
    }
    if env != stack_env {
        return refuse(
            Rule::WrongEnv,
            format!(
                "this catalog is under outbox/{env}/, and this stack publishes CATALOG_ENV={stack_env} only"
            ),
        );
    }
    if env == "prod" && !production_access {
        return refuse(
            Rule::ProductionClosed,
            "production access not enabled: this catalog is for prod, and PRODUCTION_ACCESS is not true".into(),
        );
    }
    Ok(())
}

/// A published record already names this catalog: the same trigger object
/// is a redelivery, which finishes publishing; another object under a
/// published name is refused.
pub fn ledger_check(record: &Published, submission: &GateSubmission) -> Result<(), Finding> {
    if record.trigger_etag == submission.trigger_etag {
        return Ok(());
    }
    Err(Finding::error(
        Rule::DestinationConflict,
        Position::default(),
        format!(
            "a catalog named {} was already published (manifest {}); this is a different object under the same name",
            submission.name, record.manifest
        ),
    ))
}

/// A catalog's submission type: the object's `catalog-type` metadata when it
/// has one (`CATALOG_FULL`, `CATALOG_UPDATE`, `full` or `update`), else its
/// name (`…-full…` or `…-update…`). Never guessed: a full catalog makes
/// Amazon delete whatever it lacks.
pub fn submission_type(metadata: Option<&str>, name: &str) -> Result<SubmissionType, String> {
    if let Some(value) = metadata.map(str::trim).filter(|v| !v.is_empty()) {
        return match value.to_ascii_lowercase().as_str() {
            "catalog_full" | "full" => Ok(SubmissionType::Full),
            "catalog_update" | "update" => Ok(SubmissionType::Update),
            _ => Err(format!(
                "metadata catalog-type is {value:?}; expected CATALOG_FULL or CATALOG_UPDATE"
            )),
        };
    }
    let base = stem(name).trim_end_matches(".batch.json");
    let words: Vec<&str> = base.split(['-', '_', '.']).collect();
    let full = words.iter().any(|w| w.eq_ignore_ascii_case("full"));
    let update = words
        .iter()
        .any(|w| w.eq_ignore_ascii_case("update") || w.eq_ignore_ascii_case("incremental"));
    match (full, update) {
        (true, false) => Ok(SubmissionType::Full),
        (false, true) => Ok(SubmissionType::Update),
        _ => Err(format!(
            "cannot tell whether {name:?} is a full catalog or an update: its name says {}, and it has no catalog-type metadata",
            if full { "both" } else { "neither" }
        )),
    }
}

/// Where a catalog file goes in Amazon's bucket: `<provider>/<env>/catalogs/<file>`.
pub fn destination_catalog_key(provider: &str, env: &str, file_name: &str) -> String {
    format!("{provider}/{env}/catalogs/{file_name}")
}

/// Where its manifest goes: `<provider>/<env>/manifests/<stem>.manifest`.
pub fn manifest_key(provider: &str, env: &str, catalog_name: &str) -> String {
    format!("{provider}/{env}/manifests/{}.manifest", stem(catalog_name))
}

/// The manifest that tells Amazon to ingest a catalog, in the shape of the
/// seed's example exactly: `s3Bucket`, `s3Keys` (the files in part order),
/// `type`, `schema`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Amazon's bucket.
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    /// The catalog files, in order.
    #[serde(rename = "s3Keys")]
    pub s3_keys: Vec<String>,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Always [`SCHEMA`].
    pub schema: &'static str,
}

impl Manifest {
    /// The manifest of `keys` in `bucket`.
    pub fn new(bucket: impl Into<String>, keys: Vec<String>, kind: SubmissionType) -> Manifest {
        Manifest {
            s3_bucket: bucket.into(),
            s3_keys: keys,
            kind: kind.manifest_type(),
            schema: SCHEMA,
        }
    }

    /// The manifest's bytes: JSON indented by four spaces, like the seed.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Strings and a list of strings: serializing cannot fail.
        if self.serialize(&mut serializer).is_err() {
            out.clear();
        }
        out
    }
}

/// What the gate knows before reading a catalog.
#[derive(Debug, Clone)]
pub struct GateInput {
    /// Full or update.
    pub kind: SubmissionType,
    /// The `<ProgramCatalog id>` this deployment publishes.
    pub catalog_id: String,
    /// Items live now, per the state (for the shrink guard).
    pub live: u64,
    /// The shrink guard, in basis points.
    pub shrink_limit_bps: u32,
    /// The one-run override of the shrink guard was given.
    pub allow_shrink: bool,
}

/// A finding in one file of a submission, as `errors.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FileFinding {
    /// The file's key (or name).
    pub file: String,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Totals of a submission that passed or failed the gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GateCounts {
    /// Valid items per kind, indexed like [`crate::KindTag::ALL`].
    pub items: [u64; 4],
    /// Valid deletes.
    pub deletes: u64,
    /// Entries found invalid.
    pub rejected: u64,
    /// Decompressed bytes read.
    pub xml_bytes: u64,
    /// Items live now that a full catalog leaves out (0 for an update).
    pub dropped: u64,
}

/// The gate's checks over every file of one submission.
#[derive(Debug)]
pub struct GateCheck {
    input: GateInput,
    counts: GateCounts,
    known_live: u64,
    findings: Vec<FileFinding>,
    errors: u64,
    warnings: u64,
    not_kept: u64,
    cap: usize,
}

/// The gate's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Whether the submission may be published.
    pub accepted: bool,
    /// One line saying why not (or `"valid"`).
    pub reason: String,
    /// Totals.
    pub counts: GateCounts,
    /// Errors found, kept or not.
    pub errors: u64,
    /// Warnings found, kept or not.
    pub warnings: u64,
    /// Findings counted but not kept.
    pub findings_not_kept: u64,
    /// The findings kept, in file order.
    pub findings: Vec<FileFinding>,
}

impl Verdict {
    /// A refusal for one reason found before any file was read (the
    /// production gate, an unreadable batch descriptor, a name conflict).
    pub fn refused(file: &str, finding: Finding) -> Verdict {
        Verdict {
            accepted: false,
            reason: finding.message.clone(),
            counts: GateCounts::default(),
            errors: 1,
            warnings: 0,
            findings_not_kept: 0,
            findings: vec![FileFinding {
                file: file.to_owned(),
                finding,
            }],
        }
    }
}

impl GateCheck {
    /// Starts checking a submission; keeps at most `cap` findings in all.
    pub fn new(input: GateInput, cap: usize) -> GateCheck {
        GateCheck {
            input,
            counts: GateCounts::default(),
            known_live: 0,
            findings: Vec::new(),
            errors: 0,
            warnings: 0,
            not_kept: 0,
            cap,
        }
    }

    /// Adds a finding about the submission or one file.
    pub fn push(&mut self, file: &str, finding: Finding) {
        match finding.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        self.keep(file, finding);
    }

    /// Keeps a finding already counted, up to the cap.
    fn keep(&mut self, file: &str, finding: Finding) {
        if self.findings.len() < self.cap {
            self.findings.push(FileFinding {
                file: file.to_owned(),
                finding,
            });
        } else {
            self.not_kept += 1;
        }
    }

    /// Adds the report of one file (read with the state as known items),
    /// and checks what its root and content say against the submission.
    pub fn add_file(&mut self, file: &str, report: ReadReport) {
        let counts = &mut self.counts;
        for (total, n) in counts.items.iter_mut().zip(report.items) {
            *total += n;
        }
        counts.deletes += report.deletes;
        counts.rejected += report.rejected;
        counts.xml_bytes += report.xml_bytes;
        self.known_live += report.known_live;
        if let Some(header) = &report.header
            && header.id != self.input.catalog_id
        {
            self.push(
                file,
                Finding::error(
                    Rule::CatalogId,
                    Position::default(),
                    format!(
                        "<ProgramCatalog id={:?}> is not {:?}, the catalog this deployment publishes",
                        header.id, self.input.catalog_id
                    ),
                ),
            );
        }
        if report.compression != Compression::Zstd {
            self.push(
                file,
                Finding::error(
                    Rule::Compression,
                    Position::default(),
                    format!(
                        "the file is {}, not zstd-compressed XML, which is what Amazon ingests",
                        match report.compression {
                            Compression::Gzip => "gzip-compressed",
                            _ => "not compressed",
                        }
                    ),
                ),
            );
        }
        if self.input.kind == SubmissionType::Full && report.deletes > 0 {
            self.push(
                file,
                Finding::error(
                    Rule::CatalogType,
                    Position::default(),
                    format!(
                        "a CATALOG_FULL catalog carries {} Delete elements; a full catalog deletes by leaving items out, so send deletes in an update",
                        report.deletes
                    ),
                ),
            );
        }
        self.not_kept += report.findings.dropped();
        self.errors += report.findings.error_count();
        self.warnings += report.findings.warning_count();
        for finding in report.findings.into_vec() {
            self.keep(file, finding);
        }
    }

    /// The verdict: every file valid, and for a full catalog the shrink guard.
    pub fn finish(mut self) -> Verdict {
        let dropped = match self.input.kind {
            SubmissionType::Full => self.input.live.saturating_sub(self.known_live),
            SubmissionType::Update => self.counts.deletes,
        };
        self.counts.dropped = dropped;
        if let Some(why) = shrink_exceeded(
            self.input.kind,
            dropped,
            self.input.live,
            self.input.shrink_limit_bps,
        ) {
            if self.input.allow_shrink {
                self.push(
                    "",
                    Finding::warning(
                        Rule::ShrinkGuard,
                        Position::default(),
                        format!("{why}; allowed for this catalog by its allow-shrink override"),
                    ),
                );
            } else {
                self.push(
                    "",
                    Finding::error(Rule::ShrinkGuard, Position::default(), why),
                );
            }
        }
        let reason = reason(&self.findings, self.errors);
        Verdict {
            accepted: self.errors == 0,
            reason,
            counts: self.counts,
            errors: self.errors,
            warnings: self.warnings,
            findings_not_kept: self.not_kept,
            findings: self.findings,
        }
    }
}

/// "valid", or the error count and the rules broken, most frequent first.
fn reason(findings: &[FileFinding], errors: u64) -> String {
    if errors == 0 {
        return "valid".into();
    }
    let mut rules: Vec<(Rule, u64)> = Vec::new();
    for f in findings
        .iter()
        .filter(|f| f.finding.severity == Severity::Error)
    {
        match rules.iter_mut().find(|(rule, _)| *rule == f.finding.rule) {
            Some((_, n)) => *n += 1,
            None => rules.push((f.finding.rule, 1)),
        }
    }
    rules.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let list: Vec<String> = rules
        .iter()
        .map(|(rule, n)| format!("{rule} ×{n}"))
        .collect();
    let noun = if errors == 1 { "error" } else { "errors" };
    format!("{errors} {noun}: {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{CatalogReader, ReadOptions};

    #[test]
    fn the_type_comes_from_metadata_then_the_name_and_is_never_guessed() {
        use SubmissionType::{Full, Update};
        assert_eq!(submission_type(Some("CATALOG_FULL"), "x.xml.zst"), Ok(Full));
        assert_eq!(
            submission_type(Some("update"), "catalog-full.xml.zst"),
            Ok(Update)
        );
        assert!(submission_type(Some("FULLISH"), "x.xml.zst").is_err());
        assert_eq!(
            submission_type(None, "catalog-20250420T060000Z-full.xml.zst"),
            Ok(Full)
        );
        assert_eq!(
            submission_type(None, "incremental-20250421.xml.zst"),
            Ok(Update)
        );
        assert!(submission_type(None, "catalog-20250420.xml.zst").is_err());
        assert!(submission_type(None, "full-update.xml.zst").is_err());
    }

    #[test]
    fn the_manifest_has_the_seed_shape() {
        let manifest = Manifest::new(
            "amazon-media-catalogs",
            vec![
                "p/prod/catalogs/a.xml.zst".into(),
                "p/prod/catalogs/b.xml.zst".into(),
            ],
            SubmissionType::Update,
        );
        let expected = r#"{
    "s3Bucket": "amazon-media-catalogs",
    "s3Keys": [
        "p/prod/catalogs/a.xml.zst",
        "p/prod/catalogs/b.xml.zst"
    ],
    "type": "CATALOG_UPDATE",
    "schema": "EMBER"
}"#;
        assert_eq!(String::from_utf8(manifest.to_json()).unwrap(), expected);
        assert_eq!(
            manifest_key("p", "prod", "catalog-x-full.xml.zst"),
            "p/prod/manifests/catalog-x-full.manifest"
        );
    }

    fn report(xml: &str) -> ReadReport {
        let zst = zstd::encode_all(xml.as_bytes(), 1).unwrap();
        CatalogReader::new(&zst[..], ReadOptions::default())
            .unwrap()
            .validate_to_end()
            .unwrap()
    }

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn a_full_catalog_with_deletes_or_another_id_is_refused() {
        let xml = format!(
            r#"{DECL}<DataCollections schemaVersion="1.0.0"><ProgramCatalog id="OTHER" version="1"><Delete id="m" version="2"/></ProgramCatalog></DataCollections>"#
        );
        let mut check = GateCheck::new(
            GateInput {
                kind: SubmissionType::Full,
                catalog_id: "MINE".into(),
                live: 0,
                shrink_limit_bps: 1000,
                allow_shrink: false,
            },
            100,
        );
        check.add_file("a.xml.zst", report(&xml));
        let verdict = check.finish();
        assert!(!verdict.accepted);
        let rules: Vec<&str> = verdict
            .findings
            .iter()
            .map(|f| f.finding.rule.code())
            .collect();
        assert_eq!(rules, ["catalog.id", "catalog.type"]);
        assert_eq!(verdict.reason, "2 errors: catalog.id ×1, catalog.type ×1");
    }

    #[test]
    fn the_shrink_guard_counts_live_items_left_out() {
        let run = |live: u64, allow_shrink: bool| {
            let mut check = GateCheck::new(
                GateInput {
                    kind: SubmissionType::Full,
                    catalog_id: "MINE".into(),
                    live,
                    shrink_limit_bps: 1000,
                    allow_shrink,
                },
                100,
            );
            let mut r = report(&format!(
                r#"{DECL}<DataCollections schemaVersion="1.0.0"><ProgramCatalog id="MINE" version="1"></ProgramCatalog></DataCollections>"#
            ));
            r.known_live = 89;
            check.add_file("a", r);
            check.finish()
        };
        let refused = run(100, false);
        assert!(!refused.accepted);
        assert_eq!(refused.counts.dropped, 11);
        assert!(
            refused.findings[0]
                .finding
                .message
                .contains("drop 11 of 100")
        );
        assert!(run(100, true).accepted);
        assert!(run(98, false).accepted, "9 of 98 is under 10%");
    }
}
