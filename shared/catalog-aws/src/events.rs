//! The events that wake a function, parsed leniently from what really
//! arrives.
//!
//! - [`parse_s3_notification`] reads the body of an SQS message that carries
//!   an S3 event notification. Only the fields used are read (event name,
//!   bucket, key, size, ETag), because emulators send less than AWS:
//!   moto's records have no `userIdentity`, `requestParameters` or
//!   `responseElements`, so `aws_lambda_events`' `S3Event` refuses them.
//!   Keys arrive URL-encoded (`+` for a space, `%XX` escapes; moto even
//!   escapes `/`) and are decoded exactly once. The `s3:TestEvent` message S3
//!   sends when a notification is configured is [`S3Notification::Test`], for
//!   the caller to acknowledge and drop.
//! - [`ScheduleEvent`] is the input an EventBridge schedule rule passes:
//!   `{"mode":"update"}` daily, `{"mode":"full"}` monthly.
//! - [`BuilderEvent`] is the catalog builder's Lambda payload: an SQS batch
//!   (`Records` from `aws:sqs`) or a schedule input.
//!
//! Samples of each, from moto and from `sam local generate-event`, are in
//! `tests/fixtures/` (described in its README).

use std::borrow::Cow;
use std::fmt;

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use percent_encoding::percent_decode_str;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// What a notification body must be, for error messages.
const EXPECTED_NOTIFICATION: &str =
    "an S3 event notification (`{\"Records\":[...]}`) or the `s3:TestEvent` message";
/// What the builder's payload must be, for error messages.
const EXPECTED_BUILDER_EVENT: &str = "an SQS event (`{\"Records\":[...]}` from `aws:sqs`) or a \
     schedule input (`{\"mode\":\"update\"}`, `{\"mode\":\"full\"}` or `{\"mode\":\"bwp-submit\"}`)";

/// An event that could not be understood. Each message says what was
/// expected and what was found.
#[derive(Debug, Error)]
pub enum EventError {
    /// The text is not JSON at all.
    #[error("{what} is not JSON ({source}); expected {expected}")]
    NotJson {
        /// What was being parsed, e.g. "SQS message body".
        what: &'static str,
        /// What it should have been.
        expected: &'static str,
        /// The JSON parser's complaint, with line and column.
        source: serde_json::Error,
    },
    /// JSON, but not of any shape this module knows.
    #[error("{what} has an unexpected shape ({found}); expected {expected}")]
    UnexpectedShape {
        /// What was being parsed.
        what: &'static str,
        /// What it should have been.
        expected: &'static str,
        /// A short description of what was there instead.
        found: String,
    },
    /// One record of a notification lacks a field that is used.
    #[error(
        "S3 event record {index} is missing a field or has a wrong type ({source}); \
         expected `eventName`, `s3.bucket.name` and `s3.object.key`"
    )]
    BadRecord {
        /// Position of the record in `Records`, from 0.
        index: usize,
        /// What serde found wrong.
        source: serde_json::Error,
    },
    /// A key whose `%XX` escapes do not decode to UTF-8.
    #[error(
        "S3 object key {raw:?} does not decode to UTF-8 text; expected a URL-encoded UTF-8 key"
    )]
    KeyNotUtf8 {
        /// The key as it arrived.
        raw: String,
    },
    /// An SQS message without a body.
    #[error("SQS message {message_id} has no body; expected {EXPECTED_NOTIFICATION}")]
    MissingBody {
        /// The message's id, or `<no id>`.
        message_id: String,
    },
    /// A schedule input with a wrong or missing mode.
    #[error(
        "schedule input is invalid ({source}); expected {{\"mode\":\"update\"}} or {{\"mode\":\"full\"}}"
    )]
    BadSchedule {
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

/// One object event from a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ObjectEvent {
    /// The bucket's name.
    pub bucket: String,
    /// The object key, decoded (`+` → space, `%XX` → the byte).
    pub key: String,
    /// The object's size in bytes; absent on delete events.
    pub size: Option<u64>,
    /// The object's ETag as S3 sent it (without quotes).
    pub etag: Option<String>,
    /// The event's name without the `s3:` prefix, e.g. `ObjectCreated:Put`.
    pub event_name: String,
    /// The event's time (`eventTime`, millisecond precision) in Unix
    /// milliseconds, when it is there and readable.
    pub event_time_ms: Option<i64>,
}

