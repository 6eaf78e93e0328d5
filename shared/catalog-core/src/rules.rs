//! The item value rules (EMBER.md, DOMAIN.md A3), in one place.
//!
//! Both the XML reader and the source loader build an [`Item`] and then ask
//! [`check_item`] what is wrong with its values, so a rule is written once
//! whichever way the item came in. Structural rules (required elements,
//! unknown elements, duplicate ids, parents) belong to whoever sees the
//! structure: the reader for XML, the loader for source rows.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::finding::Rule;
use crate::ids::Sent;
use crate::model::{Item, ItemKind, Metadata, Offer};
use crate::words;

/// Whether XML 1.0 can carry this character at all (even as a reference).
///
/// Tab, line feed and carriage return are allowed; every other C0 control
/// character and the non-characters U+FFFE and U+FFFF are not.
pub fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// The first character XML cannot carry, if any.
pub fn first_non_xml_char(text: &str) -> Option<char> {
    // Every such character is either one byte below 0x20 (never part of a
    // longer UTF-8 sequence) or U+FFFE / U+FFFF, which start with 0xEF (never
    // a continuation byte). So the bytes are scanned eight at a time for a
    // candidate, and only a word holding one is looked at closely.
    fn suspect(word: u64) -> bool {
        words::below(word, 0x20) | words::equal(word, 0xEF) != 0
    }
    let bytes = text.as_bytes();
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        if let Ok(word) = <[u8; 8]>::try_from(word)
            && suspect(u64::from_le_bytes(word))
            && let Some(c) = first_bad_at(bytes, start, start + 8)
        {
            return Some(c);
        }
        start += 8;
    }
    let tail = words.remainder();
    let mut padded = [b' '; 8];
    for (slot, &b) in padded.iter_mut().zip(tail) {
        *slot = b;
    }
    if suspect(u64::from_le_bytes(padded)) {
        return first_bad_at(bytes, start, bytes.len());
    }
    None
}

/// Whether `text` may hold a character XML cannot carry: false means it
/// holds none ([`first_non_xml_char`] would find none in it or in any part
/// of it). One pass over a whole buffer, for a reader that then skips the
/// check of each text cut from it.
pub fn may_hold_non_xml_char(text: &str) -> bool {
    // The same candidates as `first_non_xml_char`'s: a byte below 0x20 other
    // than tab, LF and CR, or 0xEF followed by 0xBF (U+FFC0..=U+FFFF, among
    // them U+FFFE and U+FFFF). No early exit, so the loop is vectorized.
    let bytes = text.as_bytes();
    let control = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r');
    let Some((&last, _)) = bytes.split_last() else {
        return false;
    };
    let pairs = bytes
        .iter()
        .zip(bytes.get(1..).unwrap_or_default())
        .fold(false, |found, (&b, &next)| {
            found | control(b) | (b == 0xEF && next == 0xBF)
        });
    pairs || control(last)
}

/// The first character XML cannot carry among those starting in
/// `bytes[from..to]`; `bytes` is valid UTF-8.
fn first_bad_at(bytes: &[u8], from: usize, to: usize) -> Option<char> {
    for at in from..to {
        match bytes.get(at) {
            Some(&b) if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => {
                return Some(char::from(b));
            }
            Some(0xEF) => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(0xBF), Some(0xBE)) => return Some('\u{FFFE}'),
                (Some(0xBF), Some(0xBF)) => return Some('\u{FFFF}'),
                _ => {}
            },
            _ => {}
        }
    }
    None
}

/// Whether `text` holds a character `char::is_whitespace` accepts.
fn has_whitespace(text: &str) -> bool {
    // The ASCII ones are U+0009..=U+000D and U+0020; the others are not ASCII.
    let ascii = words::any(
        text.as_bytes(),
        |word| words::below(word, b' ' + 1),
        |b| matches!(b, b'\t'..=b'\r' | b' '),
    );
    ascii || (!text.is_ascii() && text.chars().any(char::is_whitespace))
}

/// The longest id, in bytes of UTF-8: the catalog state stores an id's
/// length in 16 bits.
pub const MAX_ID_BYTES: usize = 65_535;

