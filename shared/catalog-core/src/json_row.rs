//! A direct reader of the JSON Lines row ([`SourceRecord`]), for speed.
//!
//! serde_json's derived reader took a fifth of a build's main thread: it
//! visits every key and value through generic callbacks. This reader walks
//! the one row shape the source format has, field by field. It reads any
//! row serde_json accepts except a few rare spellings; for those, and for
//! every row serde_json refuses, it returns `None`, and the caller parses the
//! row with serde_json. So what a row means, and how an error is worded,
//! stay serde_json's. `reads_rows_as_serde_json_does` holds the two
//! readers to the same records.
//!
//! Taken to serde_json (`None`): escapes in keys, duplicate or unknown keys,
//! a missing required field, a number where text is expected (the loader's
//! numbers-as-text path), a number that is not a plain integer in range,
//! `null` where serde_json refuses it, a lone surrogate escape, a raw control
//! character in a string, anything after the closing brace but whitespace.

use crate::source::{
    SourceCredit, SourceExternalId, SourceImage, SourceOffer, SourceRating, SourceRecord,
    SourceReleaseDate, SourceText, SourceTitle,
};

/// The record of one row, or `None` for serde_json to read it. Its strings
/// take their buffers from `pool` when it has them.
pub(crate) fn parse_row(line: &str, pool: &mut StringPool) -> Option<SourceRecord> {
    let mut p = Parser { line, at: 0, pool };
    let record = p.record()?;
    p.ws();
    (p.at == line.len()).then_some(record)
}

/// The buffers of strings already used (an item written, a row's type),
/// so the next rows' strings are read into them instead of each asking the
/// allocator: a build's rows have about 35 strings each, and allocating
/// and freeing them was a sixth of its main thread. Buffers are kept by
/// size class, a bounded number of each, and none over 4 KiB.
#[derive(Debug, Default)]
pub(crate) struct StringPool {
    /// Class `k` holds buffers of at least `8 << k` bytes.
    classes: [Vec<String>; 8],
}

impl StringPool {
    const PER_CLASS: usize = 64;
    const LARGEST: usize = 4096;

    /// An empty string with room for `len` bytes (often a used buffer).
    pub(crate) fn take(&mut self, len: usize) -> String {
        // The smallest class all of whose buffers hold `len` bytes.
        let first = match len {
            0..=8 => 0,
            _ => (usize::BITS - ((len - 1) / 8).leading_zeros()) as usize,
        };
        for class in self.classes.iter_mut().skip(first) {
            if let Some(mut buffer) = class.pop() {
                buffer.clear();
                return buffer;
            }
        }
        String::with_capacity(len)
    }

    /// Keeps `text`'s buffer for a later [`take`](Self::take).
    pub(crate) fn give(&mut self, text: String) {
        let capacity = text.capacity();
        if !(8..=Self::LARGEST).contains(&capacity) {
            return;
        }
        let class = (usize::BITS - 1 - (capacity / 8).leading_zeros()) as usize;
        if let Some(class) = self.classes.get_mut(class.min(7))
            && class.len() < Self::PER_CLASS
        {
            class.push(text);
        }
    }
}

struct Parser<'a, 'p> {
    line: &'a str,
    at: usize,
    pool: &'p mut StringPool,
}

/// Marks field `bit` as seen; `None` when it was already (serde_json
/// refuses a duplicate field).
fn first_time(seen: &mut u32, bit: u32) -> Option<()> {
    let mask = 1 << bit;
    if *seen & mask != 0 {
        return None;
    }
    *seen |= mask;
    Some(())
}

