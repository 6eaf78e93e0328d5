//! Field names and values of ingestion reports: the synonyms each field of
//! the model is recognised by, and how one record (a JSON object, a CSV row,
//! an HTML table row) becomes an [`ItemResult`] or header facts.
//!
//! Names are compared case-insensitively with `_`, `-`, `.`, spaces and
//! parentheses removed, so `Item ID`, `item_id`, `itemId` and `ITEM-ID` are
//! the same name. Every list below is **inferred** (see the module doc of
//! [`crate::report`]): Amazon publishes no schema for EMBER reports.

use std::borrow::Cow;

use serde_json::Value;

use super::{DeclaredCounts, ItemResult, ItemStatus, ReportHeader};

/// The names an item's id goes by.
pub const ITEM_ID: &[&str] = &[
    "id",
    "itemid",
    "item",
    "contentid",
    "entityid",
    "titleid",
    "programid",
    "movieid",
    "externalid",
    "catalogitemid",
];
/// The names an item's version goes by.
pub const VERSION: &[&str] = &["version", "itemversion", "entityversion", "contentversion"];
/// The names an item's (or the report's) status goes by.
pub const STATUS: &[&str] = &[
    "status",
    "result",
    "outcome",
    "state",
    "ingestionstatus",
    "importresult",
    "itemstatus",
    "overallstatus",
];
/// The names an error code goes by.
pub const ERROR_CODE: &[&str] = &["errorcode", "errorcodes", "code", "reasoncode", "issuecode"];
/// The names an error message goes by.
pub const MESSAGE: &[&str] = &[
    "message",
    "errormessage",
    "error",
    "errordetail",
    "errordetails",
    "detail",
    "details",
    "description",
    "reason",
];
/// The names a report's id goes by (header records only).
pub const REPORT_ID: &[&str] = &["reportid", "report", "ingestionid", "jobid", "runid"];
/// The names the submission a report answers goes by (header records only).
pub const SUBMISSION: &[&str] = &[
    "submission",
    "submissionid",
    "manifest",
    "manifestname",
    "manifestkey",
    "catalog",
    "catalogname",
    "catalogfile",
    "file",
    "filename",
    "s3key",
    "s3keys",
    "key",
];
/// The names of the declared total.
pub const TOTAL: &[&str] = &["total", "totalitems", "itemcount", "count", "processed"];
/// The names of the declared accepted count.
pub const ACCEPTED: &[&str] = &[
    "accepted",
    "succeeded",
    "success",
    "successcount",
    "ingested",
    "acceptedcount",
];
/// The names of the declared rejected count.
pub const REJECTED: &[&str] = &[
    "rejected",
    "failed",
    "failures",
    "failurecount",
    "errors",
    "errorcount",
    "rejectedcount",
];
/// The names of the declared warning count.
pub const WARNINGS: &[&str] = &["warnings", "warningcount", "warned"];
/// The names of the array of per-item results in a JSON document.
pub const ITEMS: &[&str] = &[
    "items",
    "results",
    "itemresults",
    "entities",
    "records",
    "titles",
    "rows",
];

/// Status values read as accepted.
const ACCEPTED_VALUES: &[&str] = &[
    "accepted",
    "success",
    "succeeded",
    "successful",
    "ok",
    "ingested",
    "processed",
    "valid",
    "pass",
    "passed",
    "published",
    "live",
    "completed",
    "created",
    "updated",
    "deleted",
];
/// Status values read as rejected.
const REJECTED_VALUES: &[&str] = &[
    "rejected", "failed", "failure", "fail", "error", "invalid", "refused", "dropped", "denied",
];
/// Status values read as a warning.
const WARNING_VALUES: &[&str] = &[
    "warning",
    "warn",
    "warnings",
    "acceptedwithwarnings",
    "successwithwarnings",
    "partial",
    "partiallyaccepted",
];

/// A name as compared: lower case, without separators.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !is_separator(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_separator(c: char) -> bool {
    matches!(c, '_' | '-' | '.' | ' ' | '(' | ')' | '\t')
}

/// [`normalize`] without allocating, for the names the lists can hold
/// (ASCII, at most 32 bytes once normalized): every synonym is one.
struct Normalized {
    bytes: [u8; 32],
    len: usize,
}

impl Normalized {
    fn new(name: &str) -> Option<Normalized> {
        let mut bytes = [0u8; 32];
        let mut len = 0;
        for b in name.bytes() {
            if is_separator(char::from(b)) {
                continue;
            }
            if len == bytes.len() || !b.is_ascii() {
                return None;
            }
            bytes[len] = b.to_ascii_lowercase();
            len += 1;
        }
        Some(Normalized { bytes, len })
    }