/// Checks an id's length (an item's or a delete's).
pub fn check_id_length(id: &str) -> Result<(), (Rule, String)> {
    if id.len() <= MAX_ID_BYTES {
        return Ok(());
    }
    Err((
        Rule::IdTooLong,
        format!(
            "the id is {} bytes long; an id may be at most {MAX_ID_BYTES} bytes",
            id.len()
        ),
    ))
}

/// Checks an item's values, calling `report` once per problem.
pub fn check_item(item: &Item, report: &mut dyn FnMut(Rule, String)) {
    check_item_values(item, report);
    check_text(item, report);
}

/// [`check_item`] but for the characters of its text, for a caller that
/// knows its text holds none XML cannot carry (the source loader, for a row
/// whose raw bytes cannot decode to one: [`crate::source`]).
pub(crate) fn check_item_values(item: &Item, report: &mut dyn FnMut(Rule, String)) {
    if item.id.trim().is_empty() {
        report(Rule::MissingId, "the id is empty".into());
    }
    if let Err((rule, message)) = check_id_length(&item.id) {
        report(rule, message);
    }
    if item.version == 0 {
        report(Rule::BadVersion, "version 0: versions start at 1".into());
    }
    match &item.kind {
        ItemKind::Movie | ItemKind::Series => {}
        ItemKind::Season { series_id, .. } => {
            if series_id.trim().is_empty() {
                report(
                    Rule::RequiredChild,
                    "TVSeason names an empty series in its Relationships".into(),
                );
            }
        }
        ItemKind::Episode {
            series_id,
            season_id,
            ..
        } => {
            if series_id.trim().is_empty() {
                report(
                    Rule::RequiredChild,
                    "TVEpisode names an empty series in its Relationships".into(),
                );
            }
            if season_id.trim().is_empty() {
                report(
                    Rule::RequiredChild,
                    "TVEpisode names an empty season in its Relationships".into(),
                );
            }
        }
    }
    check_metadata(&item.meta, report);
}

fn check_metadata(meta: &Metadata, report: &mut dyn FnMut(Rule, String)) {
    if meta.title.text.trim().is_empty() {
        report(Rule::RequiredChild, "the <Title> is empty".into());
    }
    if !is_locale(&meta.title.locale) {
        report(
            Rule::BadValue,
            format!(
                "title locale {:?} is not a language tag like en-US",
                meta.title.locale
            ),
        );
    }
    for title in &meta.other_titles {
        if title.text.trim().is_empty() {
            report(
                Rule::RequiredChild,
                format!("the {} <Title> is empty", title.locale),
            );
        }
        if !is_locale(&title.locale) {
            report(
                Rule::BadValue,
                format!(
                    "title language {:?} is not a language tag like fr-CA",
                    title.locale
                ),
            );
        }
        // Territories are checked where they are read: the reader checks
        // the attribute of every localized element, the loader each region.
    }
    for (element, list) in [
        ("Description", &meta.other_descriptions),
        ("Synopsis", &meta.other_synopses),
    ] {
        for text in list {
            if !is_locale(&text.locale) {
                report(
                    Rule::BadValue,
                    format!(
                        "{element} language {:?} is not a language tag like fr-CA",
                        text.locale
                    ),
                );
            }
        }
    }
    for release in &meta.release_dates {
        if parse_date(&release.date).is_none() {
            report(
                Rule::BadValue,
                format!(
                    "release date {:?} is not a calendar date YYYY-MM-DD",
                    release.date
                ),
            );
        }
    }
    if meta.runtime_minutes == Some(0) {
        report(Rule::BadValue, "runtime of 0 minutes".into());
    }
    for image in &meta.images {
        if !is_http_url(&image.url) {
            report(
                Rule::BadValue,
                format!("image URL {:?} is not an absolute http(s) URL", image.url),
            );
        }
        if image.kind.trim().is_empty() {
            report(Rule::BadValue, "an image has an empty type".into());
        }
    }
    for offer in &meta.offers {
        check_offer(offer, report);
    }
    if let Some(link) = &meta.deep_link
        && !is_uri(link)
    {
        report(
            Rule::BadValue,
            format!("deep link {link:?} is not a URI with a scheme (myapp://…)"),
        );
    }
}

