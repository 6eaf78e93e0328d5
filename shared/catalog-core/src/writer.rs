//! The streaming EMBER writer: entries in one at a time, bytes out to any `Write`.
//!
//! [`CatalogWriter`] writes the XML declaration, `<DataCollections
//! schemaVersion="1.0.0">` and the `<ProgramCatalog id version>` when it is
//! made, and each program as it is given, its children in the order of the
//! schema table ([`crate::ember::schema`]). A program's offers belong in a
//! separate `<OfferCatalog>` after the program catalog, so they go to a
//! spill as the program is written: a second zstd stream in an anonymous
//! temporary file. On [`finish`](CatalogWriter::finish) the writer writes
//! the queued program deletes, children first (episodes, seasons, then
//! series and movies), closes the program catalog, copies the spilled
//! offers into `<OfferCatalog id version>` followed by the offer deletes,
//! and closes the root. It hands the sink back so its owner closes it: a
//! `zstd::Encoder` finishes its frame, a multipart upload completes.
//!
//! Memory is one output buffer, the spill's encoder and the queued deletes
//! (an id and a version each); items and offers are never held. All text
//! is escaped; text XML cannot carry (most control characters) is refused
//! with an error naming the item, never written and never dropped silently.
//! Source fields EMBER has no place for (prices, a deep link on a program
//! without offers) are counted in [`WriteSummary`] so the build reports
//! them as not sent.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};

use thiserror::Error;

use crate::ember::schema::{self, Inferred};
use crate::ember::{EmberOptions, Omit};
use crate::model::{
    CatalogHeader, Delete, Item, ItemKind, KindTag, LocalizedText, Offer, OfferKind,
    program_offers_id_parts,
};
use crate::reader::MAX_VERSION;
use crate::rules::first_non_xml_char;

/// What can go wrong while writing.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The sink failed.
    #[error("could not write the catalog: {0}")]
    Io(#[from] io::Error),
    /// The temporary file that holds the offers until the program catalog is closed failed.
    #[error(
        "could not spill offers to a temporary file in {dir}: {source} (fix: free space there or point TMPDIR at a writable directory)"
    )]
    Spill {
        /// The temporary directory.
        dir: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
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
    /// `<ProgramOffers>` written (one per program and tier).
    pub program_offers: u64,
    /// Offer `<Delete>`s written in the `OfferCatalog`.
    pub offer_deletes: u64,
    /// Offers whose price was not sent: EMBER has no documented place for a price.
    pub prices_not_sent: u64,
    /// Programs whose deep link was not sent: it travels in an offer, and they have none.
    pub deep_links_not_sent: u64,
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

    /// Adds another part's counts to these.
    pub fn add(&mut self, other: &WriteSummary) {
        for k in 0..4 {
            self.items[k] += other.items[k];
            self.deletes[k] += other.deletes[k];
        }
        self.program_offers += other.program_offers;
        self.offer_deletes += other.offer_deletes;
        self.prices_not_sent += other.prices_not_sent;
        self.deep_links_not_sent += other.deep_links_not_sent;
        self.xml_bytes += other.xml_bytes;
    }
}

const FLUSH_AT: usize = 64 * 1024;

type SpillEncoder = zstd::Encoder<'static, BufWriter<File>>;

/// Writes one EMBER catalog document.
pub struct CatalogWriter<W: Write> {
    sink: W,
    buf: Vec<u8>,
    header: CatalogHeader,
    omit: Omit,
    offer_catalog_id: String,
    /// Offers waiting for the `OfferCatalog`, zstd-compressed on disk.
    spill: Option<SpillEncoder>,
    /// Offers not yet handed to the spill (up to 64 KiB).
    spill_buf: Vec<u8>,
    /// Deletes waiting for `finish`, by [`KindTag::delete_rank`].
    deletes: [Vec<(Delete, KindTag)>; 3],
    offer_deletes: Vec<Delete>,
    summary: WriteSummary,
}