    fn is_in(&self, list: &[&str]) -> bool {
        let me = &self.bytes[..self.len];
        list.iter().any(|s| s.as_bytes() == me)
    }
}

/// What a field of an item record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemField {
    /// The item's id.
    Id,
    /// Its version.
    Version,
    /// Its status.
    Status,
    /// An error code.
    Code,
    /// A message.
    Message,
}

/// Which item field `name` names, if any.
pub fn item_field(name: &str) -> Option<ItemField> {
    let n = Normalized::new(name)?;
    if n.is_in(ITEM_ID) {
        Some(ItemField::Id)
    } else if n.is_in(VERSION) {
        Some(ItemField::Version)
    } else if n.is_in(STATUS) {
        Some(ItemField::Status)
    } else if n.is_in(ERROR_CODE) {
        Some(ItemField::Code)
    } else if n.is_in(MESSAGE) {
        Some(ItemField::Message)
    } else {
        None
    }
}

/// What a field of a header record (the report as a whole) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderField {
    /// The report's id.
    ReportId,
    /// The submission it answers.
    Submission,
    /// The overall status.
    Status,
    /// The declared total.
    Total,
    /// The declared accepted count.
    Accepted,
    /// The declared rejected count.
    Rejected,
    /// The declared warning count.
    Warnings,
    /// The per-item results.
    Items,
}

/// Which header field `name` names, if any.
pub fn header_field(name: &str) -> Option<HeaderField> {
    let n = Normalized::new(name)?;
    if n.is_in(REPORT_ID) {
        Some(HeaderField::ReportId)
    } else if n.is_in(SUBMISSION) {
        Some(HeaderField::Submission)
    } else if n.is_in(STATUS) {
        Some(HeaderField::Status)
    } else if n.is_in(TOTAL) {
        Some(HeaderField::Total)
    } else if n.is_in(ACCEPTED) {
        Some(HeaderField::Accepted)
    } else if n.is_in(REJECTED) {
        Some(HeaderField::Rejected)
    } else if n.is_in(WARNINGS) {
        Some(HeaderField::Warnings)
    } else if n.is_in(ITEMS) {
        Some(HeaderField::Items)
    } else {
        None
    }
}

/// Reads a status value. An unknown word is [`ItemStatus::Unknown`].
pub fn parse_status(value: &str) -> ItemStatus {
    let Some(v) = Normalized::new(value) else {
        return ItemStatus::Unknown;
    };
    if v.is_in(ACCEPTED_VALUES) {
        ItemStatus::Accepted
    } else if v.is_in(REJECTED_VALUES) {
        ItemStatus::Rejected
    } else if v.is_in(WARNING_VALUES) {
        ItemStatus::Warning
    } else {
        ItemStatus::Unknown
    }
}

/// A value as text: strings as they are, numbers and booleans written out,
/// arrays joined with `;` (several error codes), `None` for null, empty
/// text and objects.
pub fn text_of(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(values) => values
            .iter()
            .filter_map(text_of)
            .collect::<Vec<_>>()
            .join(";"),
        Value::Null | Value::Object(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn number_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field's value as a record hands it over: a parsed JSON value, or text
/// borrowed from the line (a JSON string without escapes, a CSV field), so
/// the fields this code maps are read without building a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Text, borrowed when it can be.
    Text(Cow<'a, str>),
    /// Anything else (numbers, booleans, null, arrays, objects).
    Json(Value),
}

impl<'a> FieldValue<'a> {
    /// As [`text_of`]: `None` for empty text, null and objects.
    fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            FieldValue::Text(Cow::Borrowed(s)) => {
                let s = s.trim();
                (!s.is_empty()).then_some(Cow::Borrowed(s))
            }
            FieldValue::Text(Cow::Owned(s)) if s.trim().len() == s.len() => {
                (!s.is_empty()).then_some(Cow::Owned(s))
            }
            FieldValue::Text(Cow::Owned(s)) => {
                let s = s.trim();
                (!s.is_empty()).then(|| Cow::Owned(s.to_owned()))
            }
            FieldValue::Json(value) => text_of(&value).map(Cow::Owned),
        }
    }

    /// Whether [`Self::into_text`] would give text.
    pub(crate) fn has_text(&self) -> bool {
        match self {
            FieldValue::Text(s) => !s.trim().is_empty(),
            FieldValue::Json(value) => text_of(value).is_some(),
        }
    }

    fn number(&self) -> Option<u64> {
        match self {
            FieldValue::Text(s) => s.trim().parse().ok(),
            FieldValue::Json(value) => number_of(value),
        }
    }

    /// The value as JSON, for the raw record.
    pub fn into_json(self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.into_owned()),
            FieldValue::Json(value) => value,
        }
    }
}