fn check_offer(offer: &Offer, report: &mut dyn FnMut(Rule, String)) {
    let kind = offer.kind.as_str();
    if !is_region(&offer.region) {
        report(
            Rule::BadValue,
            format!(
                "{kind} offer region {:?} is not a two-letter code like US",
                offer.region
            ),
        );
    }
    let start = offer.start.as_deref().map(|s| (s, parse_datetime(s)));
    let end = offer.end.as_deref().map(|s| (s, parse_datetime(s)));
    for (name, value) in [("start", start), ("end", end)] {
        if let Some((text, None)) = value {
            report(
                Rule::BadValue,
                format!(
                    "{kind} offer {name} {text:?} is not an RFC 3339 time like 2025-04-20T00:00:00Z"
                ),
            );
        }
    }
    if let (Some((s, Some(start))), Some((e, Some(end)))) = (start, end)
        && start >= end
    {
        report(
            Rule::BadValue,
            format!("{kind} offer window ends ({e}) before it starts ({s})"),
        );
    }
    // Prices have no documented place in EMBER 1.0.0 (EMBER.md §6.2): they
    // are not sent (the build reports them as not sent), so the price
    // checks of the CDF-shaped catalog (a paid offer's Price, its amount
    // and currency, no price on a free offer) are retired.
}

/// Reports text XML cannot carry, once per item, naming the first character.
fn check_text(item: &Item, report: &mut dyn FnMut(Rule, String)) {
    let mut bad = None;
    for_each_text(item, &mut |field, text| {
        if bad.is_none()
            && let Some(c) = first_non_xml_char(text)
        {
            bad = Some((field, c));
        }
    });
    if let Some((field, c)) = bad {
        report(
            Rule::ControlCharacter,
            format!("{field} holds U+{:04X}, which XML cannot carry", c as u32),
        );
    }
}