impl S3ObjectEvent {
    /// Whether the object was created or replaced (`ObjectCreated:*`).
    pub fn is_object_created(&self) -> bool {
        self.event_name.starts_with("ObjectCreated:")
    }
}

/// What an SQS message from an S3 notification holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Notification {
    /// Object events (usually exactly one).
    Objects(Vec<S3ObjectEvent>),
    /// The `s3:TestEvent` S3 sends once when the notification is set up:
    /// acknowledge it, there is nothing to do.
    Test,
}

impl S3Notification {
    /// Parses the body of one SQS message of a batch.
    pub fn from_sqs_message(message: &SqsMessage) -> Result<S3Notification, EventError> {
        match &message.body {
            Some(body) => parse_s3_notification(body),
            None => Err(EventError::MissingBody {
                message_id: message
                    .message_id
                    .clone()
                    .unwrap_or_else(|| "<no id>".to_owned()),
            }),
        }
    }

    /// The objects created (or replaced) that one SQS message tells of:
    /// none for the `s3:TestEvent`, which is acknowledged; other events
    /// (deletes) are logged and left out.
    pub fn created_objects(message: &SqsMessage) -> Result<Vec<S3ObjectEvent>, EventError> {
        match S3Notification::from_sqs_message(message)? {
            S3Notification::Test => {
                tracing::info!("s3:TestEvent acknowledged");
                Ok(Vec::new())
            }
            S3Notification::Objects(objects) => Ok(objects
                .into_iter()
                .filter(|object| {
                    let created = object.is_object_created();
                    if !created {
                        tracing::info!(key = %object.key, event = %object.event_name, "not a creation; ignored");
                    }
                    created
                })
                .collect()),
        }
    }
}

/// Only the fields of an S3 event record that are used.
#[derive(Debug, Deserialize)]
struct LenientRecord {
    #[serde(rename = "eventName")]
    event_name: String,
    #[serde(default, rename = "eventTime")]
    event_time: Option<String>,
    s3: LenientEntity,
}

#[derive(Debug, Deserialize)]
struct LenientEntity {
    bucket: LenientBucket,
    object: LenientObject,
}

#[derive(Debug, Deserialize)]
struct LenientBucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct LenientObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag")]
    e_tag: Option<String>,
}

/// Parses the body of an SQS message carrying an S3 event notification.
pub fn parse_s3_notification(body: &str) -> Result<S3Notification, EventError> {
    const WHAT: &str = "SQS message body";
    let value: Value = serde_json::from_str(body).map_err(|source| EventError::NotJson {
        what: WHAT,
        expected: EXPECTED_NOTIFICATION,
        source,
    })?;
    let Value::Object(mut fields) = value else {
        return Err(EventError::UnexpectedShape {
            what: WHAT,
            expected: EXPECTED_NOTIFICATION,
            found: describe(&value),
        });
    };
    if fields.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(S3Notification::Test);
    }
    let Some(Value::Array(records)) = fields.remove("Records") else {
        return Err(EventError::UnexpectedShape {
            what: WHAT,
            expected: EXPECTED_NOTIFICATION,
            found: describe(&Value::Object(fields)),
        });
    };
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let record: LenientRecord = serde_json::from_value(record)
                .map_err(|source| EventError::BadRecord { index, source })?;
            Ok(S3ObjectEvent {
                key: decode_s3_key(&record.s3.object.key)?,
                bucket: record.s3.bucket.name,
                size: record.s3.object.size,
                etag: record.s3.object.e_tag,
                event_name: record.event_name,
                event_time_ms: record.event_time.as_deref().and_then(unix_millis),
            })
        })
        .collect::<Result<_, _>>()
        .map(S3Notification::Objects)
}

/// An RFC 3339 time (`2026-11-30T13:14:04.123Z`) in Unix milliseconds.
fn unix_millis(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Decodes a key as S3 notifications encode it: `+` is a space, `%XX` is a
/// byte. Decodes once: `%252B` becomes `%2B`, not `+`.
pub fn decode_s3_key(raw: &str) -> Result<String, EventError> {
    let spaced: Cow<'_, str> = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| EventError::KeyNotUtf8 {
            raw: raw.to_owned(),
        })
}

/// Which kind of catalog a scheduled run builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Mode {
    /// An incremental `CATALOG_UPDATE` (daily).
    Update,
    /// A `CATALOG_FULL` rebuild (monthly).
    Full,
    /// Not a catalog: submit the next Buy with Prime feed file waiting.
    #[serde(rename = "bwp-submit")]
    BwpSubmit,
}

