//! JSON Lines, CSV and single-document JSON reports.
//!
//! JSON Lines and CSV are read one record at a time into buffers reused
//! across records, so memory stays flat whatever the report's size. A JSON
//! document is parsed whole, bounded by `max_whole_bytes`.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::fields::{self, FieldValue, Filled, HeaderField, ItemField, Mapped};
use super::{Context, ItemResult, ReportError, ReportHeader};
use crate::report::Readability;

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A value of a JSON Lines record: strings stay borrowed from the line
/// when they hold no escape; anything else is a [`Value`].
struct LineValue<'a>(FieldValue<'a>);

impl<'de> Deserialize<'de> for LineValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LineValue<'de>, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = LineValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Text(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Text(Cow::Owned(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Json(Value::from(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Json(Value::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Json(Value::from(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Json(Value::Bool(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LineValue(FieldValue::Json(Value::Null)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(LineValue(FieldValue::Json(value)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(LineValue(FieldValue::Json(value)))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

/// The field names met in one report and what each is: the same names come
/// back on every line, so each distinct name is classified once.
#[derive(Default)]
struct KeyCache {
    seen: Vec<(Box<str>, Option<ItemField>)>,
}

impl KeyCache {
    /// Names kept at most (a report with more distinct names classifies the
    /// rest each time).
    const MAX: usize = 64;

    fn item_field(&mut self, name: &str) -> Option<ItemField> {
        if let Some((_, kind)) = self.seen.iter().find(|(seen, _)| **seen == *name) {
            return *kind;
        }
        let kind = fields::item_field(name);
        if self.seen.len() < Self::MAX {
            self.seen.push((name.into(), kind));
        }
        kind
    }
}

/// One JSON Lines record: its members, each with what its name is.
type LineMembers<'a> = Vec<(Cow<'a, str>, Option<ItemField>, FieldValue<'a>)>;

/// Parses one line into [`LineMembers`], classifying names through the cache.
struct LineSeed<'c>(&'c mut KeyCache);

impl<'de> de::DeserializeSeed<'de> for LineSeed<'_> {
    type Value = LineMembers<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = LineMembers<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(8);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let kind = self.0.item_field(&key);
            let LineValue(value) = map.next_value()?;
            members.push((key, kind, value));
        }
        Ok(members)
    }
}

fn parse_line<'a>(text: &'a [u8], cache: &mut KeyCache) -> serde_json::Result<LineMembers<'a>> {
    match parse_flat_line(text, cache) {
        Some(members) => Ok(members),
        None => parse_json_line(text, cache),
    }
}

/// Any line, with serde_json (which also words what is wrong with a line).
fn parse_json_line<'a>(
    text: &'a [u8],
    cache: &mut KeyCache,
) -> serde_json::Result<LineMembers<'a>> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let members = de::DeserializeSeed::deserialize(LineSeed(cache), &mut de)?;
    de.end()?;
    Ok(members)
}

/// The common line read without serde_json: a flat object, written without
/// whitespace, of strings without escapes and integers of at most 19 digits
/// (`{"item_id":"A","version":2}`). serde_json checks UTF-8 string by string
/// and looks for escapes byte by byte, most of the time a line took; here
/// the line is checked once. `None` for anything else, including every
/// malformed line: the caller then parses it with serde_json, so what is
/// read, and how an error is worded, stays serde_json's.
fn parse_flat_line<'a>(text: &'a [u8], cache: &mut KeyCache) -> Option<LineMembers<'a>> {
    let line = std::str::from_utf8(text).ok()?;
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return None;
    }
    let mut at = 1;
    let mut members = Vec::with_capacity(8);
    loop {
        let name = flat_string(line, &mut at)?;
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        let value = if bytes.get(at) == Some(&b'"') {
            FieldValue::Text(Cow::Borrowed(flat_string(line, &mut at)?))
        } else {
            FieldValue::Json(Value::from(flat_integer(bytes, &mut at)?))
        };
        members.push((Cow::Borrowed(name), cache.item_field(name), value));
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == bytes.len() => return Some(members),
            _ => return None,
        }
    }
}

/// The string starting at `at` (its opening quote), when it holds no escape
/// and no control character (which serde_json refuses); `at` moves past it.
fn flat_string<'a>(line: &'a str, at: &mut usize) -> Option<&'a str> {
    let bytes = line.as_bytes();
    if bytes.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let len = bytes
        .get(start..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    let end = start + len;
    if bytes.get(end) != Some(&b'"') {
        return None;
    }
    *at = end + 1;
    line.get(start..end)
}

