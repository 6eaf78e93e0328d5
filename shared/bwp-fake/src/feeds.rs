//! The fake's catalog feeds: upload links, feeds that move over polls,
//! result files and download links that expire (DOMAIN.md B4).
//!
//! - `createUploadLink(input:{fileType: CSV, size: N})` answers
//!   `{payload:{uploadUrl, fileId}}`; the URL is `/upload/<token>` on the
//!   fake and lasts 15 minutes ([`FakeBwp::set_upload_link_ttl`]). A PUT of
//!   another Content-Length, or another method, answers S3's
//!   `SignatureDoesNotMatch` (403, XML); an expired link `AccessDenied`.
//!   [`FakeBwp::mismatch_next_upload_link`] signs the next link for one byte
//!   more than asked (the PUT of the right file is then refused), and
//!   [`FakeBwp::expire_next_upload_link`] issues the next one expired.
//! - `createCatalogFeed` needs an uploaded file and refuses a second feed
//!   while one is not finished: HTTP 429, ThrottlingError, "Only one ongoing
//!   Catalog Feed is supported at a time". Every call is counted
//!   ([`FakeBwp::create_feed_calls`]), accepted ones too
//!   ([`FakeBwp::feeds_created`]).
//! - `catalogFeed(catalogFeedId)`: poll 1 answers CREATED, poll 2
//!   IN_PROGRESS, poll [`FakeBwp::set_polls_to_finish`] (3 by default)
//!   COMPLETED with a result file, or FAILED with signals when
//!   [`FakeBwp::fail_next_feed`] said so. A feed is ongoing until the poll
//!   that finishes it.
//! - The result CSV has the seed's columns; every
//!   [`FakeBwp::fail_every_nth_row`]-th row (none by default) FAILED with two
//!   codes and two details.
//! - `downloadLink(fileId)` answers `/download/<token>`, valid 5 seconds
//!   ([`FakeBwp::set_download_link_ttl`]); [`FakeBwp::expire_next_download_link`]
//!   issues the next one expired. Successful downloads are counted per file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{FakeBwp, Inner, Shared, error_response};

/// A signal a failed feed reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSignal {
    /// Its code.
    pub code: String,
    /// `signalMessage.message`.
    pub message: String,
    /// `impactSummary.message`, if any.
    pub impact: Option<String>,
    /// `reactionSummary.message`, if any.
    pub reaction: Option<String>,
}

impl FakeSignal {
    /// Two signals: one with impact and reaction summaries, one without.
    pub fn examples() -> Vec<FakeSignal> {
        vec![
            FakeSignal {
                code: "INVALID_FILE_FORMAT".into(),
                message: "The file could not be read as a catalog feed".into(),
                impact: Some("No product of the file was imported".into()),
                reaction: Some("Fix the header row and upload the file again".into()),
            },
            FakeSignal {
                code: "FILE_TOO_LARGE".into(),
                message: "The file holds more than 15,000 products".into(),
                impact: None,
                reaction: None,
            },
        ]
    }
}

#[derive(Debug)]
struct UploadFile {
    declared: u64,
    expires: Instant,
    body: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Feed {
    id: String,
    file_id: String,
    polls: u32,
    fail: Option<Vec<FakeSignal>>,
    finished: bool,
    result_file: Option<String>,
}

#[derive(Debug)]
struct DownloadLink {
    file_id: String,
    expires: Instant,
}

/// The feed side of the fake's state.
#[derive(Debug, Default)]
pub(crate) struct Feeds {
    files: HashMap<String, UploadFile>,
    upload_tokens: HashMap<String, String>,
    feeds: Vec<Feed>,
    results: HashMap<String, Vec<u8>>,
    downloads: HashMap<String, DownloadLink>,
    downloaded: HashMap<String, u32>,
    upload_ttl: Option<Duration>,
    download_ttl: Option<Duration>,
    mismatch_next: bool,
    expire_next_upload: bool,
    expire_next_download: bool,
    fail_next: Option<Vec<FakeSignal>>,
    polls_to_finish: Option<u32>,
    fail_every: u32,
    create_calls: u64,
    counter: u64,
    uploads_refused: Vec<String>,
}

impl Feeds {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{:06}", self.counter)
    }
}