/// Calls `f` with every text field of the item and its name, the ones with
/// a format (dates, times, regions, prices) included.
pub fn for_each_text(item: &Item, f: &mut dyn FnMut(&'static str, &str)) {
    f("id", &item.id);
    match &item.kind {
        ItemKind::Movie | ItemKind::Series => {}
        ItemKind::Season { series_id, .. } => f("SeriesId", series_id),
        ItemKind::Episode {
            series_id,
            season_id,
            ..
        } => {
            f("SeriesId", series_id);
            f("SeasonId", season_id);
        }
    }
    let meta = &item.meta;
    for e in &meta.external_ids {
        f("ExternalId scheme", &e.scheme);
        f("ExternalId", &e.id);
    }
    f("Title", &meta.title.text);
    f("Title locale", &meta.title.locale);
    for t in &meta.other_titles {
        f("Title", &t.text);
        f("Title locale", &t.locale);
        f("Title territories", &t.territories);
    }
    if let Some(d) = &meta.description {
        f("Description", d);
    }
    for d in &meta.other_descriptions {
        f("Description", &d.text);
        f("Description language", &d.locale);
    }
    if let Some(s) = &meta.synopsis {
        f("Synopsis", s);
    }
    for s in &meta.other_synopses {
        f("Synopsis", &s.text);
        f("Synopsis language", &s.locale);
    }
    for g in &meta.genres {
        f("Genre", g);
    }
    for k in &meta.keywords {
        f("Keyword", k);
    }
    if let Some(r) = &meta.rating {
        f("Rating system", &r.system);
        f("Rating", &r.value);
    }
    for s in &meta.studios {
        f("Studio", s);
    }
    for c in &meta.credits {
        f("Credit role", &c.role);
        f("Credit", &c.name);
    }
    for i in &meta.images {
        f("Image type", &i.kind);
        f("Image url", &i.url);
        for (name, value) in [
            ("Image aspectRatio", &i.aspect_ratio),
            ("Image mimeType", &i.mime_type),
            ("Image resolution", &i.resolution),
        ] {
            if let Some(value) = value {
                f(name, value);
            }
        }
    }
    if let Some(d) = &meta.deep_link {
        f("DeepLink", d);
    }
    for_each_formatted_text(item, f);
}

/// Calls `f` with every text field that has a format (dates, times,
/// regions, prices) and its name. Their own rules refuse most bad values,
/// but not every parser refuses every character, so the text check covers
/// them too.
fn for_each_formatted_text(item: &Item, f: &mut dyn FnMut(&'static str, &str)) {
    let meta = &item.meta;
    for release in &meta.release_dates {
        f("ReleaseDate", &release.date);
        if let Some(kind) = &release.release_type {
            f("ReleaseDate releaseType", kind);
        }
    }
    for offer in &meta.offers {
        f("Offer region", &offer.region);
        if let Some(start) = &offer.start {
            f("Offer start", start);
        }
        if let Some(end) = &offer.end {
            f("Offer end", end);
        }
        if let Some(price) = &offer.price {
            f("Price", &price.amount);
            f("Price currency", &price.currency);
        }
    }
}

/// Parses `YYYY-MM-DD` into a calendar date.
pub fn parse_date(text: &str) -> Option<Date> {
    if let Some(date) = plain_date(text.as_bytes()) {
        return Some(date);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// The value of a run of ASCII digits.
fn digits(bytes: &[u8]) -> Option<u16> {
    bytes.iter().try_fold(0u16, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u16::from(b - b'0'))
    })
}

/// A date written exactly `YYYY-MM-DD` with a day that exists, read
/// without `time`'s general parser (a reader checks one per item and
/// offer). Anything else is left to that parser, which reads these as this
/// does: a test holds them together.
fn plain_date(bytes: &[u8]) -> Option<Date> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *bytes else {
        return None;
    };
    let year = digits(&[y0, y1, y2, y3])?;
    let month = time::Month::try_from(u8::try_from(digits(&[m0, m1])?).ok()?).ok()?;
    let day = u8::try_from(digits(&[d0, d1])?).ok()?;
    Date::from_calendar_date(i32::from(year), month, day).ok()
}

/// [`plain_date`] for `YYYY-MM-DDTHH:MM:SSZ` with a time that exists.
fn plain_datetime(bytes: &[u8]) -> Option<OffsetDateTime> {
    let [date @ .., b'T', h0, h1, b':', n0, n1, b':', s0, s1, b'Z'] = bytes else {
        return None;
    };
    let date = plain_date(date)?;
    let hms = [[h0, h1], [n0, n1], [s0, s1]].map(|[a, b]| digits(&[*a, *b]));
    let [Some(hour), Some(minute), Some(second)] = hms else {
        return None;
    };
    // A leap second (60) is left to the general parser.
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let time = time::Time::from_hms(hour as u8, minute as u8, second as u8).ok()?;
    Some(date.with_time(time).assume_utc())
}

/// Parses an RFC 3339 date-time.
///
/// The date and the time are separated by `T` (xs:dateTime's only
/// separator): the RFC 3339 parser takes any character there, even a
/// control character XML cannot carry.
pub fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    if let Some(time) = plain_datetime(text.as_bytes()) {
        return Some(time);
    }
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A BCP-47-shaped tag: a 2–3 letter language, then `-`-separated subtags.
pub fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    language_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// An ISO 3166-1 alpha-2 shaped region code: two upper-case letters.
pub fn is_region(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// EMBER's `TerritoriesType`: `GLOBAL`, or comma-separated two-letter
/// codes such as `US,CA` [doc S4, S12; the exact pattern is inferred].
pub fn is_territories(value: &str) -> bool {
    value == "GLOBAL" || (!value.is_empty() && value.split(',').all(is_region))
}

/// An absolute http(s) URL with a host.
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    // The host runs up to the first `/`, `?` or `#`: it is empty exactly
    // when one of them comes first (asked per byte, not by splitting).
    rest.is_some_and(|r| {
        let host = r
            .bytes()
            .next()
            .is_some_and(|b| !matches!(b, b'/' | b'?' | b'#'));
        host && !has_whitespace(url)
    })
}

/// A URI with a scheme (`myapp://title/1`, `https://…`).
pub fn is_uri(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                && !has_whitespace(uri)
        }
        None => false,
    }
}

