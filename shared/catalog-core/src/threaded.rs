//! Work on other threads, fed from the caller's thread.
//!
//! Decoding zstd or gzip (and, for the reader, tokenizing XML: see
//! [`xml_events`](crate::xml_events)) can run on another core while the
//! caller's thread does the rest. The raw input stays on the caller's thread
//! (it need not be `Send` or `'static`): a worker asks for bytes, the
//! caller's thread reads them (while it waits for the workers' output) and
//! passes them over, one chunk ahead. Whatever a worker runs (the same
//! `zstd::Decoder`, `MultiGzDecoder` or XML reader as on one thread) sees
//! exactly the bytes and errors it would have seen, in the same order and
//! with the same read sizes, so its output and its errors are unchanged; an
//! error of the raw input is passed through as the very same `io::Error`.
//!
//! [`Feeder`] is the caller's side, [`Worker`] a worker's sending end,
//! [`ChannelInput`] a worker's view of the raw input. [`Threaded`] is a `BufRead` of bytes
//! decoded on a worker, used by [`input::open`](crate::input::open).
//! Channels are bounded, so memory stays small however far a worker could
//! run ahead. Dropping the feeder closes the channels: each worker stops at
//! its next send or receive, and is joined.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// What the worker tells the caller's side.
pub(crate) enum FromWorker<T> {
    /// Output.
    Data(T),
    /// The worker wants the next chunk of raw input.
    NeedInput,
    /// The worker finished cleanly; nothing follows.
    End,
    /// The worker failed; nothing follows.
    Failed(io::Error),
}

/// Raw input handed to the worker: bytes (empty at the end) or the raw
/// input's error.
type Input = io::Result<Vec<u8>>;

/// How many outputs may wait in the channel while the caller's side works.
const QUEUED: usize = 2;

/// The worker's view of the raw input: a `BufRead` fed over a channel.
pub(crate) struct ChannelInput<T> {
    chunk: Vec<u8>,
    pos: usize,
    eof: bool,
    /// A request for input is outstanding.
    requested: bool,
    input: Receiver<Input>,
    requests: SyncSender<FromWorker<T>>,
}

fn stopped() -> io::Error {
    io::Error::other("the reading side went away")
}

impl<T> ChannelInput<T> {
    fn request(&mut self) -> io::Result<()> {
        if !self.requested {
            self.requests
                .send(FromWorker::NeedInput)
                .map_err(|_| stopped())?;
            self.requested = true;
        }
        Ok(())
    }
}

impl<T> Read for ChannelInput<T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        crate::input::read_from_buffer(self, out)
    }
}

impl<T> BufRead for ChannelInput<T> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.chunk.len() && !self.eof {
            self.request()?;
            let next = self.input.recv().map_err(|_| stopped())?;
            self.requested = false;
            let chunk = next?;
            self.eof = chunk.is_empty();
            self.chunk = chunk;
            self.pos = 0;
            if !self.eof {
                // Ask for the next chunk now, so it is read while this one is used.
                self.request()?;
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.chunk.len());
    }
}

/// The worker's side: where its output goes, and spent outputs come back.
pub(crate) struct Worker<T> {
    output: SyncSender<FromWorker<T>>,
    recycled: Receiver<T>,
}

impl<T> Worker<T> {
    /// Sends one output; false when the caller's side is gone.
    pub(crate) fn send(&self, data: T) -> bool {
        self.output.send(FromWorker::Data(data)).is_ok()
    }

    /// [`send`](Self::send), but when the caller's side has all the output
    /// it can queue, so that this worker would wait, `spare_time` works on
    /// the output first.
    pub(crate) fn send_or(&self, data: T, spare_time: impl FnOnce(&mut T)) -> bool {
        let mut message = match self.output.try_send(FromWorker::Data(data)) {
            Ok(()) => return true,
            Err(mpsc::TrySendError::Disconnected(_)) => return false,
            Err(mpsc::TrySendError::Full(message)) => message,
        };
        if let FromWorker::Data(data) = &mut message {
            spare_time(data);
        }
        self.output.send(message).is_ok()
    }