impl Mode {
    /// `update` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Update => "update",
            Mode::Full => "full",
            Mode::BwpSubmit => "bwp-submit",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Mode {
    type Error = String;

    fn try_from(mode: String) -> Result<Mode, String> {
        match mode.as_str() {
            "update" => Ok(Mode::Update),
            "full" => Ok(Mode::Full),
            "bwp-submit" => Ok(Mode::BwpSubmit),
            _ => Err(format!(
                "unknown mode {mode:?}: expected \"update\", \"full\" or \"bwp-submit\""
            )),
        }
    }
}

/// The input of a schedule rule: `{"mode":"update"}` or `{"mode":"full"}`.
/// Other fields are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEvent {
    /// What to build.
    pub mode: Mode,
}

impl ScheduleEvent {
    /// Parses a schedule input.
    pub fn from_json(json: &str) -> Result<ScheduleEvent, EventError> {
        serde_json::from_str(json).map_err(|source| EventError::BadSchedule { source })
    }
}

/// The catalog builder's Lambda payload.
///
/// Deserialized by looking at its keys: `Records` is an SQS batch (each
/// record's `eventSource`, when present, must be `aws:sqs`), `mode` is a
/// schedule input. Anything else fails with a message naming both shapes;
/// an EventBridge scheduled event without `Input` is called out, since it
/// means the rule lost its input.
#[derive(Debug, Clone, PartialEq)]
pub enum BuilderEvent {
    /// A batch of SQS messages, each carrying an S3 notification.
    Sqs(SqsEvent),
    /// A scheduled run.
    Schedule(ScheduleEvent),
}

impl BuilderEvent {
    /// Parses a payload from JSON text (what `cargo lambda invoke` sends).
    pub fn from_json(json: &str) -> Result<BuilderEvent, serde_json::Error> {
        serde_json::from_str(json)
    }
}

impl<'de> Deserialize<'de> for BuilderEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BuilderEvent, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::Object(fields) = &value else {
            return Err(de::Error::custom(format!(
                "expected {EXPECTED_BUILDER_EVENT}, found {}",
                describe(&value)
            )));
        };
        if let Some(records) = fields.get("Records") {
            if let Some(records) = records.as_array() {
                for (index, record) in records.iter().enumerate() {
                    match record.get("eventSource").and_then(Value::as_str) {
                        None | Some("aws:sqs") => {}
                        Some(other) => {
                            return Err(de::Error::custom(format!(
                                "record {index} comes from {other:?}, not \"aws:sqs\": the \
                                 builder takes S3 notifications through its queue, not directly; \
                                 expected {EXPECTED_BUILDER_EVENT}"
                            )));
                        }
                    }
                }
            }
            return serde_json::from_value(value)
                .map(BuilderEvent::Sqs)
                .map_err(|e| de::Error::custom(format!("invalid SQS event: {e}")));
        }
        if fields.contains_key("mode") {
            return serde_json::from_value(value)
                .map(BuilderEvent::Schedule)
                .map_err(|e| de::Error::custom(format!("invalid schedule input: {e}")));
        }
        if fields.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
            return Err(de::Error::custom(
                "an EventBridge scheduled event without input: set the rule target's Input \
                 to {\"mode\":\"update\"} or {\"mode\":\"full\"}",
            ));
        }
        Err(de::Error::custom(format!(
            "expected {EXPECTED_BUILDER_EVENT}, found {}",
            describe(&value)
        )))
    }
}

/// A short description of a JSON value for error messages: its type, and
/// for an object its first keys.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(fields) if fields.is_empty() => "an empty object".to_owned(),
        Value::Object(fields) => {
            let mut keys: Vec<&str> = fields.keys().map(String::as_str).take(8).collect();
            if fields.len() > keys.len() {
                keys.push("...");
            }
            format!("an object with keys {}", keys.join(", "))
        }
    }
}