/// A non-negative decimal with at most two fraction digits: `3`, `3.9`, `3.99`.
pub fn is_amount(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(text.contains('.') && fraction.is_empty())
}

/// DOMAIN.md A3, versions only go up: an item is acceptable against what was
/// last sent for its id when its version is higher, or when it is exactly
/// what was sent (an unchanged item keeps its version; and a catalog checked
/// against a state that already records it finds itself there). `content`
/// gives the item's content hash, computed only when needed.
pub fn check_item_version(
    id: &str,
    version: u64,
    sent: &Sent,
    content: impl FnOnce() -> u64,
) -> Result<(), (Rule, String)> {
    if version > sent.version {
        return Ok(());
    }
    if version < sent.version {
        return Err((
            Rule::VersionNotNewer,
            format!(
                "{id:?} has version {version}, lower than version {} already sent",
                sent.version
            ),
        ));
    }
    if sent.deleted {
        return Err((
            Rule::VersionNotNewer,
            format!(
                "{id:?} was deleted with version {version}; sending it again needs a version above {version}"
            ),
        ));
    }
    match sent.content {
        Some(last) if last != content() => Err((
            Rule::VersionReused,
            format!(
                "{id:?} is sent as version {version} with content that differs from version {version} already sent; Amazon would ignore the change"
            ),
        )),
        _ => Ok(()),
    }
}

