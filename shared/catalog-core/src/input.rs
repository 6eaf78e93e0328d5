//! Opening input: compression sniffing, size bounds, and line counting.
//!
//! [`open`] looks at the first bytes of any `Read` and puts a zstd or gzip
//! decoder in front when the magic number says so, so callers never care
//! whether a file is `.xml` or `.xml.zst`. [`Tracked`] wraps the decoded
//! stream: it counts lines (so findings can name one), stops a stream that
//! grows past a configured size (a decompression bomb stops with a clear
//! error, not an out-of-memory kill), and bounds how much one token may take.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use crate::threaded::{Codec, Threaded};

/// Bounds on what a reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most decompressed bytes a document may have.
    pub max_bytes: u64,
    /// The most bytes one token (a tag, a run of text) may take. The text of
    /// one element, added up across the comments, CDATA sections and
    /// references that split it into several tokens, is held to the same
    /// bound, so a value never grows past it however it is written.
    pub max_token_bytes: u64,
    /// The most bytes of parent references the reader holds while their
    /// parents are not read yet (an episode before its season): the child's
    /// and the parent's ids plus about 64 bytes each. 64 MiB holds about
    /// 500,000 references with short ids.
    pub max_pending_bytes: u64,
    /// The deepest element nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 30,
            max_token_bytes: 8 << 20,
            max_pending_bytes: 64 << 20,
            max_depth: 16,
        }
    }
}

/// The compression an input was found to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// A zstd frame (magic `28 B5 2F FD`).
    Zstd,
    /// A gzip member (magic `1F 8B`).
    Gzip,
}

/// The size of the buffer on the raw input, and of each read from a decoder.
pub(crate) const READ_BUFFER: usize = 256 * 1024;

/// Sniffs the compression of `input` and returns a buffered reader of the
/// decoded bytes.
///
/// A zstd or gzip stream is decoded on a second thread, a chunk or so ahead
/// of the reader, by the same decoder asked for the same 256 KiB per read as
/// a `BufReader` of that size would; `input` itself is still read on the
/// caller's thread, so it need not be `Send`.
pub fn open<'a, R: Read + 'a>(input: R) -> io::Result<(Box<dyn BufRead + 'a>, Compression)> {
    let (buffered, compression) = sniff(input)?;
    let decoded: Box<dyn BufRead + 'a> = match compression {
        Compression::Zstd => Box::new(Threaded::start(
            Box::new(buffered),
            Codec::Zstd,
            READ_BUFFER,
        )?),
        Compression::Gzip => Box::new(Threaded::start(
            Box::new(buffered),
            Codec::Gzip,
            READ_BUFFER,
        )?),
        Compression::None => Box::new(buffered),
    };
    Ok((decoded, compression))
}

/// Buffers the raw input and looks at its first bytes for a compression
/// magic number. The buffer is the one a decoder then reads from.
pub(crate) fn sniff<'a, R: Read + 'a>(
    input: R,
) -> io::Result<(BufReader<Box<dyn Read + 'a>>, Compression)> {
    // Read the first four bytes whatever size the input's reads come in
    // (a stream may hand them over one at a time), then put them back.
    let mut input = input;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = &head[..got];
    let input: Box<dyn Read + 'a> = Box::new(io::Cursor::new(head.to_vec()).chain(input));
    let buffered = BufReader::with_capacity(READ_BUFFER, input);
    let compression = if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Compression::Zstd
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Compression::Gzip
    } else {
        Compression::None
    };
    Ok((buffered, compression))
}

