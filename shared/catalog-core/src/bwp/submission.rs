//! The feed ledger: one record per feed file, from queued to done, and the
//! decisions taken on it \[ours\]. The I/O (the work bucket, the API) is
//! `catalog_aws::bwp_pass`; this module only says what a record holds and
//! what comes next.
//!
//! A record moves forward one [`Step`] at a time, each written (by
//! compare-and-swap) right after the call it records, and the intent
//! before `createCatalogFeed`:
//!
//! ```text
//! queued ─createUploadLink→ link-issued ─PUT→ uploaded ─(intent)→ creating
//!    ─createCatalogFeed→ submitted ─catalogFeed…→ completed | failed → done
//! ```
//!
//! A redelivery resumes at the step recorded: a link is asked again (a new
//! link is harmless), a PUT repeated (same file id, same bytes), a feed
//! polled again. The one step that cannot be repeated safely is
//! `createCatalogFeed`: a record found at `creating` means the call may have
//! been made and its answer lost (the function died between the answer and
//! the write of `submitted`, or the answer never came). The API cannot list
//! feeds, so the call is made again ([`SubmitAction::CreateFeed`] with
//! `again: true`, counted and logged): that window alone may submit a file
//! twice.
//!
//! One feed at a time: Buy with Prime refuses a second feed while one is
//! ongoing; the file goes back to `uploaded` and waits for a later run.

use serde::{Deserialize, Serialize};

/// The format version of a ledger record.
pub const FEED_RECORD_VERSION: u32 = 1;

/// How long an upload link is used after it was issued (seconds): the
/// links last 15 minutes \[docs\]; a link older than this is replaced rather
/// than tried.
pub const UPLOAD_LINK_REUSE_SECS: i64 = 14 * 60;

/// Where a feed file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Built and recorded: to be submitted (the intent).
    Queued,
    /// `createUploadLink` answered; the link is recorded.
    LinkIssued,
    /// The PUT succeeded.
    Uploaded,
    /// `createCatalogFeed` is being called (the intent, written before).
    Creating,
    /// `createCatalogFeed` answered; the feed id is recorded.
    Submitted,
    /// `catalogFeed` said COMPLETED; the result file id is recorded.
    Completed,
    /// `catalogFeed` said FAILED; the signals are recorded.
    Failed,
    /// The result was archived, parsed, summarised and applied (or the
    /// failure applied and told).
    Done,
}

impl Step {
    /// Whether the file still has to be submitted.
    pub fn before_submission(self) -> bool {
        self < Step::Submitted
    }

    /// Whether the feed is submitted and its outcome not yet dealt with.
    pub fn awaiting_outcome(self) -> bool {
        matches!(self, Step::Submitted | Step::Completed | Step::Failed)
    }
}

/// An upload link, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The presigned URL.
    pub url: String,
    /// The API's file id.
    pub file_id: String,
    /// The size it was asked for.
    pub size: u64,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
}

/// A signal of a failed feed, as recorded and alerted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedSignal {
    /// Its code.
    pub code: String,
    /// Its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `impactSummary`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_summary: Option<String>,
    /// `reactionSummary`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_summary: Option<String>,
}

/// The counts of a result, once applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCounts {
    /// Rows in the result file.
    pub rows: u64,
    /// Rows imported.
    pub imported: u64,
    /// Rows failed.
    pub failed: u64,
}

