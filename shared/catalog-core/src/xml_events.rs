//! XML events read on other threads.
//!
//! Decompressing and tokenizing XML cost about as much as checking what it
//! says, so [`EventStream`] decodes zstd or gzip, if any, and tokenizes on a
//! worker thread (see [`threaded`](crate::threaded)), while the reader
//! checks events on its own thread: two threads for the two cores of a
//! Lambda of this size. The raw input is still read on the reader's thread.
//! One more thread for decoding alone was measured slower: three threads
//! shared the two cores, and the decoded bytes crossed from one to the other.
//!
//! Each batch carries what one scan of its text found ([`Scanned`]), so the
//! reader skips end-of-line normalization and the character check of each
//! text where the scan proved them moot.
//!
//! The worker's [`Tokenizer`] reads tags, text and references straight from
//! chunks of the decoded input, each checked as UTF-8 once, and sends each
//! chunk with a record per event (kind, where its text is, the position the
//! input had reached after it); the reader rebuilds the same quick-xml
//! `Event` from that, borrowing the chunk, so no event's text is copied. It
//! gives each comment, CDATA section, declaration, processing instruction
//! and DOCTYPE to a quick-xml reader over the chunk, and the whole rest of
//! the document, at the first thing that is not simple (an error of any
//! kind, bytes that are not UTF-8, a bound reached), to quick-xml's stream
//! reader (with the size bounds and line counting of [`Counted`]), which
//! reads it as the worker did before the tokenizer and says what is wrong in
//! the same words at the same place. Both check end tags against the open
//! elements with [`Opened`], as quick-xml would. The tests hold the
//! tokenizer, with chunks of every small size, to quick-xml's stream reader
//! event for event on odd and damaged documents. An error ends the batch
//! with the error itself and where it is, so the reader classifies and
//! places it as before.
//!
//! The channels are bounded, so the worker runs at most a few batches
//! ahead, whatever the document's size; dropping the stream stops and joins
//! it.

use std::io::{self, BufRead, BufReader, Read};
use std::mem;

use quick_xml::events::{
    BytesCData, BytesDecl, BytesEnd, BytesPI, BytesRef, BytesStart, BytesText, Event,
};
use quick_xml::utils::is_whitespace;

use crate::words;

use crate::finding::Position;
use crate::input::{Compression, LimitExceeded, Limits, READ_BUFFER};
use crate::rules;
use crate::threaded::{Codec, Feeder, FromWorker, Plumbing, Worker, plumbing};

/// A batch is sent once its text reaches this size…
const BATCH_TEXT: usize = 128 * 1024;
/// …or it holds this many events.
const BATCH_EVENTS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    Empty,
    End,
    Text,
    CData,
    Comment,
    Decl,
    PI,
    DocType,
    GeneralRef,
    Eof,
}

/// One event: its text is `batch.text[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Record {
    kind: Kind,
    name_len: usize,
    start: usize,
    end: usize,
    /// Where the input was after this event.
    after: Position,
}

/// What the parser reported instead of an event.
#[derive(Debug)]
pub(crate) struct XmlFailure {
    /// The error.
    pub(crate) error: quick_xml::Error,
    /// quick-xml's `error_position()`.
    pub(crate) at: u64,
    /// Where the input was when the error was returned.
    pub(crate) after: Position,
}

/// Events in order, with their text in one string.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    records: Vec<Record>,
    /// The error that ended the events, after the records.
    failure: Option<Box<XmlFailure>>,
    /// What is known of all of `text` (nothing, unless it is a chunk of
    /// the tokenizer).
    scanned: Scanned,
    /// `text` is a tokenizer's chunk, which may be scanned.
    chunk: bool,
}

/// What scans of a batch's whole text found, so that the reader can skip
/// work on each piece of it. Both are false unless the text was scanned
/// (quick-xml's stream reader's batches are not).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scanned {
    /// No carriage return: the texts need no end-of-line normalization
    /// (scanned by the tokenizer).
    pub(crate) no_cr: bool,
    /// No character XML cannot carry ([`rules::may_hold_non_xml_char`]
    /// found no candidate), so no text cut from it holds one (scanned by
    /// the tokenizer when it has time to spare, else by the reader's thread
    /// when it asks: [`EventStream::scan_characters`]).
    pub(crate) xml_chars: bool,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.records.clear();
        self.failure = None;
        self.scanned = Scanned::default();
        self.chunk = false;
    }

    /// Scans a chunk's text for characters XML cannot carry, unless a scan
    /// already found none (a chunk that holds one may be scanned twice:
    /// only hostile input does).
    fn scan_characters(&mut self) {
        if self.chunk && !self.scanned.xml_chars {
            self.scanned.xml_chars = !rules::may_hold_non_xml_char(&self.text);
        }
    }

    fn is_full(&self) -> bool {
        self.text.len() >= BATCH_TEXT || self.records.len() >= BATCH_EVENTS
    }

    fn push(&mut self, event: &Event<'_>, after: Position) {
        let (kind, text, name_len) = parts(event);
        let start = self.text.len();
        self.text.push_str(text);
        self.records.push(Record {
            kind,
            name_len,
            start,
            end: self.text.len(),
            after,
        });
    }
}

/// An event's kind, text and name length, as a [`Record`] keeps them.
fn parts<'e>(event: &'e Event<'_>) -> (Kind, &'e str, usize) {
    match event {
        Event::Start(e) => (Kind::Start, e, e.name().0.len()),
        Event::Empty(e) => (Kind::Empty, e, e.name().0.len()),
        Event::End(e) => (Kind::End, e, 0),
        Event::Text(e) => (Kind::Text, e, 0),
        Event::CData(e) => (Kind::CData, e, 0),
        Event::Comment(e) => (Kind::Comment, e, 0),
        Event::Decl(e) => (Kind::Decl, e, DECL_NAME_LEN),
        Event::PI(e) => (Kind::PI, e, 0),
        Event::DocType(e) => (Kind::DocType, e, 0),
        Event::GeneralRef(e) => (Kind::GeneralRef, e, 0),
        Event::Eof => (Kind::Eof, "", 0),
    }
}

/// quick-xml gives a declaration the name `xml`.
const DECL_NAME_LEN: usize = 3;

