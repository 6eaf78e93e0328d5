//! XML events read on other threads.
//!
//! Tokenizing XML costs about as much as checking what it says, and
//! decompressing is not free either, so [`EventStream`] runs quick-xml (with
//! the size bounds and line counting of [`Counted`]) on a worker thread, and
//! zstd or gzip decoding, if any, on a third (see [`threaded`](crate::threaded)),
//! while the reader checks events on its own thread. The raw input is still
//! read on the reader's thread.
//!
//! The worker reads events exactly as the reader used to itself: the same
//! decoder asked for the same reads, the same buffer size, the same
//! quick-xml configuration, the token bound restarted before each event. It
//! copies each event's text into a batch with its kind and the position the
//! input had reached after it, and the reader rebuilds the same `Event`
//! from that, borrowing the batch. An error ends the batch with the error
//! itself, where quick-xml says it is and the position at that moment, so
//! the reader classifies and places it as before.
//!
//! The channels are bounded, so the workers run at most a few batches and
//! chunks ahead, whatever the document's size; dropping the stream stops and
//! joins them.

use std::io::{self, BufRead, BufReader, Read};
use std::mem;

use quick_xml::events::{
    BytesCData, BytesDecl, BytesEnd, BytesPI, BytesRef, BytesStart, BytesText, Event,
};

use crate::finding::Position;
use crate::input::{Compression, LimitExceeded, Limits, READ_BUFFER};
use crate::threaded::{
    Codec, Feeder, FromWorker, Plumbing, Segments, Worker, pipe, plumbing, start_decoder,
};

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

/// One event: its text is `batch.text[previous end..end]`.
#[derive(Debug, Clone, Copy)]
struct Record {
    kind: Kind,
    name_len: usize,
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
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.records.clear();
        self.failure = None;
    }

    fn is_full(&self) -> bool {
        self.text.len() >= BATCH_TEXT || self.records.len() >= BATCH_EVENTS
    }

    fn push(&mut self, event: &Event<'_>, after: Position) {
        let (kind, text, name_len): (Kind, &str, usize) = match event {
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
        };
        self.text.push_str(text);
        self.records.push(Record {
            kind,
            name_len,
            end: self.text.len(),
            after,
        });
    }
}

/// quick-xml gives a declaration the name `xml`.
const DECL_NAME_LEN: usize = 3;

/// The buffered, bounded, line-counting input the worker parses: what
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
    newlines: u64,
    last_newline_end: u64,
    /// Positions of the newlines in `buf[..filled]`; those from
    /// `next_newline` on are not counted yet.
    index: Vec<usize>,
    next_newline: usize,
    token_start: u64,
    max_bytes: u64,
    max_token_bytes: u64,
}

impl<R: Read> Counted<R> {
    fn new(inner: R, limits: &Limits) -> Counted<R> {
        Counted {
            inner,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            base: 0,
            newlines: 0,
            last_newline_end: 0,
            index: Vec::new(),
            next_newline: 0,
            token_start: 0,
            max_bytes: limits.max_bytes,
            max_token_bytes: limits.max_token_bytes,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Starts a new token: the per-token bound counts from here.
    fn mark_token(&mut self) {
        self.token_start = self.offset();
    }

    /// Counts the newlines consumed since the last count.
    fn count_lines(&mut self) {
        while let Some(&at) = self.index.get(self.next_newline) {
            if at >= self.pos {
                break;
            }
            self.newlines += 1;
            self.last_newline_end = self.base + at as u64 + 1;
            self.next_newline += 1;
        }
    }

    /// Where the next byte to be consumed is.
    fn position(&mut self) -> Position {
        self.count_lines();
        let offset = self.offset();
        Position {
            line: self.newlines + 1,
            column: offset - self.last_newline_end + 1,
            offset,
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> io::Result<()> {
        // Everything in the buffer was consumed: count it before it goes.
        self.count_lines();
        let n = self.inner.read(&mut self.buf)?.min(self.buf.len());
        self.base += self.filled as u64;
        self.pos = 0;
        self.filled = n;
        self.index.clear();
        self.index
            .extend(memchr::memchr_iter(b'\n', &self.buf[..n]));
        self.next_newline = 0;
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
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

/// The worker: reads events from `source` into batches until the end, an
/// error, or the reader going away.
fn read_events<R: Read>(source: R, limits: Limits, worker: Worker<Batch>) {
    let mut xml = quick_xml::Reader::from_reader(Counted::new(source, &limits));
    let config = xml.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = false;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut batch = Batch::default();
    loop {
        buf.clear();
        xml.get_mut().mark_token();
        let result = xml.read_event_into(&mut buf);
        let after = xml.get_mut().position();
        let last = match result {
            Ok(event) => {
                batch.push(&event, after);
                matches!(event, Event::Eof)
            }
            Err(error) => {
                let at = xml.error_position();
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
    /// The next record of `batch`, and where its text starts.
    next: usize,
    text_start: usize,
    /// After the end or a failure, only `Eof` follows, at this position.
    ended: Option<Position>,
}

impl<'a> EventStream<'a> {
    /// Starts reading events from `raw` (the buffer [`sniff`](crate::input::sniff)
    /// filled), decoding it as `compression` says.
    pub(crate) fn start<R: Read + 'a>(
        raw: BufReader<R>,
        compression: Compression,
        limits: Limits,
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
        match codec {
            // Three threads: the caller's feeds the decoder's, which feeds
            // the parser's, which sends events back to the caller's.
            Some(codec) => {
                let (decoded, sink) = pipe();
                start_decoder(&mut feeder, input, codec, READ_BUFFER, decoded)?;
                feeder.spawn("xml-read", move || {
                    read_events(Segments::new(sink), limits, worker);
                })?;
            }
            None => feeder.spawn("xml-read", move || {
                read_events(input, limits, worker);
            })?,
        }
        Ok(EventStream {
            feeder: Some(feeder),
            ..EventStream::default()
        })
    }

    /// The next event and where the input was after it.
    #[inline(always)]
    pub(crate) fn next_event(&mut self) -> Result<(Event<'_>, Position), Failure> {
        if let Some(at) = self.ended {
            return Ok((Event::Eof, at));
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
        let start = mem::replace(&mut self.text_start, record.end);
        if record.kind == Kind::Eof {
            self.ended = Some(record.after);
        }
        let text = self.batch.text.get(start..record.end).unwrap_or_default();
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
        Ok((event, record.after))
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
                self.text_start = 0;
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