impl From<Value> for FieldValue<'_> {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => FieldValue::Text(Cow::Owned(s)),
            other => FieldValue::Json(other),
        }
    }
}

/// The item a record describes, or why it describes none.
#[derive(Debug)]
pub enum Mapped {
    /// One item's result.
    Item(ItemResult),
    /// A record about the report as a whole (no item id, some header field).
    Header,
    /// Neither: no item id and no header field.
    Nothing,
}

/// Maps one record's `(name, value)` pairs to an item result, or to header
/// facts merged into `header`. `line` is where the record starts.
pub fn map_record<'a, K, V, I>(fields: I, line: u64, header: &mut ReportHeader) -> Mapped
where
    K: AsRef<str>,
    V: Into<FieldValue<'a>>,
    I: IntoIterator<Item = (K, V)>,
{
    let mut item = ItemResult::default();
    let fields = fields.into_iter().map(|(name, value)| {
        let kind = item_field(name.as_ref());
        (name, kind, value.into())
    });
    match fill_classified(fields, line, header, &mut item) {
        Filled::Item => Mapped::Item(item),
        Filled::Header => Mapped::Header,
        Filled::Nothing => Mapped::Nothing,
    }
}

/// What [`fill_classified`] found a record to be (the item itself is in
/// the caller's [`ItemResult`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// The caller's item now holds this record's item.
    Item,
    /// A record about the report as a whole.
    Header,
    /// Neither.
    Nothing,
}