impl<W: Write> std::fmt::Debug for CatalogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogWriter")
            .field("header", &self.header)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<W: Write> CatalogWriter<W> {
    /// Starts a document with the default options (everything sent).
    pub fn new(sink: W, header: &CatalogHeader) -> Result<CatalogWriter<W>, WriteError> {
        CatalogWriter::with_options(sink, header, &EmberOptions::default())
    }

    /// Starts a document: the XML declaration, the root and the opening
    /// `<ProgramCatalog>`.
    pub fn with_options(
        sink: W,
        header: &CatalogHeader,
        options: &EmberOptions,
    ) -> Result<CatalogWriter<W>, WriteError> {
        check_attr(&header.id, "catalog id", &header.id)?;
        let offer_catalog_id = options.offer_catalog_id(&header.id);
        check_attr(&header.id, "offer catalog id", &offer_catalog_id)?;
        let xml_space = [' ', '\t', '\n', '\r'];
        if header.id.is_empty()
            || header.id.contains(xml_space)
            || offer_catalog_id.contains(xml_space)
            || offer_catalog_id.is_empty()
            || header.version == 0
            || header.version > MAX_VERSION
        {
            return Err(WriteError::Invalid {
                id: header.id.clone(),
                reason: "the catalog needs an id without spaces (the offer catalog id too) and a version of at least 1".into(),
            });
        }
        let mut writer = CatalogWriter {
            sink,
            buf: Vec::with_capacity(FLUSH_AT + 8 * 1024),
            header: header.clone(),
            omit: options.omit,
            offer_catalog_id,
            spill: None,
            spill_buf: Vec::new(),
            deletes: Default::default(),
            offer_deletes: Vec::new(),
            summary: WriteSummary::default(),
        };
        let buf = &mut writer.buf;
        buf.extend_from_slice(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DataCollections schemaVersion=\"",
        );
        buf.extend_from_slice(schema::SCHEMA_VERSION.as_bytes());
        buf.extend_from_slice(b"\">\n  <ProgramCatalog id=\"");
        escape_attr(buf, &header.id);
        buf.extend_from_slice(b"\" version=\"");
        push_u64(buf, header.version);
        buf.push(b'"');
        // upsert is the default; only replace is written.
        if header.action != crate::model::Action::Upsert {
            buf.extend_from_slice(b" action=\"");
            buf.extend_from_slice(header.action.as_str().as_bytes());
            buf.push(b'"');
        }
        buf.extend_from_slice(b">\n");
        Ok(writer)
    }

    /// Writes one item, and spills its offers. Items are written in the order given.
    pub fn write_item(&mut self, item: &Item) -> Result<(), WriteError> {
        check_item_writable(item)?;
        write_item_xml(&mut self.buf, item, self.omit);
        self.summary.items[item.kind.tag() as usize] += 1;
        let meta = &item.meta;
        self.summary.prices_not_sent +=
            meta.offers.iter().filter(|o| o.price.is_some()).count() as u64;
        if meta.offers.is_empty() {
            if meta.deep_link.is_some() {
                self.summary.deep_links_not_sent += 1;
            }
        } else {
            let written = write_offers_xml(&mut self.spill_buf, item, &self.header.id, self.omit);
            self.summary.program_offers += written;
            // In 64 KiB writes: each write to zstd's worker takes its locks.
            if self.spill_buf.len() >= FLUSH_AT {
                self.spill_offers()?;
            }
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn spill_offers(&mut self) -> Result<(), WriteError> {
        let spill_error = |source| WriteError::Spill {
            dir: std::env::temp_dir().display().to_string(),
            source,
        };
        if self.spill.is_none() {
            let file = tempfile::tempfile().map_err(spill_error)?;
            let jobs = has_second_core().then_some(SPILL_JOB_BYTES);
            let encoder =
                zstd_encoder(BufWriter::new(file), SPILL_LEVEL, jobs).map_err(spill_error)?;
            self.spill = Some(encoder);
        }
        if let Some(spill) = &mut self.spill {
            spill.write_all(&self.spill_buf).map_err(spill_error)?;
        }
        self.spill_buf.clear();
        Ok(())
    }

    /// Queues a delete of an item of `kind`. Deletes are written by
    /// [`finish`](Self::finish), children first, in the order queued within a kind.
    pub fn delete(&mut self, delete: Delete, kind: KindTag) -> Result<(), WriteError> {
        check_delete(&delete)?;
        self.deletes[kind.delete_rank()].push((delete, kind));
        Ok(())
    }

    /// Queues a delete of a `<ProgramOffers>` (by its id,
    /// [`program_offers_id`](crate::model::program_offers_id)), written in the `OfferCatalog` by `finish`.
    pub fn delete_offers(&mut self, delete: Delete) -> Result<(), WriteError> {
        check_delete(&delete)?;
        self.offer_deletes.push(delete);
        Ok(())
    }

    /// Writes the queued deletes, the offer catalog and the closing tags,
    /// flushes, and hands back the sink.
    pub fn finish(mut self) -> Result<(W, WriteSummary), WriteError> {
        if !self.spill_buf.is_empty() {
            self.spill_offers()?;
        }
        let deletes = std::mem::take(&mut self.deletes);
        for (delete, kind) in deletes.into_iter().flatten() {
            write_delete(&mut self.buf, &delete);
            self.summary.deletes[kind as usize] += 1;
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        self.buf.extend_from_slice(b"  </ProgramCatalog>\n");
        if self.spill.is_some() || !self.offer_deletes.is_empty() {
            self.buf.extend_from_slice(b"  <OfferCatalog id=\"");
            escape_attr(&mut self.buf, &self.offer_catalog_id);
            self.buf.extend_from_slice(b"\" version=\"");
            push_u64(&mut self.buf, self.header.version);
            self.buf.extend_from_slice(b"\">\n");
            self.flush_buf()?;
            self.copy_spill()?;
            for delete in std::mem::take(&mut self.offer_deletes) {
                write_delete(&mut self.buf, &delete);
                self.summary.offer_deletes += 1;
                if self.buf.len() >= FLUSH_AT {
                    self.flush_buf()?;
                }
            }
            self.buf.extend_from_slice(b"  </OfferCatalog>\n");
        }
        self.buf.extend_from_slice(b"</DataCollections>\n");
        self.flush_buf()?;
        self.sink.flush()?;
        Ok((self.sink, self.summary))
    }

    /// Copies the spilled offers into the sink, decompressing as it goes.
    fn copy_spill(&mut self) -> Result<(), WriteError> {
        let Some(spill) = self.spill.take() else {
            return Ok(());
        };
        let spill_error = |source| WriteError::Spill {
            dir: std::env::temp_dir().display().to_string(),
            source,
        };
        let mut file = spill
            .finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(spill_error)?;
        file.rewind().map_err(spill_error)?;
        let mut decoder = zstd::Decoder::new(file).map_err(spill_error)?;
        let mut chunk = vec![0u8; FLUSH_AT];
        loop {
            let n = decoder.read(&mut chunk).map_err(spill_error)?;
            if n == 0 {
                break;
            }
            self.sink.write_all(&chunk[..n])?;
            self.summary.xml_bytes += n as u64;
        }
        Ok(())
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

/// The spill's zstd level, one of zstd's fast levels: offers repeat so much
/// that level -1 still shrinks them about 24 times (level 1: 28), for a
/// third less CPU than level 1 to write and read back (0.22 s against
/// 0.32 s for 200k items' 137 MB of offers). It is compressed on a second
/// core when there is one, and read back by `finish` on the writer's
/// thread. At 5 million items a file, the spill is about 150 MB of
/// Lambda's `/tmp`.
const SPILL_LEVEL: i32 = -1;

/// The spill's jobs, when a second core compresses it.
const SPILL_JOB_BYTES: u32 = 512 << 10;

/// Bytes zstd's worker thread compresses as one job (zstd's default at
/// level 3 is 8 MiB, and it keeps about three jobs' worth of buffers: ~30 MB
/// of a build's peak). Smaller jobs cost the worker a table fill each: at
/// 2 MiB that is a few percent of its time, and the file is the same size
/// within 0.3%.
pub const ZSTD_JOB_BYTES: u32 = 2 << 20;

/// Whether compression can run on a core of its own: the catalog's encoder
/// and the offer spill then use a zstd worker.
pub fn has_second_core() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) > 1
}

/// The zstd encoder a catalog is written through: `level`, and with
/// `worker` the compression on a second thread (it overlaps writing the
/// XML), in jobs of [`ZSTD_JOB_BYTES`] so its buffers stay small.
pub fn catalog_encoder<W: Write>(
    sink: W,
    level: i32,
    worker: bool,
) -> io::Result<zstd::Encoder<'static, W>> {
    zstd_encoder(sink, level, worker.then_some(ZSTD_JOB_BYTES))
}

/// A zstd encoder at `level`; with `jobs`, compressing on a worker thread
/// in jobs of that many bytes.
fn zstd_encoder<W: Write>(
    sink: W,
    level: i32,
    jobs: Option<u32>,
) -> io::Result<zstd::Encoder<'static, W>> {
    let mut encoder = zstd::Encoder::new(sink, level)?;
    if let Some(bytes) = jobs {
        encoder.multithread(1)?;
        encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(bytes))?;
    }
    Ok(encoder)
}