/// One feed file's ledger record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRecord {
    /// [`FEED_RECORD_VERSION`].
    pub format_version: u32,
    /// The feed file's name.
    pub file: String,
    /// Its key in the work bucket.
    pub key: String,
    /// Its size in bytes: the size the upload link is asked for.
    pub size: u64,
    /// Its ETag when queued: the bytes uploaded must be these.
    pub etag: String,
    /// Products in it.
    pub products: u64,
    /// When it was queued (Unix seconds).
    pub queued_at: i64,
    /// Where it stands.
    pub step: Step,
    /// The upload link in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRecord>,
    /// Upload links asked for in all.
    #[serde(default)]
    pub links_asked: u32,
    /// When the PUT succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    /// `createCatalogFeed` calls made (more than one only after a refusal
    /// or an unknown outcome).
    #[serde(default)]
    pub create_attempts: u32,
    /// Calls made again after an unknown outcome (the documented window).
    #[serde(default)]
    pub unknown_outcomes: u32,
    /// Times refused because another feed was ongoing.
    #[serde(default)]
    pub waits: u32,
    /// The API's feed id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_id: Option<String>,
    /// When it was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<i64>,
    /// The last status `catalogFeed` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Polls made.
    #[serde(default)]
    pub polls: u32,
    /// The result file's id (COMPLETED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_file_id: Option<String>,
    /// The signals (FAILED).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<FeedSignal>,
    /// The result's counts, once applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultCounts>,
    /// When the outcome was dealt with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<i64>,
}

/// What to do next to submit a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitAction {
    /// Ask for an upload link of the file's size.
    AskLink,
    /// PUT the file with the recorded link.
    Upload,
    /// Record the intent, then call `createCatalogFeed`. `again`: a record
    /// found at `creating`, whose earlier call's outcome is unknown.
    CreateFeed {
        /// Whether an earlier call may have been made.
        again: bool,
    },
    /// Submitted already: nothing to do.
    Nothing,
}

impl FeedRecord {
    /// A record for a file just built: queued.
    pub fn queued(
        file: &str,
        key: &str,
        size: u64,
        etag: &str,
        products: u64,
        now: i64,
    ) -> FeedRecord {
        FeedRecord {
            format_version: FEED_RECORD_VERSION,
            file: file.to_owned(),
            key: key.to_owned(),
            size,
            etag: etag.to_owned(),
            products,
            queued_at: now,
            step: Step::Queued,
            link: None,
            links_asked: 0,
            uploaded_at: None,
            create_attempts: 0,
            unknown_outcomes: 0,
            waits: 0,
            feed_id: None,
            submitted_at: None,
            status: None,
            polls: 0,
            result_file_id: None,
            signals: Vec::new(),
            result: None,
            done_at: None,
        }
    }

    /// Whether the recorded link may still be used for this file at `now`:
    /// asked for its exact size and not about to expire.
    pub fn link_usable(&self, now: i64) -> bool {
        self.link.as_ref().is_some_and(|link| {
            link.size == self.size && now - link.issued_at < UPLOAD_LINK_REUSE_SECS
        })
    }

    /// The next submission step at `now`.
    pub fn next_action(&self, now: i64) -> SubmitAction {
        match self.step {
            Step::Queued => SubmitAction::AskLink,
            Step::LinkIssued if self.link_usable(now) => SubmitAction::Upload,
            Step::LinkIssued => SubmitAction::AskLink,
            Step::Uploaded => SubmitAction::CreateFeed { again: false },
            Step::Creating => SubmitAction::CreateFeed { again: true },
            Step::Submitted | Step::Completed | Step::Failed | Step::Done => SubmitAction::Nothing,
        }
    }

    /// The record with a new link.
    pub fn with_link(mut self, url: &str, file_id: &str, now: i64) -> FeedRecord {
        self.link = Some(LinkRecord {
            url: url.to_owned(),
            file_id: file_id.to_owned(),
            size: self.size,
            issued_at: now,
        });
        self.links_asked += 1;
        self.step = Step::LinkIssued;
        self
    }

    /// The record once uploaded.
    pub fn uploaded(mut self, now: i64) -> FeedRecord {
        self.uploaded_at = Some(now);
        self.step = Step::Uploaded;
        self
    }

    /// The record with the intent to call `createCatalogFeed`.
    pub fn creating(mut self) -> FeedRecord {
        if self.step == Step::Creating {
            self.unknown_outcomes += 1;
        }
        self.create_attempts += 1;
        self.step = Step::Creating;
        self
    }