/// Handles each message of an SQS batch on its own and reports the ones
/// that failed as batch item failures: only they come back (and, failing
/// again and again, end in the DLQ), the others are deleted.
pub async fn for_each_message<'a, F, Fut, E>(batch: &'a SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(error) = handle(message).await {
            tracing::error!(message_id = %id, error = %error, "message failed; it will be retried, then go to the DLQ");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const MOTO: &str = include_str!("../tests/fixtures/s3-notification-moto.json");
    const MOTO_UTF8: &str = include_str!("../tests/fixtures/s3-notification-moto-utf8.json");
    const SAM_S3_PUT: &str = include_str!("../tests/fixtures/s3-put-sam.json");
    const TEST_EVENT_MOTO: &str = include_str!("../tests/fixtures/s3-test-event-moto.json");
    const TEST_EVENT_AWS: &str = include_str!("../tests/fixtures/s3-test-event-aws.json");
    const SQS_NOTIFICATION: &str =
        include_str!("../tests/fixtures/sqs-receive-message-s3-notification.json");
    const SQS_BATCH: &str =
        include_str!("../tests/fixtures/sqs-batch-notification-test-poison.json");
    const SCHEDULE_UPDATE: &str = include_str!("../tests/fixtures/schedule-update.json");
    const SCHEDULE_FULL: &str = include_str!("../tests/fixtures/schedule-full.json");
    const SCHEDULED_WITHOUT_INPUT: &str =
        include_str!("../tests/fixtures/scheduled-event-without-input-sam.json");

    fn objects(body: &str) -> Vec<S3ObjectEvent> {
        match parse_s3_notification(body).unwrap() {
            S3Notification::Objects(objects) => objects,
            S3Notification::Test => panic!("a test event"),
        }
    }

    #[test]
    fn moto_record_without_user_identity_is_read() {
        assert_eq!(
            objects(MOTO),
            [S3ObjectEvent {
                bucket: "catalog-relay-work".to_owned(),
                key: "source/export 1+x.jsonl".to_owned(),
                size: Some(12),
                etag: Some("e14c487c765cc8a75769274dfb535d02".to_owned()),
                event_name: "ObjectCreated:Put".to_owned(),
                // 2026-11-25T00:04:06.153Z: milliseconds kept, for ordering exports.
                event_time_ms: Some(1_795_565_046_153),
            }]
        );
        assert!(objects(MOTO)[0].is_object_created());
    }

    #[test]
    fn moto_key_with_utf8_escapes_is_decoded() {
        assert_eq!(objects(MOTO_UTF8)[0].key, "source/films/été 2026.csv");
    }

    #[test]
    fn aws_shaped_record_is_read_too() {
        let events = objects(SAM_S3_PUT);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].bucket, "catalog-relay-work");
        assert_eq!(events[0].key, "source/films/export 1+x.jsonl");
        assert_eq!(events[0].size, Some(1024));
        assert_eq!(
            events[0].etag.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        // And the strict type of aws_lambda_events agrees with that shape.
        let strict: aws_lambda_events::event::s3::S3Event =
            serde_json::from_str(SAM_S3_PUT).unwrap();
        assert_eq!(strict.records.len(), 1);
    }

    #[test]
    fn moto_record_is_why_the_strict_type_is_not_used() {
        let strict = serde_json::from_str::<aws_lambda_events::event::s3::S3Event>(MOTO);
        assert!(
            strict.is_err(),
            "aws_lambda_events now accepts moto's records"
        );
    }

    #[test]
    fn test_events_from_moto_and_aws_are_recognised() {
        assert_eq!(
            parse_s3_notification(TEST_EVENT_MOTO).unwrap(),
            S3Notification::Test
        );
        assert_eq!(
            parse_s3_notification(TEST_EVENT_AWS).unwrap(),
            S3Notification::Test
        );
    }

    #[test]
    fn keys_are_decoded_once() {
        for (raw, decoded) in [
            ("source/a+b.csv", "source/a b.csv"),
            ("source%2Fa%2Bb.csv", "source/a+b.csv"),
            ("source/100%25.csv", "source/100%.csv"),
            ("source/%252B", "source/%2B"),
            ("source/plain.jsonl", "source/plain.jsonl"),
            ("source/%E2%82%AC", "source/€"),
            ("source/50%", "source/50%"),
        ] {
            assert_eq!(decode_s3_key(raw).unwrap(), decoded, "{raw}");
        }
    }

    #[test]
    fn key_that_is_not_utf8_is_an_error() {
        let e = decode_s3_key("source/%FF.csv").unwrap_err();
        assert!(matches!(e, EventError::KeyNotUtf8 { .. }));
        assert!(e.to_string().contains("source/%FF.csv"));
    }

    #[test]
    fn delete_record_without_size_is_read() {
        let body = r#"{"Records":[{"eventName":"ObjectRemoved:Delete",
            "s3":{"bucket":{"name":"b"},"object":{"key":"source/x.csv"}}}]}"#;
        let events = objects(body);
        assert_eq!(events[0].size, None);
        assert_eq!(events[0].etag, None);
        assert!(!events[0].is_object_created());
    }

    #[test]
    fn body_that_is_not_json_names_what_was_expected() {
        let e = parse_s3_notification("this is not an S3 notification").unwrap_err();
        assert!(matches!(e, EventError::NotJson { .. }));
        let text = e.to_string();
        assert!(text.starts_with("SQS message body is not JSON"), "{text}");
        assert!(text.contains("S3 event notification"), "{text}");
    }

    #[test]
    fn other_json_names_its_keys() {
        let e = parse_s3_notification(SCHEDULED_WITHOUT_INPUT).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("detail-type"), "{text}");
        assert!(text.contains("expected an S3 event notification"), "{text}");
        let e = parse_s3_notification("[1,2]").unwrap_err();
        assert!(e.to_string().contains("unexpected shape (an array)"), "{e}");
    }

    #[test]
    fn record_missing_the_key_names_the_record() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}},
                                  {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}"#;
        let e = parse_s3_notification(body).unwrap_err();
        assert!(matches!(e, EventError::BadRecord { index: 1, .. }), "{e}");
        assert!(e.to_string().contains("key"), "{e}");
    }

    #[test]
    fn sqs_message_body_is_parsed() {
        let event: SqsEvent = serde_json::from_str(SQS_NOTIFICATION).unwrap();
        let notification = S3Notification::from_sqs_message(&event.records[0]).unwrap();
        assert_eq!(notification, S3Notification::Objects(objects(MOTO)),);
        let empty = SqsMessage::default();
        let e = S3Notification::from_sqs_message(&empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("SQS message <no id> has no body; expected {EXPECTED_NOTIFICATION}")
        );
    }

    #[test]
    fn mixed_batch_gives_objects_test_and_an_error() {
        let event: SqsEvent = serde_json::from_str(SQS_BATCH).unwrap();
        let results: Vec<_> = event
            .records
            .iter()
            .map(S3Notification::from_sqs_message)
            .collect();
        assert!(matches!(&results[0], Ok(S3Notification::Objects(o)) if o.len() == 1));
        assert!(matches!(&results[1], Ok(S3Notification::Test)));
        assert!(matches!(&results[2], Err(EventError::NotJson { .. })));
    }

    #[test]
    fn schedule_inputs_are_read() {
        assert_eq!(
            ScheduleEvent::from_json(SCHEDULE_UPDATE).unwrap().mode,
            Mode::Update
        );
        assert_eq!(
            ScheduleEvent::from_json(SCHEDULE_FULL).unwrap().mode,
            Mode::Full
        );
        assert_eq!(Mode::Full.to_string(), "full");
    }

    #[test]
    fn unknown_mode_is_a_clear_error() {
        let e = ScheduleEvent::from_json(r#"{"mode":"weekly"}"#).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(r#"unknown mode "weekly": expected "update", "full" or "bwp-submit""#),
            "{text}"
        );
        let e = ScheduleEvent::from_json("{}").unwrap_err();
        assert!(e.to_string().contains("missing field `mode`"), "{e}");
    }

    #[test]
    fn builder_event_tells_sqs_from_schedule() {
        match BuilderEvent::from_json(SQS_NOTIFICATION).unwrap() {
            BuilderEvent::Sqs(event) => assert_eq!(event.records.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            BuilderEvent::from_json(SCHEDULE_FULL).unwrap(),
            BuilderEvent::Schedule(ScheduleEvent { mode: Mode::Full })
        );
        assert_eq!(
            BuilderEvent::from_json(SCHEDULE_UPDATE).unwrap(),
            BuilderEvent::Schedule(ScheduleEvent { mode: Mode::Update })
        );
    }

    #[test]
    fn builder_event_errors_say_what_was_expected() {
        let e = BuilderEvent::from_json(r#"{"mode":"hourly"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown mode \"hourly\""), "{e}");

        let e = BuilderEvent::from_json(SCHEDULED_WITHOUT_INPUT).unwrap_err();
        assert!(e.to_string().contains("without input"), "{e}");

        let e = BuilderEvent::from_json(SAM_S3_PUT).unwrap_err();
        assert!(e.to_string().contains(r#"comes from "aws:s3""#), "{e}");

        let e = BuilderEvent::from_json(r#"{"hello":"world"}"#).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("expected an SQS event"), "{text}");
        assert!(text.contains("keys hello"), "{text}");
    }
}