/// The integer starting at `at`: digits only, no leading zero (serde_json
/// refuses one) and at most 19 of them, so it fits a `u64` as serde_json
/// would read it (a longer one it reads as a float); `at` moves past it.
fn flat_integer(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let rest = bytes.get(*at..)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest.first() == Some(&b'0')) {
        return None;
    }
    let number = std::str::from_utf8(rest.get(..digits)?)
        .ok()?
        .parse()
        .ok()?;
    *at += digits;
    Some(number)
}

/// Maps one JSON object (an item, a header, or a header holding an items
/// array) and hands its items on.
fn json_object(
    members: Vec<(Cow<'_, str>, Value)>,
    line: u64,
    ctx: &mut Context,
    header: &mut ReportHeader,
    on_item: &mut dyn FnMut(&ItemResult),
) {
    let has_id = members
        .iter()
        .any(|(k, _)| fields::item_field(k) == Some(fields::ItemField::Id));
    if !has_id {
        // A header; maybe holding the items themselves.
        let mut arrays = Vec::new();
        let mut rest = Vec::new();
        for (key, value) in members {
            if fields::header_field(&key) == Some(HeaderField::Items) && value.is_array() {
                arrays.push(value);
            } else {
                rest.push((key, value));
            }
        }
        let mapped = fields::map_record(rest, line, header);
        if matches!(mapped, Mapped::Nothing) && arrays.is_empty() {
            ctx.finding(
                line,
                "a record with no item id and no report field (looked for the names in report::fields)",
            );
        }
        for array in arrays {
            json_array(array, line, ctx, header, on_item);
        }
        return;
    }
    match fields::map_record(members, line, header) {
        Mapped::Item(item) => ctx.item(&item, on_item),
        Mapped::Header | Mapped::Nothing => {
            ctx.finding(line, "an item record whose id is empty");
        }
    }
}

fn json_array(
    array: Value,
    line: u64,
    ctx: &mut Context,
    header: &mut ReportHeader,
    on_item: &mut dyn FnMut(&ItemResult),
) {
    let Value::Array(values) = array else {
        return;
    };
    for (at, value) in values.into_iter().enumerate() {
        match value {
            Value::Object(map) => {
                let members = map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect();
                json_object(members, line, ctx, header, on_item);
            }
            other => ctx.finding(
                line,
                format!(
                    "element {} of the items array is not an object: {}",
                    at + 1,
                    shorten(&other.to_string())
                ),
            ),
        }
    }
}

/// Reads JSON Lines, one object a line; a bad line is a finding.
///
/// One line at a time into a buffer reused across lines: memory stays flat
/// whatever the report's size. Field names are classified once per report
/// ([`KeyCache`]), the common flat line is read without serde_json
/// ([`parse_flat_line`]), the mapped fields are read borrowed from the line
/// and one [`ItemResult`] is refilled for every item.
/// (Parsing lines on other cores was measured: freeing on one thread what
/// another allocated cost more than the second core gave.)
pub(crate) fn json_lines<R: BufRead>(
    mut reader: R,
    ctx: &mut Context,
    header: &mut ReportHeader,
    on_item: &mut dyn FnMut(&ItemResult),
) -> Result<Readability, ReportError> {
    let max = ctx.options().max_line_bytes;
    let mut buf = Vec::with_capacity(4096);
    let mut keys = KeyCache::default();
    // One item filled line after line (see `fields::fill_classified`).
    let mut item = ItemResult::default();
    let mut line = 0u64;
    let mut readable = 0u64;
    loop {
        buf.clear();
        line += 1;
        match read_line_bounded(&mut reader, &mut buf, max) {
            Ok(LineRead::End) => break,
            Ok(LineRead::TooLong) => {
                ctx.finding(
                    line,
                    format!("the line is longer than {max} bytes; skipped"),
                );
                continue;
            }
            Ok(LineRead::Line) => {}
            Err(error) => {
                ctx.input_error(error, line)?;
                break;
            }
        }
        let text = trim_ascii(&buf);
        if text.is_empty() {
            continue;
        }
        match parse_line(text, &mut keys) {
            Ok(members) => {
                readable += 1;
                json_line(members, line, ctx, header, &mut item, on_item);
            }
            Err(error) => ctx.finding(
                line,
                format!(
                    "not a JSON object: {error} (the line starts {})",
                    shorten(&String::from_utf8_lossy(text))
                ),
            ),
        }
    }
    if readable == 0 {
        return Ok(Readability::Unrecognised {
            reason: "looked like JSON Lines but no line is a JSON object".to_owned(),
        });
    }
    Ok(Readability::Read)
}

/// One JSON Lines record: an item (the common case, mapped without
/// building a [`Value`] for the fields it maps) or anything else (a header
/// line, an items array, an empty id), which goes the way of a JSON
/// document's objects.
fn json_line(
    members: LineMembers<'_>,
    line: u64,
    ctx: &mut Context,
    header: &mut ReportHeader,
    item: &mut ItemResult,
    on_item: &mut dyn FnMut(&ItemResult),
) {
    let is_item = members
        .iter()
        .any(|(_, kind, value)| *kind == Some(ItemField::Id) && value.has_text());
    if is_item {
        match fields::fill_classified(members, line, header, item) {
            Filled::Item => ctx.item(item, on_item),
            // Unreachable (`has_text` said the id is there); nothing is
            // dropped either way.
            Filled::Header | Filled::Nothing => {
                ctx.finding(line, "an item record whose id is empty");
            }
        }
        return;
    }
    let members = members
        .into_iter()
        .map(|(key, _, value)| (key, value.into_json()))
        .collect();
    json_object(members, line, ctx, header, on_item);
}

enum LineRead {
    Line,
    TooLong,
    End,
}

/// `read_until(b'\n')` that stops keeping bytes past `max` (the rest of the
/// line is read and dropped, so memory stays bounded).
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..=at], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if buf.len() + used > max + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => LineRead::End,
        (true, true) => LineRead::TooLong,
        (true, false) => LineRead::Line,
    })
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |at| at + 1);
    &bytes[start..end.max(start)]
}