/// The buffered, bounded, line-counting input of quick-xml's stream reader
/// (the worker's reader of whatever the tokenizer hands over): what
/// [`Tracked`](crate::input::Tracked) over a `BufReader` of [`READ_BUFFER`]
/// bytes does, in one layer, with the newlines of each buffer found in one
/// pass when it is filled and counted when a position is asked for (once per
/// event), rather than searched for on every `consume`.
///
/// It reads from `inner` exactly as that `BufReader` did (one `read` of the
/// whole buffer whenever it is empty), and enforces the same bounds at the
/// same points with the same errors. (Borrowing the inner reader's buffers
/// instead of copying them measured slower: every `fill_buf` then has to ask
/// the inner reader again.)
struct Counted<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Offset of `buf[0]` in the document.
    base: u64,
    /// Newlines counted so far, and where the last one ended.
    lines: Lines,
    /// The newlines of `buf[..filled]`.
    newlines: Newlines,
    token_start: u64,
    max_bytes: u64,
    max_token_bytes: u64,
    /// The first `fill_buf` gives one byte at most (see [`Counted::new`]).
    short_start: bool,
}

impl<R: Read> Counted<R> {
    /// Reads `inner`, whose first byte is at `at` in the document.
    ///
    /// A new quick-xml reader skips a byte order mark at its start, as it
    /// should at the document's. In the middle of a document the same bytes
    /// are a character of text (U+FEFF): there, the first `fill_buf` gives
    /// one byte only, which quick-xml cannot take for a byte order mark.
    fn new(inner: R, limits: &Limits, at: Resume) -> Counted<R> {
        Counted {
            inner,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            base: at.offset,
            lines: at.lines,
            newlines: Newlines::default(),
            token_start: 0,
            max_bytes: limits.max_bytes,
            max_token_bytes: limits.max_token_bytes,
            short_start: at.offset > 0,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Starts a new token: the per-token bound counts from here.
    fn mark_token(&mut self) {
        self.token_start = self.offset();
    }

    /// Where the next byte to be consumed is.
    fn position(&mut self) -> Position {
        self.newlines.count(self.pos, self.base, &mut self.lines);
        self.lines.at(self.offset())
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> io::Result<()> {
        // Everything in the buffer was consumed: count it before it goes.
        self.newlines.count(self.pos, self.base, &mut self.lines);
        let n = self.inner.read(&mut self.buf)?.min(self.buf.len());
        self.base += self.filled as u64;
        self.pos = 0;
        self.filled = n;
        self.newlines.find(&self.buf[..n]);
        Ok(())
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        crate::input::read_from_buffer(self, out)
    }
}

impl<R: Read> BufRead for Counted<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let consumed = self.offset();
        if consumed - self.token_start > self.max_token_bytes {
            let limit = self.max_token_bytes;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LimitExceeded::Token { limit },
            ));
        }
        let room = self.max_bytes.saturating_sub(consumed);
        if self.pos >= self.filled {
            self.refill()?;
        }
        let buf = &self.buf[self.pos..self.filled];
        if room == 0 && !buf.is_empty() {
            let limit = self.max_bytes;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LimitExceeded::Document { limit },
            ));
        }
        let mut n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if mem::take(&mut self.short_start) {
            n = n.min(1);
        }
        Ok(&buf[..n])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

/// Lines counted up to some point of the document.
#[derive(Debug, Clone, Copy, Default)]
struct Lines {
    /// Newlines so far, and the offset just after the last one.
    newlines: u64,
    last_newline_end: u64,
}

impl Lines {
    /// Counts a newline at `offset`.
    #[inline]
    fn count(&mut self, offset: u64) {
        self.newlines += 1;
        self.last_newline_end = offset + 1;
    }

    /// The position of `offset`, which no newline counted so far follows.
    #[inline]
    fn at(&self, offset: u64) -> Position {
        Position {
            line: self.newlines + 1,
            column: offset - self.last_newline_end + 1,
            offset,
        }
    }
}

/// The newlines of a buffer, counted into [`Lines`] as reading passes them.
#[derive(Debug, Default)]
struct Newlines {
    /// Their positions in the buffer; those from `next` on are not counted.
    at: Vec<usize>,
    next: usize,
}

impl Newlines {
    /// Finds the newlines of a new buffer.
    fn find(&mut self, buf: &[u8]) {
        self.at.clear();
        self.at.extend(memchr::memchr_iter(b'\n', buf));
        self.next = 0;
    }

    /// Counts those before `end` in the buffer, which starts at `base` in
    /// the document.
    #[inline]
    fn count(&mut self, end: usize, base: u64, lines: &mut Lines) {
        while let Some(&at) = self.at.get(self.next) {
            if at >= end {
                break;
            }
            lines.count(base + at as u64);
            self.next += 1;
        }
    }
}

/// Where a reader starts in the document: its offset and the lines before it.
#[derive(Debug, Clone, Copy, Default)]
struct Resume {
    offset: u64,
    lines: Lines,
}

/// The names of the elements open, checked against each end tag as
/// quick-xml's `check_end_names` does, with the same errors at the same
/// place. It is kept here, not in quick-xml, so that reading can go from one
/// quick-xml reader to another in the middle of a document.
#[derive(Debug, Default)]
struct Opened {
    /// One per open element, innermost last.
    stack: Vec<Name>,
    /// The names longer than a [`Name::Short`] holds, one after another.
    long: String,
}

/// An open element's name: up to 16 bytes by value (its length and two
/// words that cover it, so a check is two compares instead of a copy and a
/// `memcmp`), longer ones by where they start in [`Opened::long`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Short { len: usize, low: u64, high: u64 },
    Long { start: usize },
}

impl Name {
    /// A short name's value: for 8 to 16 bytes its first and last eight
    /// (overlapping), for 4 to 7 its first and last four, for fewer its
    /// first, middle and last byte. Equal for equal names only, since the
    /// parts cover every byte of a name of that length.
    #[inline]
    fn short(name: &[u8]) -> Option<Name> {
        let len = name.len();
        let four = |at: usize| {
            let bytes = name
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok());
            bytes.map_or(0, |b| u64::from(u32::from_le_bytes(b)))
        };
        let eight = |at: usize| {
            let bytes = name
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok());
            bytes.map_or(0, u64::from_le_bytes)
        };
        let (low, high) = match len {
            0 => (0, 0),
            1..=3 => {
                let byte = |at: usize| u64::from(name.get(at).copied().unwrap_or(0));
                (byte(0) | byte(len / 2) << 8 | byte(len - 1) << 16, 0)
            }
            4..=7 => (four(0), four(len - 4)),
            8..=16 => (eight(0), eight(len - 8)),
            _ => return None,
        };
        Some(Name::Short { len, low, high })
    }

    /// The bytes of a short name, back from its value.
    fn short_bytes(len: usize, low: u64, high: u64) -> Vec<u8> {
        let mut name = vec![0u8; len];
        let (low, high) = (low.to_le_bytes(), high.to_le_bytes());
        match len {
            0 => {}
            1..=3 => {
                for (at, byte) in [(0, low[0]), (len / 2, low[1]), (len - 1, low[2])] {
                    if let Some(slot) = name.get_mut(at) {
                        *slot = byte;
                    }
                }
            }
            _ => {
                let size = if len < 8 { 4 } else { 8 };
                for (at, part) in [(0, &low), (len - size, &high)] {
                    if let (Some(to), Some(from)) = (name.get_mut(at..at + size), part.get(..size))
                    {
                        to.copy_from_slice(from);
                    }
                }
            }
        }
        name
    }
}