/// DOMAIN.md A3: a delete is the newest version of its item, so its version
/// is above the last one sent (or is the very delete already recorded).
pub fn check_delete_version(id: &str, version: u64, sent: &Sent) -> Result<(), (Rule, String)> {
    if version > sent.version || (version == sent.version && sent.deleted) {
        return Ok(());
    }
    Err((
        Rule::VersionNotNewer,
        format!(
            "the Delete of {id:?} has version {version}; it must be above version {} already sent",
            sent.version
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_shapes() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-2-1").is_none());
        assert!(parse_datetime("2025-04-20T00:00:00Z").is_some());
        assert!(parse_datetime("2025-04-20").is_none());
        assert!(is_locale("en-US") && is_locale("de") && is_locale("zh-Hant-TW"));
        assert!(!is_locale("") && !is_locale("english") && !is_locale("en_US"));
        assert!(is_region("US") && !is_region("us") && !is_region("USA"));
        assert!(is_http_url("https://img.example.com/a.jpg"));
        assert!(
            !is_http_url("ftp://x/y") && !is_http_url("https://") && !is_http_url("https://a b")
        );
        assert!(is_uri("myapp://title/1") && !is_uri("no-scheme") && !is_uri("1abc:x"));
        assert!(is_amount("3.99") && is_amount("0") && is_amount("10.5"));
        assert!(!is_amount("3.") && !is_amount("-1") && !is_amount("3.999") && !is_amount(""));
    }

    #[test]
    fn first_non_xml_char_matches_a_scan_by_char() {
        let by_char = |text: &str| text.chars().find(|&c| !is_xml_char(c));
        let pieces = [
            "",
            "a",
            "é",
            "\t",
            "\n",
            "\r",
            "\u{0}",
            "\u{7}",
            "\u{b}",
            "\u{1f}",
            " ",
            "\u{7f}",
            "\u{fffd}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{efbf}",
            "\u{ef}",
            "\u{10000}",
            "😀",
            "東京",
            "\u{feff}",
            "\u{fbff}",
            "\u{fdd0}",
            "abcdefghijklmno",
        ];
        let mut texts = Vec::new();
        for a in pieces {
            for b in pieces {
                for pad in [0, 1, 13, 14, 15, 16, 17, 31] {
                    texts.push(format!("{}{a}{b}", "x".repeat(pad)));
                    texts.push(format!("{a}{}{b}", "y".repeat(pad)));
                }
            }
        }
        for c in (0..0x11_0000).filter_map(char::from_u32) {
            texts.push(format!("ab{c}cd"));
        }
        // The scan of a whole buffer flags exactly the texts with a
        // character XML cannot carry, or one of U+FFC0..=U+FFFF (which share
        // U+FFFE's and U+FFFF's first two bytes).
        let candidate = |c: char| !is_xml_char(c) || ('\u{FFC0}'..='\u{FFFF}').contains(&c);
        for text in &texts {
            assert_eq!(first_non_xml_char(text), by_char(text), "{text:?}");
            assert_eq!(
                may_hold_non_xml_char(text),
                text.chars().any(candidate),
                "{text:?}"
            );
        }
    }

    #[test]
    fn plain_dates_and_times_read_as_the_general_parsers_read_them() {
        let general_date = |text: &str| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(text, &format).ok()
        };
        let general_time = |text: &str| OffsetDateTime::parse(text, &Rfc3339).ok();
        let years = [
            "0000", "0001", "1900", "2000", "2023", "2024", "9999", "20a4", "+202",
        ];
        let twos: Vec<String> = (0..=61)
            .map(|n| format!("{n:02}"))
            .chain(["1a", " 1", "-1", "١٢"].map(String::from))
            .collect();
        let mut dates = 0;
        for year in years {
            for month in &twos {
                for day in &twos {
                    let text = format!("{year}-{month}-{day}");
                    let fast = plain_date(text.as_bytes());
                    assert!(fast.is_none() || fast == general_date(&text), "{text}");
                    assert_eq!(parse_date(&text), general_date(&text), "{text}");
                    dates += usize::from(fast.is_some());
                }
            }
        }
        assert!(dates > 2_000, "the plain path read {dates} dates");
        let mut times = 0;
        for date in ["2024-02-29", "2023-02-29", "2025-12-31", "0000-01-01"] {
            for hour in &twos {
                for minute in ["00", "07", "59", "60", "5x"] {
                    for second in ["00", "30", "59", "60", "61"] {
                        for zone in ["Z", "z", "+00:00", "+01:30", ""] {
                            let text = format!("{date}T{hour}:{minute}:{second}{zone}");
                            let fast = plain_datetime(text.as_bytes());
                            assert!(fast.is_none() || fast == general_time(&text), "{text}");
                            assert_eq!(parse_datetime(&text), general_time(&text), "{text}");
                            times += usize::from(fast.is_some());
                        }
                    }
                }
            }
        }
        assert!(times > 500, "the plain path read {times} times");
    }

    #[test]
    fn has_whitespace_matches_char_is_whitespace() {
        let by_char = |text: &str| text.chars().any(char::is_whitespace);
        for c in (0..0x11_0000).filter_map(char::from_u32) {
            for text in [format!("{c}"), format!("ab{c}"), format!("é{c}x")] {
                assert_eq!(has_whitespace(&text), by_char(&text), "{text:?}");
            }
        }
        assert!(!has_whitespace("https://a.example/b?c=d"));
    }

    #[test]
    fn xml_chars() {
        assert!(is_xml_char('\t') && is_xml_char('\n') && is_xml_char('\r') && is_xml_char('😀'));
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1b}') && !is_xml_char('\u{FFFF}'));
        assert_eq!(first_non_xml_char("ok\u{7}bad"), Some('\u{7}'));
    }

    #[test]
    fn versions_only_go_up_against_what_was_sent() {
        let live = Sent {
            version: 3,
            content: Some(7),
            deleted: false,
        };
        let code = |r: Result<(), (Rule, String)>| r.err().map(|(rule, _)| rule.code());
        assert_eq!(code(check_item_version("m", 4, &live, || 9)), None);
        assert_eq!(code(check_item_version("m", 3, &live, || 7)), None);
        assert_eq!(
            code(check_item_version("m", 3, &live, || 8)),
            Some("version.reused")
        );
        assert_eq!(
            code(check_item_version("m", 2, &live, || 7)),
            Some("version.not-newer")
        );
        assert_eq!(code(check_delete_version("m", 4, &live)), None);
        assert_eq!(
            code(check_delete_version("m", 3, &live)),
            Some("version.not-newer")
        );
        let deleted = Sent {
            version: 4,
            content: None,
            deleted: true,
        };
        assert_eq!(code(check_delete_version("m", 4, &deleted)), None);
        assert_eq!(
            code(check_item_version("m", 4, &deleted, || 7)),
            Some("version.not-newer")
        );
        assert_eq!(code(check_item_version("m", 5, &deleted, || 7)), None);
    }
}