fn check_delete(delete: &Delete) -> Result<(), WriteError> {
    check_attr(&delete.id, "id", &delete.id)?;
    if delete.id.trim().is_empty() || delete.version == 0 || delete.version > MAX_VERSION {
        return Err(WriteError::Invalid {
            id: delete.id.clone(),
            reason: "a Delete needs a non-empty id and a version from 1 to 9223372036854775807 (EMBER's long)".into(),
        });
    }
    Ok(())
}

fn write_delete(buf: &mut Vec<u8>, delete: &Delete) {
    buf.extend_from_slice(b"    <Delete id=\"");
    escape_attr(buf, &delete.id);
    buf.extend_from_slice(b"\" version=\"");
    push_u64(buf, delete.version);
    buf.extend_from_slice(b"\"/>\n");
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
    if item.id.trim().is_empty() || item.version == 0 || item.version > MAX_VERSION {
        return Err(WriteError::Invalid {
            id: item.id.clone(),
            reason: "an item needs a non-empty id and a version from 1 to 9223372036854775807 (EMBER's long)".into(),
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

/// Writes one program, its children in the schema table's order.
fn write_item_xml(buf: &mut Vec<u8>, item: &Item, omit: Omit) {
    let element = item.kind.tag().element();
    let meta = &item.meta;
    buf.extend_from_slice(b"    <");
    buf.extend_from_slice(element.as_bytes());
    buf.extend_from_slice(b" id=\"");
    escape_attr(buf, &item.id);
    buf.extend_from_slice(b"\" version=\"");
    push_u64(buf, item.version);
    buf.extend_from_slice(b"\">\n");
    let language = &meta.title.locale;
    for child in schema::PROGRAM_CHILDREN {
        if let schema::Evidence::Inferred { switch, .. } = child.evidence
            && omit.omits(switch)
        {
            continue;
        }
        match child.wrapper {
            "ExternalIds" if !meta.external_ids.is_empty() => {
                buf.extend_from_slice(b"      <ExternalIds>");
                for external in &meta.external_ids {
                    leaf_with(
                        buf,
                        "ExternalId",
                        ("scheme", &external.scheme),
                        &external.id,
                    );
                }
                buf.extend_from_slice(b"</ExternalIds>\n");
            }
            "Titles" => {
                buf.extend_from_slice(b"      <Titles>");
                localized(buf, "Title", language, "", true, &meta.title.text);
                for title in &meta.other_titles {
                    localized(
                        buf,
                        "Title",
                        &title.locale,
                        &title.territories,
                        false,
                        &title.text,
                    );
                }
                buf.extend_from_slice(b"</Titles>\n");
            }
            "Descriptions" => localized_list(
                buf,
                ("Descriptions", "Description"),
                language,
                meta.description.as_deref(),
                &meta.other_descriptions,
            ),
            "Synopses" => localized_list(
                buf,
                ("Synopses", "Synopsis"),
                language,
                meta.synopsis.as_deref(),
                &meta.other_synopses,
            ),
            "Images" if !meta.images.is_empty() => {
                buf.extend_from_slice(b"      <Images>");
                for image in &meta.images {
                    buf.extend_from_slice(b"<Image category=\"");
                    escape_attr(buf, &image.kind);
                    buf.push(b'"');
                    for (name, value) in [
                        (&b" aspectRatio=\""[..], &image.aspect_ratio),
                        (b" mimeType=\"", &image.mime_type),
                        (b" resolution=\"", &image.resolution),
                    ] {
                        if let Some(value) = value {
                            buf.extend_from_slice(name);
                            escape_attr(buf, value);
                            buf.push(b'"');
                        }
                    }
                    buf.push(b'>');
                    escape_text(buf, &image.url);
                    buf.extend_from_slice(b"</Image>");
                }
                buf.extend_from_slice(b"</Images>\n");
            }
            "Genres" => leaf_list(buf, ("Genres", "Genre"), &meta.genres),
            "Keywords" => leaf_list(buf, ("Keywords", "Keyword"), &meta.keywords),
            "Ratings" => {
                if let Some(rating) = &meta.rating {
                    buf.extend_from_slice(b"      <Ratings>");
                    leaf_with(buf, "Rating", ("system", &rating.system), &rating.value);
                    buf.extend_from_slice(b"</Ratings>\n");
                }
            }
            "Studios" => leaf_list(buf, ("Studios", "Studio"), &meta.studios),
            "Credits" if !meta.credits.is_empty() => {
                buf.extend_from_slice(b"      <Credits>");
                for credit in &meta.credits {
                    leaf_with(buf, "Credit", ("role", &credit.role), &credit.name);
                }
                buf.extend_from_slice(b"</Credits>\n");
            }
            "RunLengths" => {
                if let Some(minutes) = meta.runtime_minutes {
                    buf.extend_from_slice(b"      <RunLengths><RunLength>PT");
                    push_u64(buf, u64::from(minutes));
                    buf.extend_from_slice(b"M</RunLength></RunLengths>\n");
                }
            }
            "ReleaseDates" if !meta.release_dates.is_empty() => {
                buf.extend_from_slice(b"      <ReleaseDates>");
                for release in &meta.release_dates {
                    buf.extend_from_slice(b"<ReleaseDate");
                    if let Some(kind) = &release.release_type {
                        buf.extend_from_slice(b" releaseType=\"");
                        escape_attr(buf, kind);
                        buf.push(b'"');
                    }
                    buf.push(b'>');
                    escape_text(buf, &release.date);
                    buf.extend_from_slice(b"</ReleaseDate>");
                }
                buf.extend_from_slice(b"</ReleaseDates>\n");
            }
            "Relationships" => match &item.kind {
                ItemKind::Movie | ItemKind::Series => {}
                ItemKind::Season {
                    series_id,
                    season_number,
                } => {
                    buf.extend_from_slice(b"      <Relationships>");
                    relationship(
                        buf,
                        schema::RELATION_SERIES,
                        series_id,
                        Some(*season_number),
                    );
                    buf.extend_from_slice(b"</Relationships>\n");
                }
                ItemKind::Episode {
                    series_id,
                    season_id,
                    episode_number,
                } => {
                    buf.extend_from_slice(b"      <Relationships>");
                    relationship(
                        buf,
                        schema::RELATION_SEASON,
                        season_id,
                        Some(*episode_number),
                    );
                    relationship(buf, schema::RELATION_SERIES, series_id, None);
                    buf.extend_from_slice(b"</Relationships>\n");
                }
            },
            // The model holds nothing for the other children yet.
            _ => {}
        }
    }
    buf.extend_from_slice(b"    </");
    buf.extend_from_slice(element.as_bytes());
    buf.extend_from_slice(b">\n");
}

/// One `<Title>`, `<Description>` or `<Synopsis>`: `language`, then
/// `territories` when given, then `default="true"` on the default one.
fn localized(
    buf: &mut Vec<u8>,
    name: &str,
    language: &str,
    territories: &str,
    default: bool,
    text: &str,
) {
    buf.push(b'<');
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b" language=\"");
    escape_attr(buf, language);
    buf.push(b'"');
    if !territories.is_empty() {
        buf.extend_from_slice(b" territories=\"");
        escape_attr(buf, territories);
        buf.push(b'"');
    }
    if default {
        buf.extend_from_slice(b" default=\"true\"");
    }
    buf.push(b'>');
    escape_text(buf, text);
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
}

/// `<Descriptions>` or `<Synopses>`: the default one in the title's
/// language, then the others; nothing when there is none.
fn localized_list(
    buf: &mut Vec<u8>,
    (list, member): (&str, &str),
    language: &str,
    default: Option<&str>,
    others: &[LocalizedText],
) {
    if default.is_none() && others.is_empty() {
        return;
    }
    buf.extend_from_slice(b"      <");
    buf.extend_from_slice(list.as_bytes());
    buf.push(b'>');
    if let Some(text) = default {
        localized(buf, member, language, "", true, text);
    }
    for other in others {
        localized(buf, member, &other.locale, "", false, &other.text);
    }
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(list.as_bytes());
    buf.extend_from_slice(b">\n");
}

fn leaf(buf: &mut Vec<u8>, name: &str, text: &str) {
    buf.push(b'<');
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
    escape_text(buf, text);
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
}

/// `<name attr="value">text</name>`.
fn leaf_with(buf: &mut Vec<u8>, name: &str, (attr, value): (&str, &str), text: &str) {
    buf.push(b'<');
    buf.extend_from_slice(name.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(attr.as_bytes());
    buf.extend_from_slice(b"=\"");
    escape_attr(buf, value);
    buf.extend_from_slice(b"\">");
    escape_text(buf, text);
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
}

/// A wrapped list of text leaves on one line (`<Genres><Genre>…`), or
/// nothing when `texts` is empty.
fn leaf_list(buf: &mut Vec<u8>, (wrapper, item): (&str, &str), texts: &[String]) {
    if texts.is_empty() {
        return;
    }
    buf.extend_from_slice(b"      <");
    buf.extend_from_slice(wrapper.as_bytes());
    buf.push(b'>');
    for text in texts {
        leaf(buf, item, text);
    }
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(wrapper.as_bytes());
    buf.extend_from_slice(b">\n");
}

fn relationship(buf: &mut Vec<u8>, kind: &str, target: &str, sequence: Option<u32>) {
    buf.extend_from_slice(b"<Relationship type=\"");
    buf.extend_from_slice(kind.as_bytes());
    buf.extend_from_slice(b"\" programRef=\"");
    escape_attr(buf, target);
    buf.push(b'"');
    if let Some(sequence) = sequence {
        buf.extend_from_slice(b" sequence=\"");
        push_u64(buf, u64::from(sequence));
        buf.push(b'"');
    }
    buf.extend_from_slice(b"/>");
}

/// Writes one `<ProgramOffers>` per tier the item has offers in; returns how many.
fn write_offers_xml(buf: &mut Vec<u8>, item: &Item, catalog_id: &str, omit: Omit) -> u64 {
    let mut written = 0;
    for tier in OfferKind::ALL {
        let mut offers = item
            .meta
            .offers
            .iter()
            .filter(|o| o.kind == tier)
            .peekable();
        if offers.peek().is_none() {
            continue;
        }
        written += 1;
        buf.extend_from_slice(b"    <ProgramOffers id=\"");
        let [program, infix, tier_word] = program_offers_id_parts(&item.id, tier);
        escape_attr(buf, program);
        buf.extend_from_slice(infix.as_bytes());
        buf.extend_from_slice(tier_word.as_bytes());
        buf.extend_from_slice(b"\" version=\"");
        push_u64(buf, item.version);
        buf.extend_from_slice(b"\" programRef=\"");
        escape_attr(buf, &item.id);
        buf.extend_from_slice(b"\" programCatalogRef=\"");
        escape_attr(buf, catalog_id);
        buf.extend_from_slice(b"\">\n");
        for offer in offers {
            write_offer(buf, offer, item.meta.deep_link.as_deref(), omit);
        }
        buf.extend_from_slice(b"    </ProgramOffers>\n");
    }
    written
}

fn write_offer(buf: &mut Vec<u8>, offer: &Offer, deep_link: Option<&str>, omit: Omit) {
    buf.extend_from_slice(b"      <ProgramOffer");
    if omit.sends(Inferred::OfferWindow) {
        if let Some(start) = &offer.start {
            buf.extend_from_slice(b" startTime=\"");
            escape_attr(buf, start);
            buf.push(b'"');
        }
        if let Some(end) = &offer.end {
            buf.extend_from_slice(b" endTime=\"");
            escape_attr(buf, end);
            buf.push(b'"');
        }
    }
    buf.push(b'>');
    for child in schema::OFFER_CHILDREN {
        if let schema::Evidence::Inferred { switch, .. } = child.evidence
            && omit.omits(switch)
        {
            continue;
        }
        match child.wrapper {
            "Entitlements" => {
                buf.extend_from_slice(b"<Entitlements><Entitlement type=\"");
                buf.extend_from_slice(offer.kind.as_str().as_bytes());
                buf.extend_from_slice(b"\"/></Entitlements>");
            }
            "GeoRestrictions" if !offer.region.is_empty() => {
                buf.extend_from_slice(
                    b"<GeoRestrictions><Region filter=\"allow_all\" territories=\"",
                );
                escape_attr(buf, &offer.region);
                buf.extend_from_slice(b"\"/></GeoRestrictions>");
            }
            "LaunchTargets" => {
                if let Some(link) = deep_link {
                    buf.extend_from_slice(b"<LaunchTargets>");
                    leaf(buf, "LaunchTarget", link);
                    buf.extend_from_slice(b"</LaunchTargets>");
                }
            }
            _ => {}
        }
    }
    buf.extend_from_slice(b"</ProgramOffer>\n");
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
    let mut at = 0;
    while at < bytes.len() {
        // Most text needs no escape: the bytes are looked at eight at a
        // time, and a word's lowest flagged byte is always a candidate.
        let candidate = match bytes.get(at..at + 8) {
            Some(word) => {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(word);
                let found = candidates(u64::from_le_bytes(eight), attribute);
                if found == 0 {
                    at += 8;
                    continue;
                }
                at + (found.trailing_zeros() / 8) as usize
            }
            None => at,
        };
        at = candidate + 1;
        let replacement: &[u8] = match bytes[candidate] {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'"' if attribute => b"&quot;",
            b'\n' if attribute => b"&#10;",
            b'\t' if attribute => b"&#9;",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[copied..candidate]);
        buf.extend_from_slice(replacement);
        copied = at;
    }
    buf.extend_from_slice(&bytes[copied..]);
}

/// The bytes of `word` that may need an escape, each flagged by its top
/// bit: a byte below 0x20 (tab, line feed and carriage return are the only
/// ones text can hold), `&`, `<`, `>`, and for attributes `"`. The lowest
/// flag is exact; flags above it may be false, which only costs a closer
/// look.
fn candidates(word: u64, attribute: bool) -> u64 {
    use crate::words::{below, equal};
    let mut found = below(word, 0x20) | equal(word, b'&') | equal(word, b'<') | equal(word, b'>');
    if attribute {
        found |= equal(word, b'"');
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, LocalizedText, Metadata, program_offers_id};

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
             <DataCollections schemaVersion=\"1.0.0\">\n  \
             <ProgramCatalog id=\"CAT\" version=\"7\">\n    \
             <Movie id=\"m1\" version=\"1\">\n      \
             <Titles><Title language=\"en-US\" default=\"true\">Fish &amp; &lt;Chips&gt; \"r\"&#13;</Title></Titles>\n    \
             </Movie>\n    \
             <Delete id=\"episode\" version=\"10\"/>\n    \
             <Delete id=\"season\" version=\"5\"/>\n    \
             <Delete id=\"series\" version=\"3\"/>\n  \
             </ProgramCatalog>\n\
             </DataCollections>\n"
        );
        assert_eq!(summary.total_items(), 1);
        assert_eq!(summary.total_deletes(), 3);
        assert_eq!(summary.xml_bytes as usize, xml.len());
    }

    #[test]
    fn offers_go_to_the_offer_catalog_after_the_programs_one_per_tier() {
        use crate::model::{Offer, OfferKind, Price};
        let offer = |kind, region: &str, price: Option<&str>| Offer {
            kind,
            region: region.into(),
            start: None,
            end: None,
            price: price.map(|amount| Price {
                amount: amount.into(),
                currency: "USD".into(),
            }),
        };
        let mut m1 = movie("m1", "One");
        m1.meta.offers = vec![
            offer(OfferKind::Rental, "US", Some("3.99")),
            offer(OfferKind::Free, "US", None),
            offer(OfferKind::Free, "CA", None),
        ];
        m1.meta.deep_link = Some("app://m1".into());
        let mut m2 = movie("m2", "Two");
        m2.meta.deep_link = Some("app://m2".into());
        let options = EmberOptions {
            omit: Omit::NONE.with(Inferred::GeoRestrictions),
            offer_catalog_id: None,
        };
        let mut writer = CatalogWriter::with_options(Vec::new(), &header(), &options).unwrap();
        writer.write_item(&m1).unwrap();
        writer.write_item(&m2).unwrap();
        writer
            .delete_offers(Delete {
                id: program_offers_id("gone", OfferKind::Free),
                version: 4,
            })
            .unwrap();
        let (bytes, summary) = writer.finish().unwrap();
        let xml = String::from_utf8(bytes).unwrap();
        let offers = &xml[xml.find("</ProgramCatalog>").unwrap()..];
        assert_eq!(
            offers,
            "</ProgramCatalog>\n  \
             <OfferCatalog id=\"CAT-offers\" version=\"7\">\n    \
             <ProgramOffers id=\"m1.offers.free\" version=\"1\" programRef=\"m1\" programCatalogRef=\"CAT\">\n      \
             <ProgramOffer><Entitlements><Entitlement type=\"free\"/></Entitlements><LaunchTargets><LaunchTarget>app://m1</LaunchTarget></LaunchTargets></ProgramOffer>\n      \
             <ProgramOffer><Entitlements><Entitlement type=\"free\"/></Entitlements><LaunchTargets><LaunchTarget>app://m1</LaunchTarget></LaunchTargets></ProgramOffer>\n    \
             </ProgramOffers>\n    \
             <ProgramOffers id=\"m1.offers.rental\" version=\"1\" programRef=\"m1\" programCatalogRef=\"CAT\">\n      \
             <ProgramOffer><Entitlements><Entitlement type=\"rental\"/></Entitlements><LaunchTargets><LaunchTarget>app://m1</LaunchTarget></LaunchTargets></ProgramOffer>\n    \
             </ProgramOffers>\n    \
             <Delete id=\"gone.offers.free\" version=\"4\"/>\n  \
             </OfferCatalog>\n\
             </DataCollections>\n"
        );
        assert_eq!(summary.program_offers, 2);
        assert_eq!(summary.offer_deletes, 1);
        assert_eq!(summary.prices_not_sent, 1);
        assert_eq!(summary.deep_links_not_sent, 1);
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
        let mut offered = movie("m2", "fine");
        offered.meta.offers.push(Offer {
            kind: OfferKind::Free,
            region: "US\u{fffe}".into(),
            start: None,
            end: None,
            price: None,
        });
        let err = writer.write_item(&offered).unwrap_err();
        assert!(err.to_string().contains("U+FFFE"), "{err}");
        // Nothing of a refused item is written.
        writer.write_item(&movie("m3", "good")).unwrap();
        let (xml, summary) = writer.finish().unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert_eq!(summary.total_items(), 1);
        assert!(
            !xml.contains("m1") && !xml.contains("m2") && xml.contains("m3"),
            "{xml}"
        );
    }

    #[test]
    fn the_word_at_a_time_escape_matches_a_byte_at_a_time_one() {
        fn naive(text: &str, attribute: bool) -> String {
            text.chars()
                .map(|c| match c {
                    '&' => "&amp;".to_owned(),
                    '<' => "&lt;".to_owned(),
                    '>' => "&gt;".to_owned(),
                    '\r' => "&#13;".to_owned(),
                    '"' if attribute => "&quot;".to_owned(),
                    '\n' if attribute => "&#10;".to_owned(),
                    '\t' if attribute => "&#9;".to_owned(),
                    c => c.to_string(),
                })
                .collect()
        }
        let specials = [
            '&', '<', '>', '\r', '"', '\n', '\t', 'é', '東', '🎬', '\'', 'x',
        ];
        // Texts dense with specials: several in one word, side by side.
        let mut random = crate::synthetic::SplitMix64::new(5);
        for _ in 0..5000 {
            let len = random.below(40);
            let text: String = (0..len)
                .map(|_| specials[random.below(specials.len() as u64) as usize])
                .collect();
            for attribute in [false, true] {
                let mut out = Vec::new();
                escape(&mut out, &text, attribute);
                assert_eq!(String::from_utf8(out).unwrap(), naive(&text, attribute));
            }
        }
        for len in 0..20 {
            for at in 0..len {
                for special in specials {
                    let text: String = (0..len)
                        .map(|i| {
                            if i == at || i == len - 1 - at {
                                special
                            } else {
                                'a'
                            }
                        })
                        .collect();
                    for attribute in [false, true] {
                        let mut out = Vec::new();
                        escape(&mut out, &text, attribute);
                        assert_eq!(String::from_utf8(out).unwrap(), naive(&text, attribute));
                    }
                }
            }
        }
    }

    #[test]
    fn attribute_escaping_keeps_whitespace() {
        let mut buf = Vec::new();
        escape_attr(&mut buf, "a\"b\tc\nd'e");
        assert_eq!(buf, b"a&quot;b&#9;c&#10;d'e");
    }
}