impl Opened {
    #[inline]
    fn start(&mut self, name: &str) {
        let name = Name::short(name.as_bytes()).unwrap_or_else(|| {
            let start = self.long.len();
            self.long.push_str(name);
            Name::Long { start }
        });
        self.stack.push(name);
    }

    /// Closes the innermost element, whose end tag names `found`.
    #[inline(always)]
    fn end(&mut self, found: &str) -> Result<(), quick_xml::Error> {
        match self.stack.last() {
            Some(&open @ Name::Short { .. }) if Name::short(found.as_bytes()) == Some(open) => {
                self.stack.pop();
                Ok(())
            }
            _ => self.end_otherwise(found),
        }
    }

    /// [`end`](Self::end) but for a matching short name.
    #[cold]
    #[inline(never)]
    fn end_otherwise(&mut self, found: &str) -> Result<(), quick_xml::Error> {
        use quick_xml::errors::IllFormedError;
        let Some(open) = self.stack.pop() else {
            return Err(quick_xml::Error::IllFormed(
                IllFormedError::UnmatchedEndTag(found.to_owned()),
            ));
        };
        let expected = match open {
            Name::Short { len, low, high } => {
                String::from_utf8_lossy(&Name::short_bytes(len, low, high)).into_owned()
            }
            Name::Long { start } => {
                let expected = self.long.get(start..).unwrap_or_default().to_owned();
                self.long.truncate(start);
                if expected == found {
                    return Ok(());
                }
                expected
            }
        };
        Err(quick_xml::Error::IllFormed(
            IllFormedError::MismatchedEndTag {
                expected,
                found: found.to_owned(),
            },
        ))
    }

    /// Checks one event that quick-xml or the tokenizer read.
    #[inline(always)]
    fn check(&mut self, kind: Kind, text: &str, name_len: usize) -> Result<(), quick_xml::Error> {
        match kind {
            Kind::Start => {
                self.start(text.get(..name_len).unwrap_or(text));
                Ok(())
            }
            Kind::End => self.end(text),
            _ => Ok(()),
        }
    }
}

/// The quick-xml configuration both readers use. Names of end tags are
/// checked by [`Opened`] instead.
fn configure<R>(xml: &mut quick_xml::Reader<R>) {
    let config = xml.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
}

/// The UTF-8 byte order mark, which quick-xml skips at the start.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many new bytes each chunk of the tokenizer takes.
const CHUNK: usize = 128 * 1024;
/// Room a new chunk buffer keeps for tokens carried over from the last.
const CARRY_ROOM: usize = 16 * 1024;

/// The worker: reads events from `source` into batches until the end, an
/// error, or the reader going away.
///
/// Most of a catalog is tags, text and references. The [`Tokenizer`] reads
/// those straight from chunks of the input, checked as UTF-8 once per
/// chunk, and sends each chunk with its records, so no event is copied. It
/// leaves anything else (comments, CDATA, declarations, processing
/// instructions, DOCTYPE) to quick-xml's reader over the chunk, one event
/// at a time. Where the input is not simple (an error of any kind, bytes
/// that are not UTF-8, a bound reached), it hands the rest of the document
/// over to quick-xml's reader of a stream, which reads it as before this
/// tokenizer existed and says what is wrong in the same words, at the same
/// place.
///
/// `chunk` is how many new bytes each chunk takes ([`CHUNK`]); with 0, all
/// of the document goes to quick-xml's stream reader.
fn read_events_in<R: BufRead>(source: R, limits: Limits, worker: Worker<Batch>, chunk: usize) {
    if chunk == 0 {
        let rest = Handover {
            at: Resume::default(),
            opened: Opened::default(),
            leftover: Vec::new(),
            failed: None,
        };
        return read_slowly(source, limits, worker, rest);
    }
    let mut tokenizer = Tokenizer {
        source,
        limits,
        chunk,
        base: 0,
        lines: Lines::default(),
        opened: Opened::default(),
        newlines: Newlines::default(),
        tail: Vec::new(),
        eof: false,
        failed: None,
        broken: false,
        full: false,
    };
    match tokenizer.run(&worker) {
        Next::Finish => worker.finish(Ok(())),
        Next::Gone => {}
        Next::Slowly(rest) => {
            let Tokenizer { source, .. } = tokenizer;
            read_slowly(source, limits, worker, rest);
        }
    }
}

/// What the tokenizer leaves to quick-xml's stream reader.
struct Handover {
    /// Where the first byte of `leftover` is.
    at: Resume,
    opened: Opened,
    /// Bytes read from the source and not tokenized.
    leftover: Vec<u8>,
    /// The source's error, after `leftover`.
    failed: Option<io::Error>,
}

/// `leftover`, then the source's error if there was one, then the source.
struct Rest<R> {
    leftover: io::Cursor<Vec<u8>>,
    failed: Option<io::Error>,
    source: R,
}

impl<R: Read> Read for Rest<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.leftover.read(out)?;
        if n > 0 || out.is_empty() {
            return Ok(n);
        }
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        self.source.read(out)
    }
}

/// quick-xml's stream reader over the rest of the document.
fn read_slowly<R: Read>(source: R, limits: Limits, worker: Worker<Batch>, rest: Handover) {
    let Handover {
        at,
        mut opened,
        leftover,
        failed,
    } = rest;
    let input = Rest {
        leftover: io::Cursor::new(leftover),
        failed,
        source,
    };
    let mut xml = quick_xml::Reader::from_reader(Counted::new(input, &limits, at));
    configure(&mut xml);
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut batch = worker.reuse().unwrap_or_default();
    batch.clear();
    loop {
        buf.clear();
        xml.get_mut().mark_token();
        let before = at.offset + xml.buffer_position();
        let result = xml.read_event_into(&mut buf);
        let after = xml.get_mut().position();
        let result = match result {
            Ok(event) => {
                let (kind, text, name_len) = parts(&event);
                match opened.check(kind, text, name_len) {
                    Ok(()) => Ok(event),
                    Err(error) => Err((error, before)),
                }
            }
            // quick-xml places some errors (those in markup), not others
            // (bytes that are not UTF-8 in text, the input's own): those
            // are placed where the event began.
            Err(error) => match xml.error_position() {
                0 => Err((error, before)),
                placed => Err((error, at.offset + placed)),
            },
        };
        let last = match result {
            Ok(event) => {
                batch.push(&event, after);
                matches!(event, Event::Eof)
            }
            Err((error, at)) => {
                batch.failure = Some(Box::new(XmlFailure { error, at, after }));
                true
            }
        };
        if last {
            if worker.send(batch) {
                worker.finish(Ok(()));
            }
            return;
        }
        if batch.is_full() {
            let full = mem::replace(&mut batch, worker.reuse().unwrap_or_default());
            if !worker.send(full) {
                return;
            }
            batch.clear();
        }
    }
}

