//! The streaming EMBER writer: entries in one at a time, bytes out to any `Write`.
//!
//! [`CatalogWriter`] writes the XML declaration and the `<ProgramCatalog>`
//! root when it is made, each item as it is given, and on
//! [`finish`](CatalogWriter::finish) the queued deletes, children first
//! (episodes, seasons, then series and movies), and the closing tag. It hands
//! the sink back so its owner closes it: a `zstd::Encoder` finishes its frame,
//! a multipart upload completes.
//!
//! Memory is one output buffer plus the queued deletes (an id and a version
//! each); items are never held. All text is escaped; text XML cannot carry
//! (most control characters) is refused with an error naming the item, never
//! written and never dropped silently.

use std::io::{self, Write};

use thiserror::Error;

use crate::model::{CatalogHeader, Delete, Item, ItemKind, KindTag};
use crate::rules::first_non_xml_char;

/// What can go wrong while writing.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The sink failed.
    #[error("could not write the catalog: {0}")]
    Io(#[from] io::Error),
    /// An entry cannot be written as valid EMBER XML.
    #[error("item {id:?} cannot be written: {reason}")]
    Invalid {
        /// The entry's id.
        id: String,
        /// Why, naming the field.
        reason: String,
    },
}

/// What a finished catalog holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Items written per kind, indexed like [`KindTag::ALL`].
    pub items: [u64; 4],
    /// Deletes written per kind, indexed like [`KindTag::ALL`].
    pub deletes: [u64; 4],
    /// Uncompressed XML bytes handed to the sink.
    pub xml_bytes: u64,
}

impl WriteSummary {
    /// Items of one kind.
    pub fn items_of(&self, kind: KindTag) -> u64 {
        self.items[kind as usize]
    }

    /// Deletes of one kind.
    pub fn deletes_of(&self, kind: KindTag) -> u64 {
        self.deletes[kind as usize]
    }

    /// All items written.
    pub fn total_items(&self) -> u64 {
        self.items.iter().sum()
    }