    /// Ends the work, cleanly or with an error.
    pub(crate) fn finish(self, outcome: io::Result<()>) {
        let last = match outcome {
            Ok(()) => FromWorker::End,
            Err(error) => FromWorker::Failed(error),
        };
        // The caller's side may be gone already; nothing is left to do either way.
        let _ = self.output.send(last);
    }

    /// A spent output to reuse, if one came back.
    pub(crate) fn reuse(&self) -> Option<T> {
        self.recycled.try_recv().ok()
    }
}

/// Where decoded [`Chunk`]s come from.
pub(crate) trait Chunks {
    /// The next message; `None` when the sender is gone without a word.
    fn next_chunk(&mut self) -> Option<FromWorker<Chunk>>;
    /// Gives a spent chunk back for reuse.
    fn recycle(&self, spent: Chunk);
}

impl Chunks for Feeder<'_, Chunk> {
    fn next_chunk(&mut self) -> Option<FromWorker<Chunk>> {
        self.recv()
    }

    fn recycle(&self, spent: Chunk) {
        Feeder::recycle(self, spent);
    }
}

/// The channels of a running worker; dropping them tells it to stop.
struct Channels<T> {
    output: Receiver<FromWorker<T>>,
    input: SyncSender<Input>,
    recycle: SyncSender<T>,
}

/// The caller's side of a worker: feeds it raw input, receives its output.
pub(crate) struct Feeder<'a, T> {
    raw: Box<dyn BufRead + 'a>,
    channels: Option<Channels<T>>,
    /// The threads working for this feeder, joined when it is dropped.
    workers: Vec<JoinHandle<()>>,
}

impl<T> fmt::Debug for Feeder<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feeder")
            .field("running", &self.channels.is_some())
            .finish_non_exhaustive()
    }
}

/// The parts made before a worker starts: `input` and `worker` go to the
/// work, `feeder` to [`Feeder::new`].
pub(crate) struct Plumbing<T> {
    pub(crate) input: ChannelInput<T>,
    pub(crate) worker: Worker<T>,
    pub(crate) feeder: FeederChannels<T>,
}

/// The caller's ends of a worker's channels.
pub(crate) struct FeederChannels<T>(Channels<T>);

/// Makes the channels for a worker whose output is `T`.
pub(crate) fn plumbing<T>() -> Plumbing<T> {
    let (output_tx, output_rx) = mpsc::sync_channel(QUEUED);
    // At most one request is outstanding, so the feeder never waits here.
    let (input_tx, input_rx) = mpsc::sync_channel(2);
    let (recycle_tx, recycle_rx) = mpsc::sync_channel(QUEUED + 2);
    Plumbing {
        input: ChannelInput {
            chunk: Vec::new(),
            pos: 0,
            eof: false,
            requested: false,
            input: input_rx,
            requests: output_tx.clone(),
        },
        worker: Worker {
            output: output_tx,
            recycled: recycle_rx,
        },
        feeder: FeederChannels(Channels {
            output: output_rx,
            input: input_tx,
            recycle: recycle_tx,
        }),
    }
}

impl<'a, T> Feeder<'a, T> {
    /// A feeder of `raw` for the workers of the same [`plumbing`] as
    /// `channels`, which [`spawn`](Self::spawn) then starts.
    pub(crate) fn new(raw: Box<dyn BufRead + 'a>, channels: FeederChannels<T>) -> Feeder<'a, T> {
        Feeder {
            raw,
            channels: Some(channels.0),
            workers: Vec::new(),
        }
    }

    /// Starts `work` on a new thread, joined when the feeder is dropped.
    /// `work` owns its parts of the plumbing.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let worker = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(work)?;
        self.workers.push(worker);
        Ok(())
    }
}