/// An event in a chunk: its kind, where its text is, its name's length,
/// and where the next token starts.
struct Span {
    kind: Kind,
    start: usize,
    end: usize,
    name_len: usize,
    next: usize,
}

/// One token read from a chunk.
enum Token {
    Event(Span),
    /// The token goes on past the chunk (or the chunk ends where it does).
    More,
    /// Something quick-xml's stream reader must read.
    Odd,
}

/// What comes after the tokenizer.
enum Next {
    /// The last batch is sent.
    Finish,
    /// The reader went away.
    Gone,
    /// quick-xml's stream reader reads the rest.
    Slowly(Handover),
}

/// Why a chunk's events stop.
enum Stop {
    /// The end of the document, or a failure: the batch is the last.
    Last,
    /// The token at `at` needs the next chunk.
    More(usize),
    /// The rest, from `at`, goes to quick-xml's stream reader.
    Odd(usize),
}

/// The tokenizer of the common parts of XML, over chunks of the input.
struct Tokenizer<R> {
    source: R,
    limits: Limits,
    /// New bytes per chunk.
    chunk: usize,
    /// Where the current chunk starts in the document.
    base: u64,
    /// Lines counted up to the end of the last event sent, where the
    /// current chunk starts.
    lines: Lines,
    opened: Opened,
    /// The newlines of the chunk.
    newlines: Newlines,
    /// Bytes read after the chunk's last whole character.
    tail: Vec<u8>,
    /// The source has ended.
    eof: bool,
    /// The source failed; nothing after this error may be read.
    failed: Option<io::Error>,
    /// `tail` starts with bytes that are not UTF-8.
    broken: bool,
    /// The document's bound is reached.
    full: bool,
}

impl<R: BufRead> Tokenizer<R> {
    /// Tokenizes chunk after chunk; what it cannot read goes back to the
    /// caller.
    fn run(&mut self, worker: &Worker<Batch>) -> Next {
        let mut bytes = Vec::with_capacity(self.chunk + CARRY_ROOM);
        loop {
            self.fill(&mut bytes);
            // A byte order mark at the start: quick-xml's stream reader
            // skips it and counts offsets without it.
            if self.base == 0 && bytes.starts_with(BOM) {
                return Next::Slowly(self.handover(bytes, 0));
            }
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(error) => {
                    let valid = error.utf8_error().valid_up_to();
                    self.broken |= error.utf8_error().error_len().is_some();
                    let mut raw = error.into_bytes();
                    self.tail.splice(0..0, raw.drain(valid..));
                    match String::from_utf8(raw) {
                        Ok(text) => text,
                        // Cannot happen: the bytes up to `valid` are UTF-8.
                        Err(error) => {
                            return Next::Slowly(self.handover(error.into_bytes(), 0));
                        }
                    }
                }
            };
            // (A source's error comes instead of its end; bytes that are not
            // UTF-8 stay in the tail.)
            let last = self.eof && self.tail.is_empty();
            let mut batch = worker.reuse().unwrap_or_default();
            batch.clear();
            batch.scanned.no_cr = memchr::memchr(b'\r', text.as_bytes()).is_none();
            batch.chunk = true;
            // The batch's old text buffer becomes the next chunk's, so one
            // batch back from the reader is all each chunk takes.
            let spare = mem::replace(&mut batch.text, text);
            let (at, odd) = match self.tokenize(&mut batch, last) {
                Stop::Last => {
                    return if worker.send(batch) {
                        Next::Finish
                    } else {
                        Next::Gone
                    };
                }
                Stop::More(at) => (at, false),
                Stop::Odd(at) => (at, true),
            };
            // The token at `at` starts the next chunk, or the rest.
            let stuck = self.eof || self.failed.is_some() || self.broken || self.full;
            let carried = batch.text.len() - at;
            let odd = odd || stuck || carried as u64 > self.limits.max_token_bytes;
            let mut next = spare.into_bytes();
            next.clear();
            // Room for the carried bytes, the next chunk and a partial
            // character, so filling never grows it (each growth copied the
            // whole buffer): a buffer too small is dropped, not grown.
            let room = carried + self.chunk + 4;
            if next.capacity() < room {
                next = Vec::with_capacity(room + CARRY_ROOM);
            }
            // The records end before `at`; the bytes after it go on.
            next.extend_from_slice(batch.text.as_bytes().get(at..).unwrap_or_default());
            // With the reader's queue full, the tokenizer would wait: it
            // scans the chunk meanwhile, sparing the reader's thread.
            if !batch.records.is_empty() && !worker.send_or(batch, Batch::scan_characters) {
                return Next::Gone;
            }
            if odd {
                return Next::Slowly(self.handover(next, at));
            }
            self.base += at as u64;
            bytes = next;
        }
    }

    /// Gives the rest of the document, from `from` in the chunk whose
    /// remaining bytes are `bytes`, to quick-xml's stream reader.
    fn handover(&mut self, mut bytes: Vec<u8>, from: usize) -> Handover {
        bytes.append(&mut self.tail);
        Handover {
            // The lines up to the last event sent end at `from`.
            at: Resume {
                offset: self.base + from as u64,
                lines: self.lines,
            },
            opened: mem::take(&mut self.opened),
            leftover: bytes,
            failed: self.failed.take(),
        }
    }

    /// Reads the next chunk's new bytes after those carried in `bytes`.
    fn fill(&mut self, bytes: &mut Vec<u8>) {
        bytes.append(&mut self.tail);
        let want = bytes.len() + self.chunk;
        while bytes.len() < want && !self.eof && self.failed.is_none() {
            let end = self.base + bytes.len() as u64;
            let room = self.limits.max_bytes.saturating_sub(end);
            if room == 0 {
                self.full = true;
                return;
            }
            let room = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(want - bytes.len());
            // Copied from the source's buffer: a `read` into the chunk would
            // first zero the room it reads into.
            match self.source.fill_buf() {
                Ok([]) => self.eof = true,
                Ok(available) => {
                    let n = available.len().min(room);
                    bytes.extend_from_slice(available.get(..n).unwrap_or_default());
                    self.source.consume(n);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => self.failed = Some(error),
            }
        }
    }

    /// Records the events of the chunk in `batch.text`, whose lines before
    /// it are counted.
    fn tokenize(&mut self, batch: &mut Batch, last: bool) -> Stop {
        let text = batch.text.as_str();
        let bytes = text.as_bytes();
        self.newlines.find(bytes);
        let mut at = 0;
        loop {
            let token = if at == bytes.len() {
                if !last {
                    return Stop::More(at);
                }
                Token::Event(Span {
                    kind: Kind::Eof,
                    start: at,
                    end: at,
                    name_len: 0,
                    next: at,
                })
            } else {
                token(text, at)
            };
            let Span {
                kind,
                start,
                end,
                name_len,
                next,
            } = match token {
                Token::Event(span) => span,
                Token::More if !last => return Stop::More(at),
                Token::More | Token::Odd => return Stop::Odd(at),
            };
            self.newlines.count(next, self.base, &mut self.lines);
            let after = self.lines.at(self.base + next as u64);
            let content = text.get(start..end).unwrap_or_default();
            if let Err(error) = self.opened.check(kind, content, name_len) {
                let at = self.base + at as u64;
                batch.failure = Some(Box::new(XmlFailure { error, at, after }));
                return Stop::Last;
            }
            batch.records.push(Record {
                kind,
                name_len,
                start,
                end,
                after,
            });
            if kind == Kind::Eof {
                return Stop::Last;
            }
            at = next;
        }
    }
}