/// The first 80 characters of `text`, for messages.
pub(crate) fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A CSV header: its delimiter and what each column is. `None` when the
/// line names no item id column, or neither a status nor an error code.
pub(crate) fn csv_header(line: &str) -> Option<(u8, Vec<String>)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let delimiter = [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| line.bytes().filter(|b| b == d).count())?;
    let names: Vec<String> = line
        .split(char::from(delimiter))
        .map(|n| n.trim().trim_matches('"').to_owned())
        .collect();
    let kinds: Vec<Option<ItemField>> = names.iter().map(|n| fields::item_field(n)).collect();
    let has = |kind| kinds.contains(&Some(kind));
    (has(ItemField::Id) && (has(ItemField::Status) || has(ItemField::Code)))
        .then_some((delimiter, names))
}

/// Reads a CSV report with a header row, one record at a time.
pub(crate) fn csv<R: BufRead>(
    reader: R,
    ctx: &mut Context,
    header: &mut ReportHeader,
    on_item: &mut dyn FnMut(&ItemResult),
) -> Result<Readability, ReportError> {
    let mut reader = reader;
    let mut first = Vec::new();
    // The header line is read here to find the delimiter; the records after
    // it go to the CSV reader.
    if let Err(error) = read_line_bounded(&mut reader, &mut first, ctx.options().max_line_bytes) {
        ctx.input_error(error, 1)?;
        return Ok(Readability::Read);
    }
    let Some((delimiter, names)) = csv_header(&String::from_utf8_lossy(&first)) else {
        return Ok(Readability::Unrecognised {
            reason: "the first line names no item id and status columns".to_owned(),
        });
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let max = ctx.options().max_line_bytes;
    loop {
        let line = csv.position().line() + 1;
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => match error.into_kind() {
                csv::ErrorKind::Io(io) => {
                    ctx.input_error(io, line)?;
                    break;
                }
                other => {
                    ctx.finding(line, format!("not a CSV record: {other:?}"));
                    continue;
                }
            },
        }
        if record.len() == 1 && record.get(0).is_some_and(|f| trim_ascii(f).is_empty()) {
            continue;
        }
        if record.as_slice().len() > max {
            ctx.finding(
                line,
                format!("the record is longer than {max} bytes; skipped"),
            );
            continue;
        }
        if record.len() < names.len() {
            ctx.finding(
                line,
                format!(
                    "the record has {} fields, the header {}: the line is cut short; skipped",
                    record.len(),
                    names.len()
                ),
            );
            continue;
        }
        let mut values = Vec::with_capacity(record.len());
        let mut bad = false;
        for (at, field) in record.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(field) else {
                ctx.finding(
                    line,
                    format!("field {} is not UTF-8; the record is skipped", at + 1),
                );
                bad = true;
                break;
            };
            let name = names.get(at).map_or("", String::as_str);
            if name.is_empty() && text.trim().is_empty() {
                continue;
            }
            values.push((name, FieldValue::Text(Cow::Borrowed(text))));
        }
        if bad {
            continue;
        }
        match fields::map_record(values, line, header) {
            Mapped::Item(item) => ctx.item(&item, on_item),
            _ => ctx.finding(line, "the record has no item id; skipped"),
        }
    }
    Ok(Readability::Read)
}