/// [`map_record`] over fields whose kind the caller already knows (a JSON
/// Lines report classifies each distinct name once, not once a line), into
/// an item reused across records: its strings keep their allocations. `item` holds this record's item only when
/// [`Filled::Item`] is returned.
pub(crate) fn fill_classified<'a, K, I>(
    fields: I,
    line: u64,
    header: &mut ReportHeader,
    item: &mut ItemResult,
) -> Filled
where
    K: AsRef<str>,
    I: IntoIterator<Item = (K, Option<ItemField>, FieldValue<'a>)>,
{
    let mut id = None;
    let mut version = None;
    let mut status_text: Option<Cow<'a, str>> = None;
    let mut code = None;
    let mut message = None;
    let raw = &mut item.raw;
    raw.clear();
    for (name, kind, value) in fields {
        match kind {
            Some(ItemField::Id) if id.is_none() => id = value.into_text(),
            Some(ItemField::Version) if version.is_none() => version = value.number(),
            Some(ItemField::Status) if status_text.is_none() => status_text = value.into_text(),
            Some(ItemField::Code) if code.is_none() => code = value.into_text(),
            Some(ItemField::Message) if message.is_none() => message = value.into_text(),
            _ => {
                raw.insert(name.as_ref().to_owned(), value.into_json());
            }
        }
    }
    let Some(item_id) = id else {
        // Not an item: perhaps the report's own facts (a JSON Lines header
        // line). The fields already taken as item fields are put back.
        let mut any = false;
        if let Some(status) = status_text {
            header.status.get_or_insert(status.into_owned());
            any = true;
        }
        for (name, value) in std::mem::take(raw) {
            any |= merge_header_field(header, &name, value);
        }
        return if any { Filled::Header } else { Filled::Nothing };
    };
    let status = match status_text.as_deref().map(parse_status) {
        Some(known) if known != ItemStatus::Unknown => known,
        // No (readable) status but an error code: rejected [inferred].
        _ if code.is_some() => ItemStatus::Rejected,
        _ => ItemStatus::Unknown,
    };
    if status == ItemStatus::Unknown
        && let Some(text) = status_text
    {
        raw.insert("status".to_owned(), Value::String(text.into_owned()));
    }
    item.item_id.clear();
    item.item_id.push_str(&item_id);
    item.version = version;
    item.status = status;
    set_reused(&mut item.error_code, code);
    set_reused(&mut item.message, message);
    item.line = line;
    Filled::Item
}

/// Sets `slot` to `text`, reusing the string `slot` holds.
fn set_reused(slot: &mut Option<String>, text: Option<Cow<'_, str>>) {
    match (slot.as_mut(), text) {
        (Some(kept), Some(text)) => {
            kept.clear();
            kept.push_str(&text);
        }
        (None, text) => *slot = text.map(Cow::into_owned),
        (Some(_), None) => *slot = None,
    }
}

/// Merges one top-level field into `header`; whether it was a header field.
/// Items arrays are not handled here (the caller walks them).
pub fn merge_header_field(header: &mut ReportHeader, name: &str, value: Value) -> bool {
    let DeclaredCounts {
        total,
        accepted,
        rejected,
        warnings,
    } = &mut header.declared;
    match header_field(name) {
        Some(HeaderField::ReportId) => set_text(&mut header.report_id, &value),
        Some(HeaderField::Submission) => set_text(&mut header.submission, &value),
        Some(HeaderField::Status) => set_text(&mut header.status, &value),
        Some(HeaderField::Total) => set_number(total, &value),
        Some(HeaderField::Accepted) => set_number(accepted, &value),
        Some(HeaderField::Rejected) => set_number(rejected, &value),
        Some(HeaderField::Warnings) => set_number(warnings, &value),
        Some(HeaderField::Items) | None => {
            // A nested summary object (`{"summary": {"accepted": 3}}`) is
            // read for counts too.
            if let Value::Object(inner) = &value
                && inner.keys().any(|k| header_field(k).is_some())
            {
                for (k, v) in inner {
                    merge_header_field(header, k, v.clone());
                }
            }
            if header.raw.len() < MAX_RAW_HEADER_FIELDS {
                header.raw.insert(name.to_owned(), value);
            }
            false
        }
    }
}

/// Unknown header fields kept, at most.
const MAX_RAW_HEADER_FIELDS: usize = 64;

fn set_text(slot: &mut Option<String>, value: &Value) -> bool {
    if slot.is_none() {
        *slot = text_of(value);
    }
    true
}

fn set_number(slot: &mut Option<u64>, value: &Value) -> bool {
    if slot.is_none() {
        *slot = number_of(value);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_match_whatever_their_case_and_separators() {
        for name in ["Item ID", "item_id", "itemId", "ITEM-ID", "id"] {
            assert_eq!(item_field(name), Some(ItemField::Id), "{name}");
        }
        assert_eq!(item_field("Error Code(s)"), Some(ItemField::Code));
        assert_eq!(item_field("Import Result"), Some(ItemField::Status));
        assert_eq!(item_field("colour"), None);
    }

    #[test]
    fn statuses_map_to_three_outcomes_and_unknown() {
        assert_eq!(parse_status("SUCCESS"), ItemStatus::Accepted);
        assert_eq!(parse_status("Failed"), ItemStatus::Rejected);
        assert_eq!(parse_status("accepted_with_warnings"), ItemStatus::Warning);
        assert_eq!(parse_status("pending"), ItemStatus::Unknown);
    }

    #[test]
    fn unknown_fields_stay_in_the_raw_record() {
        let mut header = ReportHeader::default();
        let fields = vec![
            ("ItemId", json!("M1")),
            ("Version", json!("3")),
            ("Status", json!("REJECTED")),
            ("ErrorCode", json!(["E1", "E2"])),
            ("colour", json!("blue")),
        ];
        let Mapped::Item(item) = map_record(fields, 7, &mut header) else {
            panic!("not an item");
        };
        assert_eq!(item.item_id, "M1");
        assert_eq!(item.version, Some(3));
        assert_eq!(item.status, ItemStatus::Rejected);
        assert_eq!(item.error_code.as_deref(), Some("E1;E2"));
        assert_eq!(item.line, 7);
        assert_eq!(item.raw.get("colour"), Some(&json!("blue")));
    }

    #[test]
    fn a_record_without_an_item_id_is_the_reports_header() {
        let mut header = ReportHeader::default();
        let fields = vec![
            ("reportId", json!("R-1")),
            ("manifest", json!("catalog-x.manifest")),
            ("status", json!("COMPLETED_WITH_ERRORS")),
            ("summary", json!({"accepted": 2, "rejected": 1})),
        ];
        assert!(matches!(map_record(fields, 1, &mut header), Mapped::Header));
        assert_eq!(header.report_id.as_deref(), Some("R-1"));
        assert_eq!(header.submission.as_deref(), Some("catalog-x.manifest"));
        assert_eq!(header.status.as_deref(), Some("COMPLETED_WITH_ERRORS"));
        assert_eq!(header.declared.accepted, Some(2));
        assert_eq!(header.declared.rejected, Some(1));
    }
}
