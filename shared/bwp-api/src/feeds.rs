//! The catalog-feed operations (DOMAIN.md B4): `createUploadLink`, the
//! HTTP PUT of the file, `createCatalogFeed`, `catalogFeed`, `downloadLink`
//! and the GET of the result file.
//!
//! Every GraphQL text these operations send is in this module, in the
//! `*_QUERY` functions below, so a shape that turns out wrong changes in one
//! place. What DOMAIN.md gives and what is inferred:
//!
//! - \[documented\] the field names, `createUploadLink(input:{fileType: CSV,
//!   size})` answering `payload { uploadUrl fileId }`,
//!   `createCatalogFeed(input:{dataProvider:{uploadedFile:{fileId}},
//!   configuration:{overwriteExistingProducts:false}})` answering `{ id }`,
//!   `catalogFeed` answering `id status result { signals { code
//!   signalMessage impactSummary reactionSummary } resultReport { ... on
//!   UploadedFile { fileId } } }`, `downloadLink` answering `downloadUrl`.
//! - \[inferred\] the argument names `catalogFeed(catalogFeedId: …)` and
//!   `downloadLink(fileId: …)`, from DOMAIN.md's shorthand
//!   `catalogFeed(catalogFeedId)` / `downloadLink(fileId)` and the
//!   reference's `inventoryItem(inventoryItemId: …)`.
//! - [inferred, chosen] arguments are written inline as GraphQL literals
//!   (numbers, JSON-escaped strings, the enum `CSV`) rather than as
//!   variables, because variables need the input types' names
//!   (`CreateUploadLinkInput!`?) and the docs give none. Every value inlined
//!   is a number or escaped by [`graphql_string`].
//! - \[inferred\] the "only one ongoing catalog feed" refusal is recognised by
//!   its classification (ThrottlingError / 429) *and* its message containing
//!   "ongoing" (the docs' text: "Only one ongoing Catalog Feed is supported
//!   at a time"); see [`is_ongoing_feed_message`]. A plain rate limit is a
//!   [`ApiError::Throttled`] and is retried; this one is
//!   [`ApiError::FeedOngoing`] and is not: the file waits for a later run.
//! - \[docs\] a presigned upload URL refuses a different Content-Length with
//!   S3's `SignatureDoesNotMatch` and an expired link with `AccessDenied`
//!   (XML bodies, HTTP 403); both are [`ApiError::LinkRefused`], whose
//!   answer is to ask for a new link. Download links last 5 seconds: fetch
//!   at once.
//!
//! `createCatalogFeed` is never retried after the request may have reached
//! the API (a 5xx, a lost answer): a retry could start a second feed of the
//! same file. Only refusals that prove nothing was done (a plain rate
//! limit, a connection that never opened, a refused token) are retried.

use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, Client, Retry, short, transport};

/// The most bytes a result file may have (15,000 rows of a few hundred
/// bytes is a few MB; a file past this bound is refused, not read).
pub const MAX_RESULT_BYTES: usize = 64 << 20;

/// A temporary upload URL and the file id it uploads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLink {
    /// The presigned URL to PUT the file to.
    pub upload_url: String,
    /// The file's id, for `createCatalogFeed`.
    pub file_id: String,
}

/// A catalog feed's status \[docs\].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// Accepted, not started.
    Created,
    /// Being processed.
    InProgress,
    /// Done: a result file is there.
    Completed,
    /// Failed as a whole: signals say why.
    Failed,
    /// A status the docs do not name, as sent.
    Other(String),
}

impl FeedStatus {
    /// Reads the API's value.
    pub fn parse(text: &str) -> FeedStatus {
        match text {
            "CREATED" => FeedStatus::Created,
            "IN_PROGRESS" => FeedStatus::InProgress,
            "COMPLETED" => FeedStatus::Completed,
            "FAILED" => FeedStatus::Failed,
            other => FeedStatus::Other(other.to_owned()),
        }
    }

    /// The API's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FeedStatus::Created => "CREATED",
            FeedStatus::InProgress => "IN_PROGRESS",
            FeedStatus::Completed => "COMPLETED",
            FeedStatus::Failed => "FAILED",
            FeedStatus::Other(other) => other,
        }
    }

    /// Whether the feed is over (completed or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self, FeedStatus::Completed | FeedStatus::Failed)
    }
}