impl<T> Feeder<'_, T> {
    /// The worker's next message other than a request for input (those are
    /// served here). `None` when the worker is gone without a last word.
    pub(crate) fn recv(&mut self) -> Option<FromWorker<T>> {
        loop {
            let message = self.channels.as_ref()?.output.recv().ok()?;
            match message {
                FromWorker::NeedInput => self.feed(),
                other => return Some(other),
            }
        }
    }

    /// Gives a spent output back to the worker for reuse.
    pub(crate) fn recycle(&self, spent: T) {
        if let Some(channels) = &self.channels {
            // The pool may be full or the worker gone: then `spent` is dropped.
            let _ = channels.recycle.try_send(spent);
        }
    }

    /// Reads the next chunk of raw input and passes it to the worker.
    fn feed(&mut self) {
        let next = loop {
            match self.raw.fill_buf() {
                Ok(bytes) => break Ok(bytes.to_vec()),
                // Readers retry these; the worker's would too.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        if let Ok(bytes) = &next {
            self.raw.consume(bytes.len());
        }
        if let Some(channels) = &self.channels {
            // A worker that is gone says why on the output channel.
            let _ = channels.input.send(next);
        }
    }
}

impl<T> Drop for Feeder<'_, T> {
    fn drop(&mut self) {
        // Closing the channels makes the worker's next send or receive fail.
        drop(self.channels.take());
        for worker in self.workers.drain(..) {
            // A worker that panicked has nothing more to say.
            let _ = worker.join();
        }
    }
}

/// The size of one chunk of decoded output.
const CHUNK: usize = 512 * 1024;

/// Decoded bytes, and where each `read` of the decoder that made them ended.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// The decoders a worker can run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Codec {
    Zstd,
    Gzip,
}

/// Starts a decoder of `codec` on a new thread of `feeder`, reading what
/// the feeder is fed (through `input`) and sending chunks to `output`.
/// The decoder is asked for `window` bytes per `read`.
pub(crate) fn start_decoder<T: Send + 'static>(
    feeder: &mut Feeder<'_, T>,
    input: ChannelInput<T>,
    codec: Codec,
    window: usize,
    output: Worker<Chunk>,
) -> io::Result<()> {
    match codec {
        Codec::Zstd => {
            // Made here, so a decoder that cannot be made fails the open.
            let decoder = zstd::Decoder::with_buffer(input)?;
            feeder.spawn("zstd-decode", move || pump(decoder, output, window))
        }
        // The gzip decoder reads the header as it is made, so it is made
        // on the worker, where waiting for input cannot block the feeder.
        Codec::Gzip => feeder.spawn("gzip-decode", move || {
            pump(flate2::bufread::MultiGzDecoder::new(input), output, window);
        }),
    }
}

/// Runs on the worker: decodes into chunks until the end, an error, or the
/// receiving side going away.
///
/// The decoder is asked for exactly `window` bytes per `read`, as the
/// `BufReader` that used to sit on it did: its output, and its error on a
/// corrupt stream, can depend on that size. Each `read`'s output is kept
/// apart ([`Chunk::ends`]), so the reading side sees the same reads.
fn pump<D: Read>(mut decoder: D, output: Worker<Chunk>, window: usize) {
    let size = CHUNK.max(window);
    loop {
        let mut chunk = output.reuse().unwrap_or_default();
        chunk.ends.clear();
        if chunk.bytes.len() != size {
            chunk.bytes = vec![0; size];
        }
        let mut filled = 0;
        let outcome = loop {
            if filled + window > size {
                break None;
            }
            match decoder.read(&mut chunk.bytes[filled..filled + window]) {
                Ok(0) => break Some(Ok(())),
                Ok(n) => {
                    filled += n;
                    chunk.ends.push(filled);
                }
                Err(error) => break Some(Err(error)),
            }
        };
        if filled > 0 && !output.send(chunk) {
            return;
        }
        if let Some(outcome) = outcome {
            return output.finish(outcome);
        }
    }
}

/// A `BufRead` over decoded chunks, giving out one decoder `read` at a time.
pub(crate) struct Segments<C: Chunks> {
    source: C,
    chunk: Chunk,
    /// The segment being read, the position in `chunk.bytes`, and where
    /// the segment ends (`pos` when there is none).
    segment: usize,
    pos: usize,
    end: usize,
    /// The stream ended; nothing more will come.
    done: bool,
    /// The decoder failed; reading on is an error.
    failed: bool,
}