/// Reads one JSON document, whole (bounded): an array of items, or an
/// object with header fields and an items array.
pub(crate) fn json<R: BufRead>(
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
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(error) => {
            // A document cut short: what it held up to there is not
            // recoverable with a plain parser; say where it broke.
            return Ok(Readability::Unrecognised {
                reason: format!(
                    "not a complete JSON document: {error} (line {}, column {})",
                    error.line(),
                    error.column()
                ),
            });
        }
    };
    match value {
        Value::Array(_) => json_array(value, 1, ctx, header, on_item),
        Value::Object(map) => {
            let members = map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect();
            json_object(members, 1, ctx, header, on_item);
        }
        other => {
            return Ok(Readability::Unrecognised {
                reason: format!("a JSON {} rather than an object or array", kind_of(&other)),
            });
        }
    }
    Ok(Readability::Read)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ParseOptions, ParsedReport, ReportFormat, parse_report};
    use super::*;
    use crate::report::ItemStatus;

    fn parse(bytes: &[u8]) -> (ParsedReport, Vec<ItemResult>) {
        let mut items = Vec::new();
        let parsed = parse_report(bytes, &ParseOptions::default(), &mut |i| {
            items.push(i.clone())
        })
        .unwrap();
        (parsed, items)
    }

    #[test]
    fn json_lines_with_a_header_line_and_a_bad_line() {
        let text = b"{\"reportId\":\"R1\",\"manifest\":\"m.manifest\"}\n\
            {\"itemId\":\"A\",\"status\":\"ACCEPTED\"}\n\
            not json\n\
            \n\
            {\"itemId\":\"B\",\"status\":\"REJECTED\",\"errorCode\":\"E1\",\"extra\":1}\n";
        let (parsed, items) = parse(text);
        assert_eq!(parsed.format, Some(ReportFormat::JsonLines));
        assert_eq!(parsed.header.report_id.as_deref(), Some("R1"));
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].line, 5);
        assert_eq!(items[1].status, ItemStatus::Rejected);
        assert_eq!(items[1].raw["extra"], 1);
        assert_eq!(parsed.findings.len(), 1);
        assert_eq!(parsed.findings[0].line, 3);
    }

    #[test]
    fn a_line_longer_than_the_bound_is_skipped_with_a_finding() {
        let mut text = b"{\"id\":\"A\",\"status\":\"ok\"}\n{\"id\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 5000));
        text.extend_from_slice(b"\"}\n{\"id\":\"C\",\"status\":\"ok\"}\n");
        let options = ParseOptions {
            max_line_bytes: 1000,
            ..ParseOptions::default()
        };
        let mut items = Vec::new();
        let parsed = parse_report(&text[..], &options, &mut |i| items.push(i.clone())).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(parsed.findings[0].line, 2);
    }

    #[test]
    fn a_long_report_keeps_every_line_in_order_with_its_number() {
        // ~4 MB, with bad,
        // blank, too-long and header lines spread through it.
        let options = ParseOptions {
            max_line_bytes: 2000,
            ..ParseOptions::default()
        };
        let mut text = Vec::new();
        let mut expected_findings = Vec::new();
        let mut expected_items = Vec::new();
        for line in 1..=40_000u64 {
            if line == 20_001 {
                text.extend_from_slice(b"{\"reportId\":\"MIDDLE\",\"status\":\"DONE\"}\n");
            } else if line % 997 == 0 {
                text.extend_from_slice(b"{\"itemId\": broken\n");
                expected_findings.push(line);
            } else if line % 1999 == 0 {
                text.extend_from_slice(b"{\"itemId\":\"");
                text.extend(std::iter::repeat_n(b'y', 3000));
                text.extend_from_slice(b"\"}\n");
                expected_findings.push(line);
            } else if line % 501 == 0 {
                text.extend_from_slice(b"   \n");
            } else {
                text.extend_from_slice(
                    format!("{{\"itemId\":\"I{line}\",\"status\":\"Rejected\",\"code\":\"E\\u0031\",\"x\":[{line}]}}\n")
                        .as_bytes(),
                );
                expected_items.push(line);
            }
        }
        let mut items = Vec::new();
        let parsed = parse_report(&text[..], &options, &mut |i| items.push(i.clone())).unwrap();
        assert_eq!(parsed.header.report_id.as_deref(), Some("MIDDLE"));
        assert_eq!(parsed.header.status.as_deref(), Some("DONE"));
        let lines: Vec<u64> = items.iter().map(|i| i.line).collect();
        assert_eq!(lines, expected_items);
        assert!(items.iter().all(|i| i.item_id == format!("I{}", i.line)
            && i.error_code.as_deref() == Some("E1")
            && i.raw["x"][0] == i.line));
        let finding_lines: Vec<u64> = parsed.findings.iter().map(|f| f.line).collect();
        assert_eq!(finding_lines, expected_findings);
    }

    /// Whatever line the flat reader takes, it reads as serde_json does;
    /// every other line (escapes, whitespace, nesting, other numbers,
    /// malformed) it leaves to serde_json, which then reads it or words the
    /// finding exactly as before.
    #[test]
    fn the_flat_reader_reads_lines_as_serde_json_does() {
        let names = [
            "item_id",
            "status",
            "Error Code",
            "x",
            "",
            "é",
            "a\\\"b",
            "k\\u0041",
            "a b",
            "tab\tin",
        ];
        let values = [
            "\"A\"",
            "\"\"",
            "\" padded \"",
            "\"ACCEPTED\"",
            "\"naïve ☃\"",
            "\"esc\\\"aped\"",
            "\"\\u00e9\"",
            "\"ctl\u{1}\"",
            "0",
            "7",
            "007",
            "-5",
            "1.5",
            "1e3",
            "2E-2",
            "18446744073709551615",
            "99999999999999999999",
            "1234567890123456789",
            "true",
            "null",
            "[1,\"a\"]",
            "{\"a\":{\"b\":1}}",
            "\"unterminated",
        ];
        const DAMAGE: &[u8] = b" \t\n:,{}[\"\\x0\xff\xc3";
        // The same lines every run.
        let mut random = crate::synthetic::SplitMix64::new(0x2545_f491_4f6c_dd1d_u64);
        let mut next = |n: usize| random.below(n as u64) as usize;
        let mut flat = 0;
        for _ in 0..50_000 {
            let mut line = String::from("{");
            for at in 0..1 + next(6) {
                if at > 0 {
                    line.push(',');
                }
                line.push('"');
                line.push_str(names[next(names.len())]);
                line.push_str("\":");
                line.push_str(values[next(values.len())]);
            }
            line.push('}');
            let mut bytes = line.into_bytes();
            // One line in two damaged: a byte changed, cut or inserted.
            match next(6) {
                0 => {
                    let at = next(bytes.len());
                    bytes[at] = DAMAGE[next(DAMAGE.len())];
                }
                1 => bytes.truncate(next(bytes.len())),
                2 => {
                    let at = next(bytes.len() + 1);
                    bytes.insert(at, DAMAGE[next(DAMAGE.len())]);
                }
                _ => {}
            }
            let mut cache = KeyCache::default();
            let by_serde = parse_json_line(&bytes, &mut cache);
            if let Some(members) = parse_flat_line(&bytes, &mut cache) {
                flat += 1;
                assert_eq!(
                    by_serde.as_ref().ok(),
                    Some(&members),
                    "{}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        // The flat reader is really exercised.
        assert!(flat > 1_000, "{flat}");
    }

    #[test]
    fn csv_with_semicolons_quotes_and_a_short_row() {
        let text = b"Item ID;Version;Status;Error Code;Note\n\
            A;1;Accepted;;\n\
            \"B;x\";2;Rejected;E9;\"said \"\"no\"\"\"\n\
            C;3\n";
        let (parsed, items) = parse(text);
        assert_eq!(parsed.format, Some(ReportFormat::Csv));
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].item_id, "B;x");
        assert_eq!(items[1].version, Some(2));
        assert_eq!(items[1].error_code.as_deref(), Some("E9"));
        assert_eq!(items[1].raw["Note"], "said \"no\"");
        assert_eq!(parsed.findings.len(), 1);
        assert_eq!(parsed.findings[0].line, 4);
    }

    #[test]
    fn a_json_document_with_a_summary_and_items() {
        let text = br#"{
          "reportId": "R2",
          "submission": "catalog-20260101T000000Z-update.xml.zst",
          "status": "PARTIAL",
          "summary": {"total": 3, "accepted": 2, "rejected": 1},
          "generatedBy": "ember",
          "items": [
            {"id": "A", "version": 2, "status": "SUCCESS"},
            {"id": "B", "status": "ERROR", "code": "BAD_DATE", "message": "date"},
            7
          ]
        }"#;
        let (parsed, items) = parse(text);
        assert_eq!(parsed.format, Some(ReportFormat::Json));
        assert_eq!(parsed.header.declared.total, Some(3));
        assert_eq!(parsed.header.raw["generatedBy"], "ember");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].error_code.as_deref(), Some("BAD_DATE"));
        assert_eq!(parsed.findings.len(), 1);
    }
}