/// Reads the token at `at` (not the end of `text`).
#[inline(always)]
fn token(text: &str, at: usize) -> Token {
    let bytes = text.as_bytes();
    let rest = &bytes[at..];
    match rest.first() {
        Some(b'<') => match rest.get(1) {
            None => Token::More,
            Some(b'!' | b'?') => delegate(text, at),
            Some(&second) => {
                let Some(close) = tag_end(rest) else {
                    return Token::More;
                };
                let next = at + close + 1;
                if second == b'/' {
                    // `</name>`: the name, without the spaces after it.
                    let inner = &rest[2..close];
                    let name = inner
                        .iter()
                        .rposition(|&b| !is_whitespace(b))
                        .map_or(0, |i| i + 1);
                    return Token::Event(Span {
                        kind: Kind::End,
                        start: at + 2,
                        end: at + 2 + name,
                        name_len: 0,
                        next,
                    });
                }
                let (kind, end) = if rest[1..=close].ends_with(b"/>") {
                    (Kind::Empty, close - 1)
                } else {
                    (Kind::Start, close)
                };
                let name_len = tag_name_len(&rest[1..end]);
                Token::Event(Span {
                    kind,
                    start: at + 1,
                    end: at + end,
                    name_len,
                    next,
                })
            }
        },
        Some(b'&') => match memchr::memchr3(b';', b'&', b'<', &rest[1..]) {
            Some(i) if rest[1 + i] == b';' => Token::Event(Span {
                kind: Kind::GeneralRef,
                start: at + 1,
                end: at + 1 + i,
                name_len: 0,
                next: at + i + 2,
            }),
            Some(_) => Token::Odd,
            None => Token::More,
        },
        _ => match memchr::memchr2(b'<', b'&', rest) {
            Some(i) => Token::Event(Span {
                kind: Kind::Text,
                start: at,
                end: at + i,
                name_len: 0,
                next: at + i,
            }),
            None => Token::More,
        },
    }
}

/// quick-xml's `name_len` (a tag's name ends at its first XML space),
/// eight bytes at a time.
#[inline(always)]
fn tag_name_len(content: &[u8]) -> usize {
    let spaces = |word| {
        words::equal(word, b' ')
            | words::equal(word, b'\t')
            | words::equal(word, b'\n')
            | words::equal(word, b'\r')
    };
    words::first(content, spaces, is_whitespace).unwrap_or(content.len())
}

/// Where the `>` that closes the tag starting `rest` is, outside quoted
/// values: quick-xml's `ElementParser`. Eight bytes at a time: tags are
/// short, and a `memchr3` call per quote cost more than the scan.
#[inline(always)]
fn tag_end(rest: &[u8]) -> Option<usize> {
    let mut quote = None;
    // Each flagged byte is looked at: all of `>`, `"` and `'` are flagged,
    // and the other bytes a flag may fall on are passed over.
    let mut step = |i: usize| match (quote, rest.get(i)) {
        (None, Some(b'>')) => Some(i),
        (None, Some(&q @ (b'"' | b'\''))) => {
            quote = Some(q);
            None
        }
        (Some(q), Some(&b)) if q == b => {
            quote = None;
            None
        }
        _ => None,
    };
    let whole = rest.len() - rest.len() % 8;
    for (at, word) in rest.chunks_exact(8).enumerate() {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let word = u64::from_le_bytes(word);
        let mut flags =
            words::equal(word, b'>') | words::equal(word, b'"') | words::equal(word, b'\'');
        while flags != 0 {
            let i = at * 8 + (flags.trailing_zeros() / 8) as usize;
            flags &= flags - 1;
            if let Some(end) = step(i) {
                return Some(end);
            }
        }
    }
    (whole..rest.len()).find_map(step)
}

/// Reads the comment, CDATA, DOCTYPE, declaration or processing
/// instruction at `at` with a quick-xml reader over the chunk.
#[cold]
fn delegate(text: &str, at: usize) -> Token {
    let Some(rest) = text.get(at..) else {
        return Token::Odd;
    };
    let mut xml = quick_xml::Reader::from_str(rest);
    configure(&mut xml);
    let result = xml.read_event();
    let used = usize::try_from(xml.buffer_position()).unwrap_or(usize::MAX);
    match result {
        Ok(Event::Eof) => Token::Odd,
        Ok(event) => {
            let (kind, content, name_len) = parts(&event);
            let start = (content.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
            let end = start.wrapping_add(content.len());
            if text.get(start..end).is_none() || used > rest.len() {
                return Token::Odd;
            }
            Token::Event(Span {
                kind,
                start,
                end,
                name_len,
                next: at + used,
            })
        }
        // It may only lack the rest of the input.
        Err(_) if used >= rest.len() => Token::More,
        Err(_) => Token::Odd,
    }
}

/// Why no event came.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The parser's error (including the input's, wrapped by quick-xml).
    Xml(Box<XmlFailure>),
    /// The worker stopped without a word; it should not happen.
    Lost(io::Error),
}