/// `Read::read` for a `BufRead`: copies what its buffer holds, up to `out`.
pub(crate) fn read_from_buffer<B: BufRead + ?Sized>(
    reader: &mut B,
    out: &mut [u8],
) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(out.len());
    out[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

/// The error a [`Tracked`] reader returns when a bound is crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The whole input is larger than `Limits::max_bytes`.
    Document {
        /// The bound, in bytes.
        limit: u64,
    },
    /// One token is larger than `Limits::max_token_bytes`.
    Token {
        /// The bound, in bytes.
        limit: u64,
    },
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Document { limit } => write!(
                f,
                "the decompressed input is larger than the limit of {limit} bytes; reading stopped"
            ),
            LimitExceeded::Token { limit } => write!(
                f,
                "one tag or text run is larger than the limit of {limit} bytes; reading stopped"
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

impl LimitExceeded {
    /// The limit error inside an I/O error, if that is what it is.
    pub fn from_io(error: &io::Error) -> Option<&LimitExceeded> {
        error.get_ref()?.downcast_ref::<LimitExceeded>()
    }
}

/// A `BufRead` that counts lines and bytes and enforces [`Limits`].
#[derive(Debug)]
pub struct Tracked<R> {
    inner: R,
    consumed: u64,
    newlines: u64,
    last_newline_end: u64,
    token_start: u64,
    max_bytes: u64,
    max_token_bytes: u64,
}

impl<R: BufRead> Tracked<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limits: &Limits) -> Tracked<R> {
        Tracked {
            inner,
            consumed: 0,
            newlines: 0,
            last_newline_end: 0,
            token_start: 0,
            max_bytes: limits.max_bytes,
            max_token_bytes: limits.max_token_bytes,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    /// The 1-based line of the next byte to be consumed.
    pub fn line(&self) -> u64 {
        self.newlines + 1
    }

    /// The 1-based line and column of the next byte to be consumed.
    pub fn line_column(&self) -> (u64, u64) {
        (self.newlines + 1, self.consumed - self.last_newline_end + 1)
    }

    /// Starts a new token: the per-token bound counts from here.
    pub fn mark_token(&mut self) {
        self.token_start = self.consumed;
    }
}

impl<R: BufRead> Tracked<R> {
    /// Reads one line (up to and without its `\n`) into `line`, keeping at
    /// most `max` bytes of it: the rest of a longer line is read and
    /// dropped, so memory stays bounded. `Ok(None)` at the end of input,
    /// `Ok(Some(false))` when the line was longer than `max`. The loaders of
    /// media exports and of product exports both read their rows with it.
    pub fn read_bounded_line(&mut self, line: &mut Vec<u8>, max: u64) -> io::Result<Option<bool>> {
        line.clear();
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut whole = true;
        let mut read_any = false;
        loop {
            // This bound is the line's; the reader's own per-token bound
            // restarts with each buffer.
            self.mark_token();
            let buf = self.fill_buf()?;
            if buf.is_empty() {
                return Ok(read_any.then_some(whole));
            }
            read_any = true;
            let (piece, done) = match memchr::memchr(b'\n', buf) {
                Some(at) => (&buf[..at], at + 1),
                None => (buf, buf.len()),
            };
            let room = max.saturating_sub(line.len());
            if piece.len() > room {
                whole = false;
            }
            line.extend_from_slice(&piece[..piece.len().min(room)]);
            let ended = done > piece.len();
            self.consume(done);
            if ended {
                return Ok(Some(whole));
            }
        }
    }
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        crate::input::read_from_buffer(self, out)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.token_start > self.max_token_bytes {
            let limit = self.max_token_bytes;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LimitExceeded::Token { limit },
            ));
        }
        let room = self.max_bytes.saturating_sub(self.consumed);
        let limit = self.max_bytes;
        let buf = self.inner.fill_buf()?;
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LimitExceeded::Document { limit },
            ));
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let taken = &buf[..amt.min(buf.len())];
            for at in memchr::memchr_iter(b'\n', taken) {
                self.newlines += 1;
                self.last_newline_end = self.consumed + at as u64 + 1;
            }
        }
        self.inner.consume(amt);
        self.consumed += amt as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_zstd_gzip_and_plain() {
        let text = b"<a>hello</a>\n".repeat(100);
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &text).unwrap();
        let gz = gz.finish().unwrap();
        for (bytes, expect) in [
            (&text[..], Compression::None),
            (&zst[..], Compression::Zstd),
            (&gz[..], Compression::Gzip),
        ] {
            let (mut reader, found) = open(bytes).unwrap();
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(found, expect);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn counts_lines_and_columns() {
        let mut tracked = Tracked::new(&b"ab\ncd\nef"[..], &Limits::default());
        let mut line = String::new();
        tracked.read_line(&mut line).unwrap();
        assert_eq!(tracked.line_column(), (2, 1));
        tracked.consume(1);
        assert_eq!(tracked.line_column(), (2, 2));
        assert_eq!(tracked.offset(), 4);
    }

    #[test]
    fn a_bomb_stops_at_the_limit_with_a_clear_error() {
        let zeros = vec![b'a'; 10_000_000];
        let zst = zstd::encode_all(&zeros[..], 3).unwrap();
        assert!(zst.len() < 10_000);
        let (decoded, _) = open(&zst[..]).unwrap();
        let limits = Limits {
            max_bytes: 1_000_000,
            max_token_bytes: u64::MAX,
            ..Limits::default()
        };
        let mut tracked = Tracked::new(decoded, &limits);
        let err = io::copy(&mut tracked, &mut io::sink()).unwrap_err();
        assert_eq!(
            LimitExceeded::from_io(&err),
            Some(&LimitExceeded::Document { limit: 1_000_000 })
        );
        assert!(
            err.to_string()
                .contains("larger than the limit of 1000000 bytes")
        );
    }

    #[test]
    fn a_token_larger_than_the_bound_is_refused() {
        let data = vec![b'x'; 100_000];
        let limits = Limits {
            max_token_bytes: 10_000,
            ..Limits::default()
        };
        let mut tracked = Tracked::new(BufReader::with_capacity(4096, &data[..]), &limits);
        let err = io::copy(&mut tracked, &mut io::sink()).unwrap_err();
        assert!(matches!(
            LimitExceeded::from_io(&err),
            Some(LimitExceeded::Token { limit: 10_000 })
        ));
    }
}