/// The value of `name: <number>` in a query's inline arguments.
fn arg_number(query: &str, name: &str) -> Option<u64> {
    let at = query.find(&format!("{name}:"))? + name.len() + 1;
    let digits: String = query[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The value of `name: "<string>"` in a query's inline arguments.
fn arg_string(query: &str, name: &str) -> Option<String> {
    let at = query.find(&format!("{name}:"))? + name.len() + 1;
    serde_json::Deserializer::from_str(query[at..].trim_start())
        .into_iter::<String>()
        .next()?
        .ok()
}

fn ok(data: serde_json::Value) -> Response {
    axum::Json(json!({ "data": data })).into_response()
}

fn invalid(message: &str) -> Response {
    error_response(StatusCode::OK, "ValidationException", "400", message)
}

/// Answers a feed operation, or `None` when the query is none of them.
pub(crate) fn graphql(inner: &mut Inner, query: &str, base: &str) -> Option<Response> {
    let feeds = &mut inner.feeds;
    if query.contains("createUploadLink(") {
        let Some(size) = arg_number(query, "size").filter(|&n| n >= 1) else {
            return Some(invalid("size must be at least 1"));
        };
        if !query.contains("fileType: CSV") {
            return Some(invalid("fileType must be CSV"));
        }
        let file_id = feeds.next_id("file");
        let token = feeds.next_id("put");
        let declared = if std::mem::take(&mut feeds.mismatch_next) {
            size + 1
        } else {
            size
        };
        let ttl = feeds.upload_ttl.unwrap_or(Duration::from_secs(15 * 60));
        let expires = if std::mem::take(&mut feeds.expire_next_upload) {
            Instant::now()
        } else {
            Instant::now() + ttl
        };
        feeds.files.insert(
            file_id.clone(),
            UploadFile {
                declared,
                expires,
                body: None,
            },
        );
        feeds.upload_tokens.insert(token.clone(), file_id.clone());
        let url = format!(
            "{base}/upload/{token}?X-Amz-Expires={}&X-Amz-Signature=fake",
            ttl.as_secs()
        );
        return Some(ok(
            json!({"createUploadLink": {"payload": {"uploadUrl": url, "fileId": file_id}}}),
        ));
    }
    if query.contains("createCatalogFeed(") {
        feeds.create_calls += 1;
        let Some(file_id) = arg_string(query, "fileId") else {
            return Some(invalid("fileId is required"));
        };
        if !query.contains("overwriteExistingProducts: false") {
            return Some(invalid(
                "configuration.overwriteExistingProducts is required",
            ));
        }
        if feeds.files.get(&file_id).is_none_or(|f| f.body.is_none()) {
            return Some(invalid(&format!("file {file_id} was not uploaded")));
        }
        if feeds.feeds.iter().any(|f| !f.finished) {
            return Some(error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingError",
                "429",
                "Only one ongoing Catalog Feed is supported at a time",
            ));
        }
        let id = feeds.next_id("feed");
        let fail = feeds.fail_next.take();
        feeds.feeds.push(Feed {
            id: id.clone(),
            file_id,
            polls: 0,
            fail,
            finished: false,
            result_file: None,
        });
        return Some(ok(json!({"createCatalogFeed": {"id": id}})));
    }
    if query.contains("catalogFeed(") {
        let Some(id) = arg_string(query, "catalogFeedId") else {
            return Some(invalid("catalogFeedId is required"));
        };
        let finish_at = feeds.polls_to_finish.unwrap_or(3).max(1);
        let fail_every = feeds.fail_every;
        let Some(at) = feeds.feeds.iter().position(|f| f.id == id) else {
            return Some(ok(json!({"catalogFeed": null})));
        };
        let feed = &mut feeds.feeds[at];
        feed.polls += 1;
        if !feed.finished && feed.polls >= finish_at {
            feed.finished = true;
            if feed.fail.is_none() {
                let input = feeds
                    .files
                    .get(&feed.file_id)
                    .and_then(|f| f.body.clone())
                    .unwrap_or_default();
                let result_id = format!("result-{}", feed.id);
                feeds
                    .results
                    .insert(result_id.clone(), result_csv(&input, fail_every));
                feed.result_file = Some(result_id);
            }
        }
        let status = match (feed.finished, &feed.fail, feed.polls) {
            (true, Some(_), _) => "FAILED",
            (true, None, _) => "COMPLETED",
            (false, _, 1) => "CREATED",
            (false, _, _) => "IN_PROGRESS",
        };
        let signals: Vec<serde_json::Value> = match (&feed.fail, feed.finished) {
            (Some(signals), true) => signals
                .iter()
                .map(|s| {
                    json!({
                        "code": s.code,
                        "signalMessage": {"locale": "en-US", "message": s.message},
                        "impactSummary": s.impact.as_ref().map(|m| json!({"locale": "en-US", "message": m})),
                        "reactionSummary": s.reaction.as_ref().map(|m| json!({"locale": "en-US", "message": m})),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let report = feed.result_file.as_ref().map(|f| json!({"fileId": f}));
        let result = if feed.finished {
            json!({"signals": signals, "resultReport": report})
        } else {
            serde_json::Value::Null
        };
        return Some(ok(json!({"catalogFeed": {
            "id": feed.id, "status": status, "result": result
        }})));
    }
    if query.contains("downloadLink(") {
        let Some(file_id) = arg_string(query, "fileId") else {
            return Some(invalid("fileId is required"));
        };
        if file_id.len() > 36 {
            return Some(invalid("fileId is longer than 36 characters"));
        }
        if !feeds.results.contains_key(&file_id) {
            return Some(invalid(&format!("no file {file_id}")));
        }
        let token = feeds.next_id("get");
        let ttl = feeds.download_ttl.unwrap_or(Duration::from_secs(5));
        let expires = if std::mem::take(&mut feeds.expire_next_download) {
            Instant::now()
        } else {
            Instant::now() + ttl
        };
        feeds
            .downloads
            .insert(token.clone(), DownloadLink { file_id, expires });
        let url = format!("{base}/download/{token}?X-Amz-Expires=5&X-Amz-Signature=fake");
        return Some(ok(json!({"downloadLink": {"downloadUrl": url}})));
    }
    None
}

/// The result file of a feed: the seed's columns, the input's rows, every
/// `fail_every`-th failed (none when 0).
fn result_csv(input: &[u8], fail_every: u32) -> Vec<u8> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record([
        "Import Result",
        "Error Type",
        "Error Code(s)",
        "Error Detail(s)",
        "External ID",
        "Updated External ID",
        "SKU",
        "Amazon SKU",
        "Offer Prime",
        "Image URL",
        "Product Detail Page URL",
    ]);
    for (n, record) in reader.records().enumerate() {
        let Ok(record) = record else { continue };
        let fields: Vec<&str> = (0..7).map(|i| record.get(i).unwrap_or("")).collect();
        let failed = fail_every > 0 && (n as u64 + 1).is_multiple_of(u64::from(fail_every));
        let head: [String; 4] = if failed {
            [
                "FAILED".into(),
                "ValidationError".into(),
                "InvalidAmazonSkuConfiguration;MissingImage".into(),
                format!(
                    "Amazon SKU {} is not set up|Image URL could not be fetched",
                    fields[3]
                ),
            ]
        } else {
            [
                "SUCCESS".into(),
                String::new(),
                String::new(),
                String::new(),
            ]
        };
        let row: Vec<&str> = head
            .iter()
            .map(String::as_str)
            .chain(fields.iter().copied())
            .collect();
        let _ = out.write_record(row);
    }
    out.into_inner().unwrap_or_default()
}

fn s3_error(code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAKE</RequestId></Error>"
    );
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/xml")],
        body,
    )
        .into_response()
}

/// `PUT /upload/<token>`: the presigned upload.
pub(crate) async fn upload(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock();
    let feeds = &mut inner.feeds;
    let Some(file_id) = feeds.upload_tokens.get(&token).cloned() else {
        return s3_error("AccessDenied", "Access Denied");
    };
    let Some(file) = feeds.files.get_mut(&file_id) else {
        return s3_error("AccessDenied", "Access Denied");
    };
    let refuse = |feeds: &mut Feeds, code: &str, message: &str| {
        feeds.uploads_refused.push(code.to_owned());
        s3_error(code, message)
    };
    if method != Method::PUT {
        return refuse(
            feeds,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
    }
    if Instant::now() >= file.expires {
        return refuse(feeds, "AccessDenied", "Request has expired");
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length != Some(file.declared) || body.len() as u64 != file.declared {
        return refuse(
            feeds,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
    }
    file.body = Some(body.to_vec());
    StatusCode::OK.into_response()
}

/// `GET /download/<token>`: the presigned download of a result file.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
) -> Response {
    let mut inner = shared.lock();
    let feeds = &mut inner.feeds;
    let Some(link) = feeds.downloads.get(&token) else {
        return s3_error("AccessDenied", "Access Denied");
    };
    if Instant::now() >= link.expires {
        return s3_error("AccessDenied", "Request has expired");
    }
    let file_id = link.file_id.clone();
    let Some(body) = feeds.results.get(&file_id).cloned() else {
        return s3_error("NoSuchKey", "The specified key does not exist.");
    };
    *feeds.downloaded.entry(file_id).or_default() += 1;
    (StatusCode::OK, [("content-type", "text/csv")], body).into_response()
}

impl FakeBwp {
    /// The next upload link is signed for one byte more than asked: the
    /// PUT of the right file answers `SignatureDoesNotMatch`.
    pub fn mismatch_next_upload_link(&self) {
        self.shared.lock().feeds.mismatch_next = true;
    }

    /// The next upload link is issued already expired (`AccessDenied`).
    pub fn expire_next_upload_link(&self) {
        self.shared.lock().feeds.expire_next_upload = true;
    }

    /// The lifetime of upload links from now on (15 minutes by default).
    pub fn set_upload_link_ttl(&self, ttl: Duration) {
        self.shared.lock().feeds.upload_ttl = Some(ttl);
    }

    /// The next download link is issued already expired (`AccessDenied`).
    pub fn expire_next_download_link(&self) {
        self.shared.lock().feeds.expire_next_download = true;
    }

    /// The lifetime of download links from now on (5 seconds by default).
    pub fn set_download_link_ttl(&self, ttl: Duration) {
        self.shared.lock().feeds.download_ttl = Some(ttl);
    }

    /// The next feed created ends FAILED with these signals.
    pub fn fail_next_feed(&self, signals: Vec<FakeSignal>) {
        self.shared.lock().feeds.fail_next = Some(signals);
    }

    /// The poll that finishes a feed (3 by default: CREATED, IN_PROGRESS, then done).
    pub fn set_polls_to_finish(&self, polls: u32) {
        self.shared.lock().feeds.polls_to_finish = Some(polls);
    }

    /// Every `n`-th row of a result file fails (0: none, the default).
    pub fn fail_every_nth_row(&self, n: u32) {
        self.shared.lock().feeds.fail_every = n;
    }

    /// `createCatalogFeed` calls so far, refused ones included.
    pub fn create_feed_calls(&self) -> u64 {
        self.shared.lock().feeds.create_calls
    }

    /// Feeds accepted so far: (feed id, the uploaded file's bytes), in order.
    pub fn feeds_created(&self) -> Vec<(String, Vec<u8>)> {
        let inner = self.shared.lock();
        inner
            .feeds
            .feeds
            .iter()
            .map(|f| {
                let body = inner
                    .feeds
                    .files
                    .get(&f.file_id)
                    .and_then(|u| u.body.clone())
                    .unwrap_or_default();
                (f.id.clone(), body)
            })
            .collect()
    }

    /// Whether a feed is ongoing (created and not finished by a poll).
    pub fn feed_ongoing(&self) -> bool {
        self.shared.lock().feeds.feeds.iter().any(|f| !f.finished)
    }

    /// Successful downloads of each result file.
    pub fn downloads(&self) -> HashMap<String, u32> {
        self.shared.lock().feeds.downloaded.clone()
    }

    /// The S3 error codes upload links answered, in order.
    pub fn uploads_refused(&self) -> Vec<String> {
        self.shared.lock().feeds.uploads_refused.clone()
    }
}