    /// The record once `createCatalogFeed` answered with `feed_id`.
    pub fn submitted(mut self, feed_id: &str, now: i64) -> FeedRecord {
        self.feed_id = Some(feed_id.to_owned());
        self.submitted_at = Some(now);
        self.step = Step::Submitted;
        self
    }

    /// The record refused because another feed is ongoing: back to
    /// `uploaded`, to wait for a later run.
    pub fn waiting(mut self) -> FeedRecord {
        self.waits += 1;
        self.step = Step::Uploaded;
        self
    }

    /// The record after a `createCatalogFeed` that surely created nothing
    /// (refused before it was carried out): back to `uploaded`, so the next
    /// call is not counted as one after an unknown outcome.
    pub fn not_created(mut self) -> FeedRecord {
        self.step = Step::Uploaded;
        self
    }

    /// The record to start over from a new link (the uploaded file is
    /// gone or refused).
    pub fn restart(mut self) -> FeedRecord {
        self.link = None;
        self.step = Step::Queued;
        self
    }
}

/// The record to submit next: the first by file name that is not
/// submitted yet. Files go one at a time, in the order they were built.
pub fn next_to_submit(records: &[FeedRecord]) -> Option<&FeedRecord> {
    records
        .iter()
        .filter(|r| r.step.before_submission())
        .min_by(|a, b| a.file.cmp(&b.file))
}

/// The error codes of a failed feed, `;`-joined, as the listing state keeps them.
pub fn signal_codes(signals: &[FeedSignal]) -> String {
    let codes: Vec<&str> = signals
        .iter()
        .map(|s| s.code.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    codes.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(file: &str) -> FeedRecord {
        FeedRecord::queued(file, &format!("bwp/feeds/{file}"), 100, "\"e\"", 3, 1000)
    }

    #[test]
    fn a_record_walks_the_steps_and_resumes_where_it_stopped() {
        let r = record("f1");
        assert_eq!(r.next_action(1000), SubmitAction::AskLink);
        let r = r.with_link("http://u", "file-1", 1000);
        assert_eq!(r.next_action(1000 + 60), SubmitAction::Upload);
        assert_eq!(
            r.next_action(1000 + UPLOAD_LINK_REUSE_SECS),
            SubmitAction::AskLink,
            "a link about to expire is replaced, not tried"
        );
        let r = r.uploaded(1010);
        assert_eq!(
            r.next_action(1010),
            SubmitAction::CreateFeed { again: false }
        );
        let r = r.creating();
        assert_eq!(
            r.next_action(1010),
            SubmitAction::CreateFeed { again: true }
        );
        let r = r.creating();
        assert_eq!((r.create_attempts, r.unknown_outcomes), (2, 1));
        let r = r.submitted("feed-1", 1020);
        assert_eq!(r.next_action(1020), SubmitAction::Nothing);
        assert!(r.step.awaiting_outcome());
    }

    #[test]
    fn a_link_of_another_size_is_not_used() {
        let mut r = record("f1").with_link("http://u", "file-1", 1000);
        r.size = 101;
        assert!(!r.link_usable(1000));
    }

    #[test]
    fn a_refused_file_waits_uploaded_and_files_go_in_name_order() {
        let r = record("f2")
            .with_link("u", "x", 0)
            .uploaded(0)
            .creating()
            .waiting();
        assert_eq!((r.step, r.waits), (Step::Uploaded, 1));
        let records = vec![r, record("f3"), record("f1").submitted("id", 0)];
        assert_eq!(
            next_to_submit(&records).map(|r| r.file.as_str()),
            Some("f2")
        );
    }

    #[test]
    fn records_round_trip_as_json() {
        let r = record("f1").with_link("u", "x", 0);
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert!(text.contains("\"step\":\"link-issued\""), "{text}");
        let back: FeedRecord = serde_json::from_str(&text).unwrap_or_else(|_| record("bad"));
        assert_eq!(back, r);
    }
}