impl<'a> Parser<'a, '_> {
    fn ws(&mut self) {
        let bytes = self.line.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.line.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.ws();
        let rest = self.line.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// `{ "key": value, … }`, calling `field` with each key (escape-free)
    /// to read its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let line: &'a str = self.line;
            let end = self.at + memchr::memchr2(b'"', b'\\', line.as_bytes().get(self.at..)?)?;
            if line.as_bytes()[end] != b'"' {
                return None;
            }
            let key = line.get(self.at..end)?;
            self.at = end + 1;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[ value, … ]`, calling `element` to read each value.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A JSON string, decoded.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let line = self.line;
        let bytes = line.as_bytes();
        let mut stop = string_stop(bytes, self.at)?;
        let mut out = self.pool.take(stop - self.at);
        loop {
            out.push_str(line.get(self.at..stop)?);
            self.at = stop + 1;
            match bytes[stop] {
                b'"' => return Some(out),
                b'\\' => {
                    let escaped = *bytes.get(self.at)?;
                    self.at += 1;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    out.push(c);
                }
                // A raw control character: serde_json refuses the row.
                _ => return None,
            }
            stop = string_stop(bytes, self.at)?;
        }
    }

    /// The character of `\uXXXX` (the `\u` read), a surrogate pair whole.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first);
        }
        let rest = self.line.get(self.at..)?;
        if !rest.starts_with("\\u") {
            return None;
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let hex = self.line.get(self.at..self.at + 4)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(hex, 16).ok()
    }

    /// `null` (`None`), or what `read` reads.
    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn optional_string(&mut self) -> Option<Option<String>> {
        self.optional(Parser::string)
    }

    /// A plain non-negative integer (no sign, fraction or exponent).
    fn integer(&mut self) -> Option<u64> {
        self.ws();
        let bytes = self.line.as_bytes();
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(&b) = bytes.get(self.at) {
            if !b.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && bytes[start] == b'0';
        let float = matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !float).then_some(value)
    }

    fn optional_u32(&mut self) -> Option<Option<u32>> {
        match self.optional(Parser::integer)? {
            Some(n) => u32::try_from(n).ok().map(Some),
            None => Some(None),
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|()| true),
            _ => self.literal("false").map(|()| false),
        }
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        self.list(Parser::string)
    }

    fn list<T>(&mut self, mut one: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut list = Vec::new();
        self.array(|p| one(p).map(|t| list.push(t)))?;
        Some(list)
    }

    fn record(&mut self) -> Option<SourceRecord> {
        let mut r = SourceRecord::default();
        let (mut seen, mut kind, mut id) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "type" => {
                    first_time(&mut seen, 0)?;
                    kind = Some(p.string()?);
                }
                "id" => {
                    first_time(&mut seen, 1)?;
                    id = Some(p.string()?);
                }
                "version" => {
                    first_time(&mut seen, 2)?;
                    r.version = p.optional(Parser::integer)?;
                }
                "external_ids" => {
                    first_time(&mut seen, 3)?;
                    r.external_ids = p.list(Parser::external_id)?;
                }
                "title" => {
                    first_time(&mut seen, 4)?;
                    r.title = p.optional_string()?;
                }
                "locale" => {
                    first_time(&mut seen, 5)?;
                    r.locale = p.optional_string()?;
                }
                "titles" => {
                    first_time(&mut seen, 6)?;
                    r.titles = p.list(Parser::title)?;
                }
                "description" => {
                    first_time(&mut seen, 7)?;
                    r.description = p.optional_string()?;
                }
                "descriptions" => {
                    first_time(&mut seen, 8)?;
                    r.descriptions = p.list(Parser::text)?;
                }
                "synopsis" => {
                    first_time(&mut seen, 9)?;
                    r.synopsis = p.optional_string()?;
                }
                "synopses" => {
                    first_time(&mut seen, 10)?;
                    r.synopses = p.list(Parser::text)?;
                }
                "release_date" => {
                    first_time(&mut seen, 11)?;
                    r.release_date = p.optional_string()?;
                }
                "release_type" => {
                    first_time(&mut seen, 12)?;
                    r.release_type = p.optional_string()?;
                }
                "release_dates" => {
                    first_time(&mut seen, 13)?;
                    r.release_dates = p.list(Parser::release_date)?;
                }
                "runtime_minutes" => {
                    first_time(&mut seen, 14)?;
                    r.runtime_minutes = p.optional_u32()?;
                }
                "genres" => {
                    first_time(&mut seen, 15)?;
                    r.genres = p.strings()?;
                }
                "keywords" => {
                    first_time(&mut seen, 16)?;
                    r.keywords = p.strings()?;
                }
                "rating" => {
                    first_time(&mut seen, 17)?;
                    r.rating = p.optional(Parser::rating)?;
                }
                "studios" => {
                    first_time(&mut seen, 18)?;
                    r.studios = p.strings()?;
                }
                "credits" => {
                    first_time(&mut seen, 19)?;
                    r.credits = p.list(Parser::credit)?;
                }
                "images" => {
                    first_time(&mut seen, 20)?;
                    r.images = p.list(Parser::image)?;
                }
                "offers" => {
                    first_time(&mut seen, 21)?;
                    r.offers = p.list(Parser::offer)?;
                }
                "deep_link" => {
                    first_time(&mut seen, 22)?;
                    r.deep_link = p.optional_string()?;
                }
                "series_id" => {
                    first_time(&mut seen, 23)?;
                    r.series_id = p.optional_string()?;
                }
                "season_id" => {
                    first_time(&mut seen, 24)?;
                    r.season_id = p.optional_string()?;
                }
                "season_number" => {
                    first_time(&mut seen, 25)?;
                    r.season_number = p.optional_u32()?;
                }
                "episode_number" => {
                    first_time(&mut seen, 26)?;
                    r.episode_number = p.optional_u32()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        r.kind = kind?;
        r.id = id?;
        Some(r)
    }

    fn external_id(&mut self) -> Option<SourceExternalId> {
        let (mut seen, mut scheme, mut id) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "scheme" => {
                    first_time(&mut seen, 0)?;
                    scheme = p.optional_string()?;
                }
                "id" => {
                    first_time(&mut seen, 1)?;
                    id = p.optional_string()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceExternalId { scheme, id })
    }

    fn title(&mut self) -> Option<SourceTitle> {
        let (mut seen, mut title) = (0u32, SourceTitle::default());
        self.object(|p, key| {
            match key {
                "text" => {
                    first_time(&mut seen, 0)?;
                    title.text = p.optional_string()?;
                }
                "language" => {
                    first_time(&mut seen, 1)?;
                    title.language = p.optional_string()?;
                }
                "territories" => {
                    first_time(&mut seen, 2)?;
                    title.territories = p.strings()?;
                }
                "default" => {
                    first_time(&mut seen, 3)?;
                    title.default = p.boolean()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(title)
    }

    fn text(&mut self) -> Option<SourceText> {
        let (mut seen, mut text, mut language) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "text" => {
                    first_time(&mut seen, 0)?;
                    text = p.optional_string()?;
                }
                "language" => {
                    first_time(&mut seen, 1)?;
                    language = p.optional_string()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceText { text, language })
    }

    fn release_date(&mut self) -> Option<SourceReleaseDate> {
        let (mut seen, mut date, mut release_type) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "date" => {
                    first_time(&mut seen, 0)?;
                    date = p.optional_string()?;
                }
                "type" => {
                    first_time(&mut seen, 1)?;
                    release_type = p.optional_string()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceReleaseDate { date, release_type })
    }

    fn rating(&mut self) -> Option<SourceRating> {
        let (mut seen, mut system, mut value) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "system" => {
                    first_time(&mut seen, 0)?;
                    system = Some(p.string()?);
                }
                "value" => {
                    first_time(&mut seen, 1)?;
                    value = Some(p.string()?);
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceRating {
            system: system?,
            value: value?,
        })
    }

    fn credit(&mut self) -> Option<SourceCredit> {
        let (mut seen, mut role, mut name) = (0u32, None, None);
        self.object(|p, key| {
            match key {
                "role" => {
                    first_time(&mut seen, 0)?;
                    role = Some(p.string()?);
                }
                "name" => {
                    first_time(&mut seen, 1)?;
                    name = Some(p.string()?);
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceCredit {
            role: role?,
            name: name?,
        })
    }

    fn image(&mut self) -> Option<SourceImage> {
        let (mut seen, mut kind, mut url) = (0u32, None, None);
        let (mut aspect_ratio, mut mime_type, mut resolution) = (None, None, None);
        self.object(|p, key| {
            match key {
                "type" => {
                    first_time(&mut seen, 0)?;
                    kind = Some(p.string()?);
                }
                "url" => {
                    first_time(&mut seen, 1)?;
                    url = Some(p.string()?);
                }
                "aspect_ratio" => {
                    first_time(&mut seen, 2)?;
                    aspect_ratio = p.optional_string()?;
                }
                "mime_type" => {
                    first_time(&mut seen, 3)?;
                    mime_type = p.optional_string()?;
                }
                "resolution" => {
                    first_time(&mut seen, 4)?;
                    resolution = p.optional_string()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceImage {
            kind: kind?,
            url: url?,
            aspect_ratio,
            mime_type,
            resolution,
        })
    }

    fn offer(&mut self) -> Option<SourceOffer> {
        let (mut seen, mut kind, mut regions) = (0u32, None, None);
        let (mut start, mut end, mut price, mut currency) = (None, None, None, None);
        self.object(|p, key| {
            match key {
                "type" => {
                    first_time(&mut seen, 0)?;
                    kind = Some(p.string()?);
                }
                "regions" => {
                    first_time(&mut seen, 1)?;
                    regions = Some(p.strings()?);
                }
                "start" => {
                    first_time(&mut seen, 2)?;
                    start = p.optional_string()?;
                }
                "end" => {
                    first_time(&mut seen, 3)?;
                    end = p.optional_string()?;
                }
                "price" => {
                    first_time(&mut seen, 4)?;
                    price = p.optional_string()?;
                }
                "currency" => {
                    first_time(&mut seen, 5)?;
                    currency = p.optional_string()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SourceOffer {
            kind: kind?,
            regions: regions?,
            start,
            end,
            price,
            currency,
        })
    }
}

/// Where the string body starting at `from` stops: its closing quote, an
/// escape, or a raw control character (which JSON does not allow). The
/// bytes are looked at eight at a time; the lowest flagged byte of a word
/// is always a true match.
fn string_stop(bytes: &[u8], from: usize) -> Option<usize> {
    use crate::words::{below, equal};
    let found = crate::words::first(
        bytes.get(from..)?,
        |word| equal(word, b'"') | equal(word, b'\\') | below(word, 0x20),
        |b| b == b'"' || b == b'\\' || b < 0x20,
    )?;
    Some(from + found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::SplitMix64;

    fn serde(line: &str) -> Option<SourceRecord> {
        serde_json::from_str(line).ok()
    }

    /// Whenever the direct reader reads a row, serde_json reads the same
    /// record from it.
    fn same_as_serde(line: &str, pool: &mut StringPool) {
        if let Some(direct) = parse_row(line, pool) {
            assert_eq!(Some(&direct), serde(line).as_ref(), "{line}");
            give_back(pool, direct);
        }
    }

    /// Hands a record's strings to the pool, still holding their text: the
    /// next rows must not see any of it.
    fn give_back(pool: &mut StringPool, record: SourceRecord) {
        let strings = [record.kind, record.id]
            .into_iter()
            .chain(record.title)
            .chain(record.synopsis)
            .chain(record.genres)
            .chain(record.credits.into_iter().flat_map(|c| [c.role, c.name]))
            .chain(record.images.into_iter().map(|i| i.url))
            .chain(record.deep_link);
        for text in strings {
            pool.give(text);
        }
    }

    #[test]
    fn the_pool_hands_out_empty_strings_with_room_for_the_length_asked() {
        let mut pool = StringPool::default();
        for len in [0, 1, 7, 8, 9, 16, 17, 100, 1000, 4096, 5000] {
            pool.give("x".repeat(len));
            pool.give(String::with_capacity(len * 3));
        }
        for len in [0, 1, 8, 9, 16, 17, 33, 500, 1024, 1025, 4096, 9000] {
            let text = pool.take(len);
            assert!(text.is_empty(), "{len}");
            assert!(text.capacity() >= len, "{len}: {}", text.capacity());
        }
    }

    #[test]
    fn reads_every_field_of_the_format_as_serde_json_does() {
        let rows = [
            r#"{"type":"movie","id":"m1","version":3,"external_ids":[{"scheme":"imdb","id":"tt0113277"},{"scheme":null}],"title":"Heat","locale":"en-US","titles":[{"text":"Heat","language":"en","territories":["US","CA"],"default":true},{"text":"Hitze","language":"de","default":false},{}],"description":"d","descriptions":[{"text":"x","language":"fr"}],"synopsis":"s","synopses":[{"text":null,"language":"de"}],"release_date":"1995-12-15","release_type":"theatrical","release_dates":[{"date":"1995-12-15","type":"theatrical"},{"date":null}],"runtime_minutes":170,"genres":["Crime","Drama"],"keywords":[],"rating":{"system":"MPAA","value":"R"},"studios":["Warner"],"credits":[{"role":"director","name":"Michael Mann"}],"images":[{"type":"poster","url":"https://x/p.jpg","aspect_ratio":"2:3","mime_type":"image/jpeg","resolution":"1000x1500"}],"offers":[{"type":"rental","regions":["US"],"start":"2024-01-01T00:00:00Z","end":null,"price":"3.99","currency":"USD"}],"deep_link":"app://m1"}"#,
            r#"{"type":"episode","id":"e1","series_id":"s1","season_id":"s1-1","season_number":null,"episode_number":4294967295,"rating":null}"#,
            " { \"id\" : \"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\\u00e9\\uD83C\\uDFAC\\u0041\" ,\r\n \"type\":\"movie\" } \t",
            r#"{"type":"movie","id":"東京 🎬 Ångström & <b>"}"#,
            r#"{"type":"movie","id":"","title":""}"#,
        ];
        let mut pool = StringPool::default();
        for row in rows.iter().chain(rows.iter().rev()) {
            let direct = parse_row(row, &mut pool).unwrap_or_else(|| panic!("not read: {row}"));
            assert_eq!(Some(&direct), serde(row).as_ref(), "{row}");
            give_back(&mut pool, direct);
        }
    }

    #[test]
    fn leaves_rows_serde_json_refuses_or_reads_otherwise_to_serde_json() {
        let rows = [
            r#"{"type":"movie","id":"m1","typo":1}"#,
            r#"{"type":"movie","id":"m1","id":"m2"}"#,
            r#"{"type":"movie"}"#,
            r#"{"type":"movie","id":"m1","title":1776}"#,
            r#"{"type":"movie","id":"m1","version":-1}"#,
            r#"{"type":"movie","id":"m1","version":1.0}"#,
            r#"{"type":"movie","id":"m1","version":1e3}"#,
            r#"{"type":"movie","id":"m1","version":01}"#,
            r#"{"type":"movie","id":"m1","version":18446744073709551616}"#,
            r#"{"type":"movie","id":"m1","runtime_minutes":4294967296}"#,
            r#"{"type":"movie","id":"m1","genres":null}"#,
            r#"{"type":"movie","id":"m1","rating":{"system":"MPAA"}}"#,
            r#"{"type":"movie","id":"m1","titles":[{"default":null}]}"#,
            r#"{"type":"movie","id":"m1","title":"\uD800"}"#,
            r#"{"type":"movie","id":"m1","title":"\uDC00x"}"#,
            r#"{"type":"movie","id":"m1","title":"\x"}"#,
            "{\"type\":\"movie\",\"id\":\"m1\",\"title\":\"a\u{1}b\"}",
            r#"{"type":"movie","id":"m1"} x"#,
            r#"{"type":"movie","id":"m1",}"#,
            r#"{"typ\u0065":"movie","id":"m1"}"#,
            r#"{"type":"movie","id":"m1","genres":["a",]}"#,
            r#"{"type":"movie","id":"m1","title":nul}"#,
            r#"["type"]"#,
            "",
        ];
        for row in rows {
            assert_eq!(parse_row(row, &mut StringPool::default()), None, "{row}");
        }
    }

    /// The generated export's rows, then the same rows damaged at random:
    /// the direct reader reads every whole row, and never reads a damaged
    /// one otherwise than serde_json.
    #[test]
    fn reads_rows_as_serde_json_does() {
        let rows: Vec<String> = crate::synthetic::Synthetic::new(300, 7)
            .map(|item| serde_json::to_string(&SourceRecord::from(&item)).expect("row"))
            .collect();
        let mut random = SplitMix64::new(11);
        let pieces = [
            "\"",
            "\\",
            ",",
            ":",
            "{",
            "}",
            "[",
            "]",
            " ",
            "null",
            "1",
            "-",
            "0",
            ".5",
            "true",
            "\\u",
            "\\uD83D",
            "\\n",
            "\u{1}",
            "é",
            "\"id\":\"x\",",
            "\"type\":",
        ];
        let mut read = 0;
        let mut pool = StringPool::default();
        for row in &rows {
            assert!(
                parse_row(row, &mut StringPool::default()).is_some(),
                "a generated row was not read: {row}"
            );
            same_as_serde(row, &mut pool);
            let row = row.as_str();
            read += 1;
            for _ in 0..40 {
                let mut damaged = row.to_owned();
                for _ in 0..1 + random.below(3) {
                    let mut at = random.below(damaged.len() as u64 + 1) as usize;
                    while !damaged.is_char_boundary(at) {
                        at -= 1;
                    }
                    if random.below(2) == 0 {
                        damaged.insert_str(at, random.pick(&pieces));
                    } else if let Some(c) = damaged[at..].chars().next() {
                        damaged.replace_range(at..at + c.len_utf8(), "");
                    }
                }
                same_as_serde(&damaged, &mut pool);
            }
        }
        assert_eq!(read, 300);
    }
}