    /// All deletes written.
    pub fn total_deletes(&self) -> u64 {
        self.deletes.iter().sum()
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// Writes one EMBER catalog document.
#[derive(Debug)]
pub struct CatalogWriter<W: Write> {
    sink: W,
    buf: Vec<u8>,
    /// Deletes waiting for `finish`, by [`KindTag::delete_rank`].
    deletes: [Vec<(Delete, KindTag)>; 3],
    summary: WriteSummary,
}

impl<W: Write> CatalogWriter<W> {
    /// Starts a document: the XML declaration and the opening root tag.
    pub fn new(sink: W, header: &CatalogHeader) -> Result<CatalogWriter<W>, WriteError> {
        check_attr(&header.id, "catalog id", &header.id)?;
        if header.id.trim().is_empty() || header.version == 0 {
            return Err(WriteError::Invalid {
                id: header.id.clone(),
                reason: "the catalog needs a non-empty id and a version of at least 1".into(),
            });
        }
        let mut writer = CatalogWriter {
            sink,
            buf: Vec::with_capacity(FLUSH_AT + 8 * 1024),
            deletes: Default::default(),
            summary: WriteSummary::default(),
        };
        let buf = &mut writer.buf;
        buf.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ProgramCatalog id=\"");
        escape_attr(buf, &header.id);
        buf.extend_from_slice(b"\" version=\"");
        push_u64(buf, header.version);
        buf.extend_from_slice(b"\" action=\"");
        buf.extend_from_slice(header.action.as_str().as_bytes());
        buf.extend_from_slice(b"\">\n");
        Ok(writer)
    }

    /// Writes one item. Items are written in the order given.
    pub fn write_item(&mut self, item: &Item) -> Result<(), WriteError> {
        check_item_writable(item)?;
        write_item_xml(&mut self.buf, item);
        self.summary.items[item.kind.tag() as usize] += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Queues a delete of an item of `kind`. Deletes are written by
    /// [`finish`](Self::finish), children first, in the order queued within a kind.
    pub fn delete(&mut self, delete: Delete, kind: KindTag) -> Result<(), WriteError> {
        check_attr(&delete.id, "id", &delete.id)?;
        if delete.id.trim().is_empty() || delete.version == 0 {
            return Err(WriteError::Invalid {
                id: delete.id,
                reason: "a Delete needs a non-empty id and a version of at least 1".into(),
            });
        }
        self.deletes[kind.delete_rank()].push((delete, kind));
        Ok(())
    }

    /// Writes the queued deletes and the closing tag, flushes, and hands back the sink.
    pub fn finish(mut self) -> Result<(W, WriteSummary), WriteError> {
        let deletes = std::mem::take(&mut self.deletes);
        for (delete, kind) in deletes.into_iter().flatten() {
            self.buf.extend_from_slice(b"  <Delete id=\"");
            escape_attr(&mut self.buf, &delete.id);
            self.buf.extend_from_slice(b"\" version=\"");
            push_u64(&mut self.buf, delete.version);
            self.buf.extend_from_slice(b"\"/>\n");
            self.summary.deletes[kind as usize] += 1;
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        self.buf.extend_from_slice(b"</ProgramCatalog>\n");
        self.flush_buf()?;
        self.sink.flush()?;
        Ok((self.sink, self.summary))
    }

    /// What has been written so far (deletes count once `finish` writes them).
    pub fn summary(&self) -> &WriteSummary {
        &self.summary
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.sink.write_all(&self.buf)?;
        self.summary.xml_bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

fn check_attr(id: &str, field: &str, value: &str) -> Result<(), WriteError> {
    match first_non_xml_char(value) {
        Some(c) => Err(WriteError::Invalid {
            id: id.to_owned(),
            reason: format!("{field} holds U+{:04X}, which XML cannot carry", c as u32),
        }),
        None => Ok(()),
    }
}

fn check_item_writable(item: &Item) -> Result<(), WriteError> {
    if item.id.trim().is_empty() || item.version == 0 {
        return Err(WriteError::Invalid {
            id: item.id.clone(),
            reason: "an item needs a non-empty id and a version of at least 1".into(),
        });
    }
    let mut bad = None;
    let mut check = |field: &'static str, text: &str| {
        if bad.is_none() {
            bad = first_non_xml_char(text).map(|c| (field, c));
        }
    };
    crate::rules::for_each_text(item, &mut check);
    match bad {
        Some((field, c)) => Err(WriteError::Invalid {
            id: item.id.clone(),
            reason: format!("{field} holds U+{:04X}, which XML cannot carry", c as u32),
        }),
        None => Ok(()),
    }
}

fn write_item_xml(buf: &mut Vec<u8>, item: &Item) {
    let element = item.kind.tag().element();
    buf.extend_from_slice(b"  <");
    buf.extend_from_slice(element.as_bytes());
    buf.extend_from_slice(b" id=\"");
    escape_attr(buf, &item.id);
    buf.extend_from_slice(b"\" version=\"");
    push_u64(buf, item.version);
    buf.extend_from_slice(b"\">\n");

    match &item.kind {
        ItemKind::Movie | ItemKind::Series => {}
        ItemKind::Season {
            series_id,
            season_number,
        } => {
            text_element(buf, "SeriesId", series_id);
            number_element(buf, "SeasonNumber", u64::from(*season_number));
        }
        ItemKind::Episode {
            series_id,
            season_id,
            episode_number,
        } => {
            text_element(buf, "SeriesId", series_id);
            text_element(buf, "SeasonId", season_id);
            number_element(buf, "EpisodeNumber", u64::from(*episode_number));
        }
    }

    let meta = &item.meta;
    buf.extend_from_slice(b"    <Title locale=\"");
    escape_attr(buf, &meta.title.locale);
    buf.extend_from_slice(b"\">");
    escape_text(buf, &meta.title.text);
    buf.extend_from_slice(b"</Title>\n");
    if let Some(synopsis) = &meta.synopsis {
        text_element(buf, "Synopsis", synopsis);
    }
    if let Some(date) = &meta.release_date {
        text_element(buf, "ReleaseDate", date);
    }
    if let Some(minutes) = meta.runtime_minutes {
        number_element(buf, "RuntimeMinutes", u64::from(minutes));
    }
    if !meta.genres.is_empty() {
        buf.extend_from_slice(b"    <Genres>");
        for genre in &meta.genres {
            buf.extend_from_slice(b"<Genre>");
            escape_text(buf, genre);
            buf.extend_from_slice(b"</Genre>");
        }
        buf.extend_from_slice(b"</Genres>\n");
    }
    if let Some(rating) = &meta.rating {
        buf.extend_from_slice(b"    <Rating system=\"");
        escape_attr(buf, &rating.system);
        buf.extend_from_slice(b"\">");
        escape_text(buf, &rating.value);
        buf.extend_from_slice(b"</Rating>\n");
    }
    if !meta.credits.is_empty() {
        buf.extend_from_slice(b"    <Credits>");
        for credit in &meta.credits {
            buf.extend_from_slice(b"<Credit role=\"");
            escape_attr(buf, &credit.role);
            buf.extend_from_slice(b"\">");
            escape_text(buf, &credit.name);
            buf.extend_from_slice(b"</Credit>");
        }
        buf.extend_from_slice(b"</Credits>\n");
    }
    if !meta.images.is_empty() {
        buf.extend_from_slice(b"    <Images>");
        for image in &meta.images {
            buf.extend_from_slice(b"<Image type=\"");
            escape_attr(buf, &image.kind);
            buf.extend_from_slice(b"\" url=\"");
            escape_attr(buf, &image.url);
            buf.extend_from_slice(b"\"/>");
        }
        buf.extend_from_slice(b"</Images>\n");
    }
    if !meta.offers.is_empty() {
        buf.extend_from_slice(b"    <Offers>\n");
        for offer in &meta.offers {
            buf.extend_from_slice(b"      <Offer type=\"");
            buf.extend_from_slice(offer.kind.as_str().as_bytes());
            buf.extend_from_slice(b"\" region=\"");
            escape_attr(buf, &offer.region);
            buf.push(b'"');
            if let Some(start) = &offer.start {
                buf.extend_from_slice(b" start=\"");
                escape_attr(buf, start);
                buf.push(b'"');
            }
            if let Some(end) = &offer.end {
                buf.extend_from_slice(b" end=\"");
                escape_attr(buf, end);
                buf.push(b'"');
            }
            match &offer.price {
                Some(price) => {
                    buf.extend_from_slice(b"><Price currency=\"");
                    escape_attr(buf, &price.currency);
                    buf.extend_from_slice(b"\">");
                    escape_text(buf, &price.amount);
                    buf.extend_from_slice(b"</Price></Offer>\n");
                }
                None => buf.extend_from_slice(b"/>\n"),
            }
        }
        buf.extend_from_slice(b"    </Offers>\n");
    }
    if let Some(link) = &meta.deep_link {
        buf.extend_from_slice(b"    <LaunchDetails><DeepLink>");
        escape_text(buf, link);
        buf.extend_from_slice(b"</DeepLink></LaunchDetails>\n");
    }
    buf.extend_from_slice(b"  </");
    buf.extend_from_slice(element.as_bytes());
    buf.extend_from_slice(b">\n");
}

fn text_element(buf: &mut Vec<u8>, name: &str, text: &str) {
    buf.extend_from_slice(b"    <");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
    escape_text(buf, text);
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b">\n");
}

fn number_element(buf: &mut Vec<u8>, name: &str, value: u64) {
    buf.extend_from_slice(b"    <");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
    push_u64(buf, value);
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b">\n");
}

fn push_u64(buf: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// Escapes element text: `&`, `<`, `>` and carriage return (which a parser
/// would otherwise turn into a line feed).
pub fn escape_text(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, false);
}

/// Escapes an attribute value for double quotes: also `"`, tab and line
/// feed, which attribute-value normalisation would otherwise turn into spaces.
pub fn escape_attr(buf: &mut Vec<u8>, text: &str) {
    escape(buf, text, true);
}

fn escape(buf: &mut Vec<u8>, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if attribute => b"&quot;",
            b'\n' if attribute => b"&#10;",
            b'\t' if attribute => b"&#9;",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[copied..i]);
        buf.extend_from_slice(replacement);
        copied = i + 1;
    }
    buf.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, LocalizedText, Metadata};

    fn header() -> CatalogHeader {
        CatalogHeader {
            id: "CAT".into(),
            version: 7,
            action: Action::Upsert,
        }
    }

    fn movie(id: &str, title: &str) -> Item {
        Item {
            id: id.into(),
            version: 1,
            kind: ItemKind::Movie,
            meta: Metadata {
                title: LocalizedText {
                    locale: "en-US".into(),
                    text: title.into(),
                },
                ..Metadata::default()
            },
        }
    }

    #[test]
    fn writes_declaration_root_items_and_deletes_children_first() {
        let mut writer = CatalogWriter::new(Vec::new(), &header()).unwrap();
        writer
            .write_item(&movie("m1", "Fish & <Chips> \"r\"\r"))
            .unwrap();
        let del = |id: &str, version| Delete {
            id: id.into(),
            version,
        };
        writer.delete(del("series", 3), KindTag::Series).unwrap();
        writer.delete(del("season", 5), KindTag::Season).unwrap();
        writer.delete(del("episode", 10), KindTag::Episode).unwrap();
        let (bytes, summary) = writer.finish().unwrap();
        let xml = String::from_utf8(bytes).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ProgramCatalog id=\"CAT\" version=\"7\" action=\"upsert\">\n  \
             <Movie id=\"m1\" version=\"1\">\n    \
             <Title locale=\"en-US\">Fish &amp; &lt;Chips&gt; \"r\"&#13;</Title>\n  \
             </Movie>\n  \
             <Delete id=\"episode\" version=\"10\"/>\n  \
             <Delete id=\"season\" version=\"5\"/>\n  \
             <Delete id=\"series\" version=\"3\"/>\n\
             </ProgramCatalog>\n"
        );
        assert_eq!(summary.total_items(), 1);
        assert_eq!(summary.total_deletes(), 3);
        assert_eq!(summary.xml_bytes as usize, xml.len());
    }

    #[test]
    fn refuses_text_xml_cannot_carry() {
        let mut writer = CatalogWriter::new(Vec::new(), &header()).unwrap();
        let err = writer.write_item(&movie("m1", "bell\u{7}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "item \"m1\" cannot be written: Title holds U+0007, which XML cannot carry"
        );
    }

    #[test]
    fn attribute_escaping_keeps_whitespace() {
        let mut buf = Vec::new();
        escape_attr(&mut buf, "a\"b\tc\nd'e");
        assert_eq!(buf, b"a&quot;b&#9;c&#10;d'e");
    }
}