impl<C: Chunks> Segments<C> {
    pub(crate) fn new(source: C) -> Segments<C> {
        Segments {
            source,
            chunk: Chunk::default(),
            segment: 0,
            pos: 0,
            end: 0,
            done: false,
            failed: false,
        }
    }

    fn set_end(&mut self) {
        self.end = self
            .chunk
            .ends
            .get(self.segment)
            .copied()
            .unwrap_or(self.pos);
    }

    /// Moves to the next segment, waiting for the next chunk if need be.
    #[cold]
    #[inline(never)]
    fn advance(&mut self) -> io::Result<()> {
        if self.segment < self.chunk.ends.len() {
            self.segment += 1;
            self.set_end();
            if self.segment < self.chunk.ends.len() {
                return Ok(());
            }
        }
        if self.failed {
            return Err(io::Error::other(
                "the decompressed stream failed earlier; nothing more can be read",
            ));
        }
        if self.done {
            return Ok(());
        }
        match self.source.next_chunk() {
            Some(FromWorker::Data(chunk)) => {
                let spent = mem::replace(&mut self.chunk, chunk);
                self.source.recycle(spent);
                self.segment = 0;
                self.pos = 0;
                self.set_end();
                Ok(())
            }
            // NeedInput goes to the feeder only.
            Some(FromWorker::End | FromWorker::NeedInput) => {
                self.done = true;
                Ok(())
            }
            Some(FromWorker::Failed(error)) => {
                self.done = true;
                self.failed = true;
                Err(error)
            }
            None => {
                self.done = true;
                self.failed = true;
                Err(io::Error::other(
                    "the decompression thread stopped unexpectedly",
                ))
            }
        }
    }
}

impl<C: Chunks> Read for Segments<C> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        crate::input::read_from_buffer(self, out)
    }
}

impl<C: Chunks> BufRead for Segments<C> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.end {
            self.advance()?;
        }
        Ok(self.chunk.bytes.get(self.pos..self.end).unwrap_or_default())
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.end);
    }
}

/// A `BufRead` of bytes decoded on a worker thread, fed from the caller's.
pub(crate) struct Threaded<'a> {
    segments: Segments<Feeder<'a, Chunk>>,
}

impl fmt::Debug for Threaded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Threaded")
            .field("pos", &self.segments.pos)
            .field("done", &self.segments.done)
            .finish_non_exhaustive()
    }
}

impl<'a> Threaded<'a> {
    /// Starts a worker decoding what `raw` holds, asking the decoder for
    /// `window` bytes at a time. Fails only when the decoder cannot be
    /// created or the thread cannot be started.
    pub(crate) fn start(
        raw: Box<dyn BufRead + 'a>,
        codec: Codec,
        window: usize,
    ) -> io::Result<Threaded<'a>> {
        let Plumbing {
            input,
            worker,
            feeder,
        } = plumbing();
        let mut feeder = Feeder::new(raw, feeder);
        start_decoder(&mut feeder, input, codec, window, worker)?;
        Ok(Threaded {
            segments: Segments::new(feeder),
        })
    }
}

impl Read for Threaded<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.segments.read(out)
    }
}

impl BufRead for Threaded<'_> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.segments.fill_buf()
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.segments.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

    use crate::input::{Compression, open};

    #[test]
    fn decodes_what_one_thread_decodes() {
        let text: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &text).unwrap();
        let gz = gz.finish().unwrap();
        for (bytes, expect) in [(&zst, Compression::Zstd), (&gz, Compression::Gzip)] {
            let (mut reader, found) = open(&bytes[..]).unwrap();
            assert_eq!(found, expect);
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert_eq!(out, text);
            // Reading on after the end finds the end again.
            assert_eq!(reader.read(&mut [0; 16]).unwrap(), 0);
        }
    }

    #[test]
    fn dropping_early_ends_the_worker() {
        let text = vec![b'x'; 50_000_000];
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let (mut reader, _) = open(&zst[..]).unwrap();
        let mut first = [0; 1000];
        reader.read_exact(&mut first).unwrap();
        // Drop joins the worker, which is blocked on a full channel.
        drop(reader);
    }
}