/// A signal: something about the feed the merchant must fix.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Signal {
    /// Its code.
    pub code: String,
    /// `signalMessage.message`.
    pub message: Option<String>,
    /// `impactSummary.message`, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact_summary: Option<String>,
    /// `reactionSummary.message`, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction_summary: Option<String>,
}

/// A catalog feed, as `catalogFeed` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFeed {
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: FeedStatus,
    /// Its signals (a failed feed's reasons).
    pub signals: Vec<Signal>,
    /// The result file's id, once completed.
    pub result_file_id: Option<String>,
}

#[derive(Deserialize)]
struct Localized {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignalWire {
    code: Option<String>,
    signal_message: Option<Localized>,
    impact_summary: Option<Localized>,
    reaction_summary: Option<Localized>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportWire {
    file_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultWire {
    #[serde(default)]
    signals: Option<Vec<SignalWire>>,
    result_report: Option<ReportWire>,
}

#[derive(Deserialize)]
struct FeedWire {
    id: String,
    status: String,
    result: Option<ResultWire>,
}

/// A JSON string literal, which is also a valid GraphQL string literal
/// (GraphQL's escapes are JSON's).
pub fn graphql_string(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// Whether a throttling message is the "only one ongoing catalog feed"
/// refusal [inferred from the docs' text].
pub fn is_ongoing_feed_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("ongoing") && lower.contains("feed")
}

fn create_upload_link_query(size: u64) -> String {
    format!(
        "mutation CreateUploadLink {{ createUploadLink(input: {{fileType: CSV, size: {size}}}) {{ payload {{ uploadUrl fileId }} }} }}"
    )
}

fn create_catalog_feed_query(file_id: &str) -> String {
    format!(
        "mutation CreateCatalogFeed {{ createCatalogFeed(input: {{dataProvider: {{uploadedFile: {{fileId: {}}}}}, configuration: {{overwriteExistingProducts: false}}}}) {{ id }} }}",
        graphql_string(file_id)
    )
}

fn catalog_feed_query(id: &str) -> String {
    format!(
        "query CatalogFeed {{ catalogFeed(catalogFeedId: {}) {{ id status result {{ signals {{ code signalMessage {{ locale message }} impactSummary {{ locale message }} reactionSummary {{ locale message }} }} resultReport {{ ... on UploadedFile {{ fileId }} }} }} }} }}",
        graphql_string(id)
    )
}

fn download_link_query(file_id: &str) -> String {
    format!(
        "query DownloadLink {{ downloadLink(fileId: {}) {{ downloadUrl }} }}",
        graphql_string(file_id)
    )
}

/// What S3 answers a refused presigned request with: `<Error><Code>…`.
fn s3_error_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(body[start..end].trim().to_owned())
}

impl Client {
    /// `createUploadLink` for a CSV of exactly `size` bytes (at least 1).
    pub async fn create_upload_link(&self, size: u64) -> Result<UploadLink, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            upload_url: String,
            file_id: String,
        }
        #[derive(Deserialize)]
        struct Answer {
            payload: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_upload_link: Answer,
        }
        if size == 0 {
            return Err(ApiError::Validation {
                message: "createUploadLink needs a size of at least 1 byte".into(),
            });
        }
        // Asking twice only makes another link: safe to retry.
        let data: Data = self
            .query_with(&create_upload_link_query(size), json!({}), Retry::Always)
            .await?;
        let payload = data.create_upload_link.payload;
        Ok(UploadLink {
            upload_url: payload.upload_url,
            file_id: payload.file_id,
        })
    }