/// The reader's side: XML events of one document, in order.
#[derive(Debug, Default)]
pub(crate) struct EventStream<'a> {
    feeder: Option<Feeder<'a, Batch>>,
    batch: Batch,
    /// The next record of `batch`.
    next: usize,
    /// After the end or a failure, only `Eof` follows, at this position.
    ended: Option<Position>,
    /// Batches are scanned for characters XML cannot carry.
    scan: bool,
}

impl<'a> EventStream<'a> {
    /// Starts reading events from `raw` (the buffer [`sniff`](crate::input::sniff)
    /// filled), decoding it as `compression` says.
    pub(crate) fn start<R: Read + 'a>(
        raw: BufReader<R>,
        compression: Compression,
        limits: Limits,
    ) -> io::Result<EventStream<'a>> {
        Self::start_in(raw, compression, limits, CHUNK)
    }

    /// [`start`](Self::start) with the tokenizer's chunks of `chunk` bytes
    /// (none: 0).
    fn start_in<R: Read + 'a>(
        raw: BufReader<R>,
        compression: Compression,
        limits: Limits,
        chunk: usize,
    ) -> io::Result<EventStream<'a>> {
        let raw: Box<dyn BufRead + 'a> = Box::new(raw);
        let Plumbing {
            input,
            worker,
            feeder,
        } = plumbing();
        let mut feeder = Feeder::new(raw, feeder);
        let codec = match compression {
            Compression::Zstd => Some(Codec::Zstd),
            Compression::Gzip => Some(Codec::Gzip),
            Compression::None => None,
        };
        // Two threads: the caller's feeds the parser's, which decodes the
        // input, reads its events and sends them back to the caller's. (A
        // decoding thread of its own only made three share the two cores a
        // Lambda of this size has, and its output crossed from one core to
        // the other.) The decoder is read through a buffer of READ_BUFFER
        // bytes, so it is asked for the same reads as everywhere else: its
        // error on a corrupt stream can depend on them.
        match codec {
            Some(Codec::Zstd) => {
                // Made here, so a decoder that cannot be made fails the open.
                let decoder = zstd::Decoder::with_buffer(input)?;
                feeder.spawn("xml-read", move || {
                    let decoded = BufReader::with_capacity(READ_BUFFER, decoder);
                    read_events_in(decoded, limits, worker, chunk);
                })?;
            }
            // The gzip decoder reads the header as it is made, so it is made
            // here, where waiting for input cannot block the feeder.
            Some(Codec::Gzip) => feeder.spawn("xml-read", move || {
                let decoder = flate2::bufread::MultiGzDecoder::new(input);
                let decoded = BufReader::with_capacity(READ_BUFFER, decoder);
                read_events_in(decoded, limits, worker, chunk);
            })?,
            None => feeder.spawn("xml-read", move || {
                read_events_in(input, limits, worker, chunk);
            })?,
        }
        Ok(EventStream {
            feeder: Some(feeder),
            ..EventStream::default()
        })
    }

    /// The next event, where the input was after it, and what is known of
    /// the text it was cut from.
    #[inline(always)]
    pub(crate) fn next_event(&mut self) -> Result<(Event<'_>, Position, Scanned), Failure> {
        if let Some(at) = self.ended {
            return Ok((Event::Eof, at, Scanned::default()));
        }
        let record = loop {
            if let Some(&record) = self.batch.records.get(self.next) {
                break record;
            }
            if let Some(failure) = self.batch.failure.take() {
                self.ended = Some(failure.after);
                return Err(Failure::Xml(failure));
            }
            self.next_batch()?;
        };
        self.next += 1;
        if record.kind == Kind::Eof {
            self.ended = Some(record.after);
        }
        let text = self
            .batch
            .text
            .get(record.start..record.end)
            .unwrap_or_default();
        let name_len = record.name_len;
        let event = match record.kind {
            Kind::Start => Event::Start(BytesStart::from_content(text, name_len)),
            Kind::Empty => Event::Empty(BytesStart::from_content(text, name_len)),
            Kind::End => Event::End(BytesEnd::new(text)),
            Kind::Text => Event::Text(BytesText::from_escaped(text)),
            Kind::CData => Event::CData(BytesCData::new(text)),
            Kind::Comment => Event::Comment(BytesText::from_escaped(text)),
            Kind::Decl => Event::Decl(BytesDecl::from_start(BytesStart::from_content(
                text, name_len,
            ))),
            Kind::PI => Event::PI(BytesPI::new(text)),
            Kind::DocType => Event::DocType(BytesText::from_escaped(text)),
            Kind::GeneralRef => Event::GeneralRef(BytesRef::new(text)),
            Kind::Eof => Event::Eof,
        };
        Ok((event, record.after, self.batch.scanned))
    }

    /// Scans each batch from now on (`on`) or no more for characters XML
    /// cannot carry, so that [`Scanned::xml_chars`] can say it holds none.
    /// The reader scans where it checks the characters of what it reads
    /// (the items of the program catalog). A batch the tokenizer scanned
    /// while it waited for room in the queue is not scanned again; the
    /// others are scanned here, since the tokenizer's thread is the busier
    /// while items are read, unless the gate's checks make this one busier.
    pub(crate) fn scan_characters(&mut self, on: bool) {
        self.scan = on;
        self.scan_batch();
    }

    fn scan_batch(&mut self) {
        if self.scan {
            self.batch.scan_characters();
        }
    }

    #[cold]
    #[inline(never)]
    fn next_batch(&mut self) -> Result<(), Failure> {
        let lost = || io::Error::other("the XML reading thread stopped unexpectedly");
        let Some(feeder) = &mut self.feeder else {
            return Err(Failure::Lost(lost()));
        };
        match feeder.recv() {
            Some(FromWorker::Data(batch)) => {
                let spent = mem::replace(&mut self.batch, batch);
                feeder.recycle(spent);
                self.next = 0;
                self.scan_batch();
                Ok(())
            }
            Some(FromWorker::Failed(error)) => Err(Failure::Lost(error)),
            Some(FromWorker::End | FromWorker::NeedInput) | None => Err(Failure::Lost(lost())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};
    use std::time::{Duration, Instant};

    use quick_xml::events::Event;

    use super::{CHUNK, EventStream, Failure, XmlFailure};
    use crate::input::Limits;
    use crate::model::{Action, CatalogHeader};
    use crate::reader::{CatalogReader, ReadOptions};
    use crate::synthetic::Synthetic;
    use crate::writer::CatalogWriter;

    fn catalog(items: u64) -> Vec<u8> {
        let header = CatalogHeader {
            id: "C".into(),
            version: 1,
            action: Action::Upsert,
        };
        let mut writer = CatalogWriter::new(Vec::new(), &header).unwrap();
        for item in Synthetic::new(items, 5) {
            writer.write_item(&item).unwrap();
        }
        writer.finish().unwrap().0
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut encoder, data).unwrap();
        encoder.finish().unwrap()
    }

    /// What the reader gets from `bytes`: each event with the position after
    /// it, then the failure if any, as text; the tokenizer takes chunks of
    /// `chunk` bytes (0: quick-xml's stream reader alone).
    fn events_of(bytes: &[u8], limits: Limits, chunk: usize) -> Vec<String> {
        let (raw, compression) = crate::input::sniff(bytes).unwrap();
        let mut stream = EventStream::start_in(raw, compression, limits, chunk).unwrap();
        stream.scan_characters(true);
        let mut seen = Vec::new();
        loop {
            match stream.next_event() {
                Ok((Event::Eof, after, _)) => {
                    seen.push(format!("Eof {after:?}"));
                    return seen;
                }
                Ok((event, after, scanned)) => {
                    // What the scan claims holds of every event's text (a
                    // tokenizer's claim; quick-xml's reader claims nothing).
                    let text: &str = match &event {
                        Event::Start(e) | Event::Empty(e) => e,
                        Event::End(e) => e,
                        Event::Text(e) | Event::Comment(e) | Event::DocType(e) => e,
                        Event::CData(e) => e,
                        Event::PI(e) => e,
                        Event::GeneralRef(e) => e,
                        Event::Decl(e) => e,
                        Event::Eof => "",
                    };
                    assert!(chunk > 0 || !(scanned.no_cr || scanned.xml_chars));
                    assert!(!scanned.no_cr || !text.contains('\r'), "{text:?}");
                    assert!(
                        !scanned.xml_chars || crate::rules::first_non_xml_char(text).is_none(),
                        "{text:?}"
                    );
                    seen.push(format!("{event:?} {after:?}"));
                }
                Err(Failure::Xml(failure)) => {
                    let XmlFailure { error, at, after } = *failure;
                    seen.push(format!("failed: {error} at {at}, {after:?}"));
                    return seen;
                }
                Err(Failure::Lost(error)) => panic!("{error}"),
            }
        }
    }

    /// The tokenizer, with chunks of every small size and its own, reads
    /// `bytes` as quick-xml's stream reader does.
    fn reads_as_quick_xml(bytes: &[u8]) {
        let limits = Limits::default();
        let expected = events_of(bytes, limits, 0);
        // Tiny chunks cut every token everywhere; they cost a batch each.
        let tiny: &[usize] = if bytes.len() < 2_000 {
            &[1, 2, 3, 5, 8]
        } else {
            &[]
        };
        for &chunk in tiny.iter().chain(&[13, 61, 1000, CHUNK]) {
            let got = events_of(bytes, limits, chunk);
            if got != expected {
                let at = got.iter().zip(&expected).position(|(a, b)| a != b);
                panic!(
                    "chunk {chunk}, document {:?}: first difference at event {at:?}\n got: {:?}\nwant: {:?}",
                    String::from_utf8_lossy(bytes),
                    at.and_then(|i| got.get(i)).or(got.last()),
                    at.and_then(|i| expected.get(i)).or(expected.last()),
                );
            }
        }
    }

    /// Documents with every kind of event and most ways to be wrong.
    const ODD_DOCUMENTS: &[&str] = &[
        "",
        "<",
        "<a",
        "<a>",
        "<a></a>",
        "<a/>",
        "<a />",
        "<>",
        "</>",
        "</a>",
        "<a></b>",
        "<a></a >",
        "<a></a\n>",
        "<a><b></a></b>",
        "text only",
        "<a>x &amp; y &#233; &#x1F600; &unknown; z</a>",
        "<a>&</a>",
        "<a>& b</a>",
        "<a>&amp</a>",
        "<a>&amp",
        "<a>a&b&c;</a>",
        "<a x='1' y=\"2\">t</a>",
        "<a x='>' y=\">\">t</a>",
        "<a x='unclosed>t</a>",
        "<a x=\"unclosed>t</a>",
        "<a></a x='>'>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>\n  <b>1</b>\n</a>\n",
        "\u{FEFF}<?xml version=\"1.0\"?><a>x</a>",
        "<a>\u{FEFF}x</a>",
        "<a><b/>\u{FEFF}x&amp;\u{FEFF}y</a>",
        "<a><!-- a comment --><![CDATA[ <not> & markup ]]><?pi data?></a>",
        "<a><!-- bad -- comment --></a>",
        "<a><!-- unclosed",
        "<a><![CDATA[ unclosed",
        "<a><!DOCTYPE a [ <!ENTITY e 'v'> ]></a>",
        "<!DOCTYPE a><a/>",
        "<a><!x></a>",
        "<a><!",
        "<a><?",
        "<a><?pi",
        "<a>é ü 日本語 😀</a>",
        "<a t=\"日本\">😀</a >",
        "<a>\r\n\r\n</a>",
        // What the scan of a chunk must see (its claims are checked on every event).
        "<a b=\"\u{1}\">x\u{1f}y</a>",
        "<a>\u{FFFE}\u{FFFF}\u{FFC0}</a>",
        "<a>x\ry</a>",
        "<a>]]></a>",
        "<a><b>1</b><c>2</c></a><d/>",
        "<a></a></a>",
    ];

    #[test]
    fn the_tokenizer_reads_odd_documents_as_quick_xml() {
        for document in ODD_DOCUMENTS {
            reads_as_quick_xml(document.as_bytes());
        }
        // Bytes that are not UTF-8, in text, in a tag, and cut short.
        for document in [
            &b"<a>ok \xff no</a>"[..],
            b"<a x='\xfe'>t</a>",
            b"<a>\xc3</a>",
            b"<a>x</a>\xe6\x97",
            b"<a>\xEF\xBB\xBFx\xff</a>",
        ] {
            reads_as_quick_xml(document);
        }
    }

    #[test]
    fn the_tokenizer_reads_catalogs_and_the_fixtures_as_quick_xml() {
        reads_as_quick_xml(&catalog(8));
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        let mut read = 0;
        for dir in ["valid", "invalid"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "xml") {
                    reads_as_quick_xml(&std::fs::read(&path).unwrap());
                    read += 1;
                }
            }
        }
        assert!(read > 40, "{read} fixtures");
    }

    #[test]
    fn the_tokenizer_reads_damaged_catalogs_as_quick_xml() {
        // What is spliced in, `|` apart.
        let pieces: Vec<&[u8]> = b"<|>|&|;|'|\"|/|</|/>|<!--|-->|--|<![CDATA[|]]>|<?|?>|<!|\xEF\xBB\xBF|\xff|\xc3|\xc3\xa9|\n| |&amp;|<x>|</x>|<x/>"
            .split(|&b| b == b'|')
            .collect();
        let base = catalog(2);
        let mut random = crate::synthetic::SplitMix64::new(16);
        for _ in 0..1_000 {
            let mut document = base.clone();
            for _ in 0..1 + random.next_u64() % 3 {
                let at = (random.next_u64() % document.len() as u64) as usize;
                let cut = (random.next_u64() % 4) as usize;
                let piece = pieces[(random.next_u64() % pieces.len() as u64) as usize];
                let end = (at + cut).min(document.len());
                document.splice(at..end, piece.iter().copied());
            }
            reads_as_quick_xml(&document);
        }
    }

    #[test]
    fn the_tokenizer_stops_at_the_document_bound_as_quick_xml() {
        let xml = catalog(20);
        for max_bytes in [10, 100, 1000, xml.len() as u64 - 1, xml.len() as u64] {
            let limits = Limits {
                max_bytes,
                ..Limits::default()
            };
            let expected = events_of(&xml, limits, 0);
            for chunk in [7, 64, CHUNK] {
                assert_eq!(
                    events_of(&xml, limits, chunk),
                    expected,
                    "{max_bytes} {chunk}"
                );
            }
        }
    }

    #[test]
    fn tags_end_where_a_scan_by_quote_ends_them() {
        fn by_memchr(rest: &[u8]) -> Option<usize> {
            let mut quote = None;
            for i in memchr::memchr3_iter(b'>', b'\'', b'"', rest) {
                match (quote, rest[i]) {
                    (None, b'>') => return Some(i),
                    (None, q) => quote = Some(q),
                    (Some(q), b) if q == b => quote = None,
                    _ => {}
                }
            }
            None
        }
        // Every mix of the three delimiters and the bytes a flag can fall
        // on next to them (`?`, `#`, `&`: each delimiter's value XOR 1).
        let alphabet = b"a>\"'?#&=\x00";
        let mut seed = 11u64;
        for len in 0..=40 {
            for _ in 0..400 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        alphabet[(seed >> 33) as usize % alphabet.len()]
                    })
                    .collect();
                assert_eq!(super::tag_end(&text), by_memchr(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn tag_names_end_where_quick_xml_ends_them() {
        for len in 0..=20 {
            for place in 0..=len {
                for b in 0..=255u8 {
                    let mut content = b"Relationships ab".repeat(2)[..len].to_vec();
                    content.insert(place, b);
                    let expected = quick_xml::utils::name_len(&content);
                    assert_eq!(super::tag_name_len(&content), expected, "{content:?}");
                }
            }
        }
    }

    #[test]
    fn open_names_match_and_come_back_byte_for_byte() {
        use super::{Name, Opened};
        let alphabet = ["a", "b", "é", "東", "😀", ":", "-"];
        let mut names = vec![String::new()];
        let mut seed = 7u64;
        for len in 1..=24 {
            for _ in 0..40 {
                let mut name = String::new();
                while name.len() < len {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    name.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
                }
                names.push(name);
            }
        }
        for a in &names {
            if let Some(Name::Short { len, low, high }) = Name::short(a.as_bytes()) {
                assert_eq!(Name::short_bytes(len, low, high), a.as_bytes());
            } else {
                assert!(a.len() > 16, "{a:?}");
            }
            for b in names.iter().take(300) {
                let mut opened = Opened::default();
                opened.start("outer");
                opened.start(a);
                let closed = opened.end(b);
                assert_eq!(closed.is_ok(), a == b, "{a:?} {b:?}");
                if let Err(error) = closed {
                    let message = error.to_string();
                    assert!(message.contains(&format!("expected `</{a}>`")), "{message}");
                }
                assert!(opened.end("outer").is_ok());
                assert!(opened.end("outer").is_err());
            }
        }
    }

    #[test]
    fn plain_zstd_and_gzip_read_alike() {
        let xml = catalog(3_000);
        let zst = zstd::encode_all(&xml[..], 3).unwrap();
        let gz = gzip(&xml);
        let read = |bytes: &[u8]| {
            let mut reader = CatalogReader::new(bytes, ReadOptions::default()).unwrap();
            let mut entries = Vec::new();
            while let Some(entry) = reader.next_entry() {
                entries.push(entry);
            }
            let report = reader.finish();
            assert!(report.is_valid(), "{:?}", report.findings.iter().next());
            (entries, report.xml_bytes)
        };
        let plain = read(&xml);
        assert_eq!(plain.0.len(), 3_000);
        assert_eq!(plain.1, xml.len() as u64);
        assert_eq!(read(&zst), plain);
        assert_eq!(read(&gz), plain);
    }

    #[test]
    fn dropping_a_reader_early_stops_its_threads() {
        let xml = catalog(8_000);
        let zst = zstd::encode_all(&xml[..], 3).unwrap();
        for bytes in [&xml[..], &zst[..]] {
            let started = Instant::now();
            let mut reader = CatalogReader::new(bytes, ReadOptions::default()).unwrap();
            for _ in 0..3 {
                assert!(reader.next_entry().is_some());
            }
            // Drop joins the workers: it returns only once they have ended.
            drop(reader);
            assert!(started.elapsed() < Duration::from_secs(20));
        }
    }

    /// A raw input that fails after some bytes.
    struct FailAfter<'b> {
        bytes: &'b [u8],
        left: usize,
    }

    impl Read for FailAfter<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cable cut"));
            }
            let n = out.len().min(self.left).min(4096);
            let n = self.bytes.read(&mut out[..n])?;
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_failing_input_is_an_error_not_a_finding_through_the_decoder() {
        let xml = catalog(2_000);
        let zst = zstd::encode_all(&xml[..], 3).unwrap();
        for bytes in [&xml[..], &zst[..]] {
            let input = FailAfter {
                bytes,
                left: bytes.len() / 2,
            };
            let mut reader = CatalogReader::new(input, ReadOptions::default()).unwrap();
            let error = loop {
                match reader.try_next_entry() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("the input failure was not reported"),
                    Err(error) => break error,
                }
            };
            assert_eq!(error.0.kind(), io::ErrorKind::ConnectionReset);
            assert!(error.to_string().contains("cable cut"), "{error}");
            assert!(reader.findings().is_clean());
        }
    }

    #[test]
    fn a_corrupt_zstd_stream_is_a_finding() {
        let xml = catalog(200);
        let zst = zstd::encode_all(&xml[..], 3).unwrap();
        let cut = &zst[..zst.len() - 10];
        let report = CatalogReader::new(cut, ReadOptions::default())
            .unwrap()
            .validate_to_end()
            .unwrap();
        assert!(!report.complete);
        let finding = report.findings.iter().next().unwrap();
        assert_eq!(finding.rule.code(), "input.compression");
    }
}