    /// PUTs `body` to a presigned upload URL with its exact Content-Length.
    /// A refusal by the link (size or expiry) is [`ApiError::LinkRefused`]:
    /// ask for a new link. Not retried here: the caller decides.
    pub async fn upload(&self, upload_url: &str, body: Vec<u8>) -> Result<(), ApiError> {
        let length = body.len();
        let response = self
            .http
            .put(upload_url)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body)
            .send()
            .await
            .map_err(|e| transport(&redact(upload_url), &e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(link_error("upload", upload_url, status, &text))
    }

    /// `createCatalogFeed` of an uploaded file: the feed's id. A second feed
    /// while one runs is [`ApiError::FeedOngoing`]. Retried only on answers
    /// that prove no feed was created (see the module doc).
    pub async fn create_catalog_feed(&self, file_id: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Answer {
            id: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_catalog_feed: Answer,
        }
        let data: Data = self
            .query_with(
                &create_catalog_feed_query(file_id),
                json!({}),
                Retry::UnlessMaybeDone,
            )
            .await?;
        Ok(data.create_catalog_feed.id)
    }

    /// `catalogFeed(id)`: its status, signals and result file id. `None`
    /// when the API answers `null` (no such feed).
    pub async fn catalog_feed(&self, id: &str) -> Result<Option<CatalogFeed>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            catalog_feed: Option<FeedWire>,
        }
        let data: Data = self
            .query_with(&catalog_feed_query(id), json!({}), Retry::Always)
            .await?;
        let Some(feed) = data.catalog_feed else {
            return Ok(None);
        };
        let (signals, result_file_id) = match feed.result {
            Some(result) => (
                result
                    .signals
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| Signal {
                        code: s.code.unwrap_or_default(),
                        message: s.signal_message.and_then(|m| m.message),
                        impact_summary: s.impact_summary.and_then(|m| m.message),
                        reaction_summary: s.reaction_summary.and_then(|m| m.message),
                    })
                    .collect(),
                result
                    .result_report
                    .and_then(|r| r.file_id)
                    .filter(|f| !f.is_empty()),
            ),
            None => (Vec::new(), None),
        };
        Ok(Some(CatalogFeed {
            id: feed.id,
            status: FeedStatus::parse(&feed.status),
            signals,
            result_file_id,
        }))
    }

    /// `downloadLink(fileId)`: a presigned URL that lasts 5 seconds.
    pub async fn download_link(&self, file_id: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            download_url: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            download_link: Answer,
        }
        let data: Data = self
            .query_with(&download_link_query(file_id), json!({}), Retry::Always)
            .await?;
        Ok(data.download_link.download_url)
    }

    /// GETs a presigned download URL, at most [`MAX_RESULT_BYTES`]. An
    /// expired link is [`ApiError::LinkRefused`]: ask for a new one.
    pub async fn download(&self, download_url: &str) -> Result<Vec<u8>, ApiError> {
        let shown = redact(download_url);
        let mut response = self
            .http
            .get(download_url)
            .send()
            .await
            .map_err(|e| transport(&shown, &e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            return Err(link_error("download", download_url, status, &text));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&shown, &e))? {
            if body.len() + chunk.len() > MAX_RESULT_BYTES {
                return Err(ApiError::Decode {
                    message: format!(
                        "the result file at {shown} is larger than {MAX_RESULT_BYTES} bytes; not read"
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A presigned URL without its query (the signature) for messages.
fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

fn link_error(what: &'static str, url: &str, status: u16, body: &str) -> ApiError {
    match (status, s3_error_code(body)) {
        (403 | 400, Some(code)) => ApiError::LinkRefused {
            operation: what,
            url: redact(url),
            status,
            code,
            message: short(body),
        },
        (500..=599, _) => ApiError::Server {
            status,
            message: format!("{what} to {}: {}", redact(url), short(body)),
        },
        _ => ApiError::LinkRefused {
            operation: what,
            url: redact(url),
            status,
            code: format!("HTTP{status}"),
            message: short(body),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inline_strings_are_escaped() {
        assert_eq!(graphql_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert!(create_catalog_feed_query("f\"1").contains(r#"fileId: "f\"1""#));
    }

    #[test]
    fn the_ongoing_refusal_is_told_apart_from_a_rate_limit() {
        assert!(is_ongoing_feed_message(
            "Only one ongoing Catalog Feed is supported at a time"
        ));
        assert!(!is_ongoing_feed_message("Rate exceeded"));
    }

    #[test]
    fn s3_errors_are_read_from_their_xml() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(body).unwrap(), "SignatureDoesNotMatch");
        let e = link_error("upload", "http://h/u?X-Amz-Signature=abc", 403, body);
        match &e {
            ApiError::LinkRefused { code, url, .. } => {
                assert_eq!(code, "SignatureDoesNotMatch");
                assert!(!url.contains("abc"), "the signature is not printed");
            }
            other => panic!("{other:?}"),
        }
        assert!(!e.is_retryable());
    }

    #[test]
    fn statuses_read_and_finish() {
        assert_eq!(FeedStatus::parse("IN_PROGRESS"), FeedStatus::InProgress);
        assert!(FeedStatus::parse("FAILED").is_finished());
        assert!(!FeedStatus::parse("CREATED").is_finished());
        assert_eq!(FeedStatus::parse("PAUSED").as_str(), "PAUSED");
    }
}
