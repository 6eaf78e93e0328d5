//! The rows of a JSON Lines export, parsed on a second core.
//!
//! Parsing JSON is most of what loading an export costs, and it needs no
//! state: [`JsonRows`] reads lines on the caller's thread (the input need
//! not be `Send`), hands them in chunks of [`CHUNK_BYTES`] to one worker
//! thread that parses them, and gives the parsed rows back in the order of
//! the lines, so the caller's thread checks rows and writes XML while the
//! next chunk is parsed. At most two chunks are in flight: memory stays flat
//! whatever the export's size. With one core the caller's thread parses.
//!
//! What a row becomes is the caller's: `parse` (a plain function, run on the
//! worker) turns a line into a row; `too_long` turns the kept start of a line
//! over the bound into one, on the caller's thread.

use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::input::Tracked;

/// Bytes of lines handed to the worker at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// Chunks parsed or being parsed ahead of the caller.
const IN_FLIGHT: usize = 2;

/// Lines to parse, with their line numbers.
struct Chunk<T> {
    bytes: Vec<u8>,
    rows: Vec<ChunkRow<T>>,
}

enum ChunkRow<T> {
    /// A line to parse: its number and `bytes[start..end]`.
    Line {
        number: u64,
        start: usize,
        end: usize,
    },
    /// A row made on the caller's thread (a line over the bound).
    Ready(T),
}

fn parse_chunk<T>(chunk: Chunk<T>, parse: fn(u64, &[u8]) -> T) -> Vec<T> {
    let Chunk { bytes, rows } = chunk;
    rows.into_iter()
        .map(|row| match row {
            ChunkRow::Line { number, start, end } => parse(number, &bytes[start..end]),
            ChunkRow::Ready(row) => row,
        })
        .collect()
}

/// The worker thread and its two channels.
struct Worker<T> {
    jobs: Option<SyncSender<Chunk<T>>>,
    done: Receiver<Vec<T>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    fn start(parse: fn(u64, &[u8]) -> T) -> io::Result<Worker<T>> {
        let (jobs, queue) = mpsc::sync_channel::<Chunk<T>>(IN_FLIGHT);
        let (finished, done) = mpsc::sync_channel(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("json-rows".into())
            .spawn(move || {
                for chunk in queue {
                    if finished.send(parse_chunk(chunk, parse)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        // Closing the queue ends the worker's loop once the chunks queued
        // are parsed; their answers are drained so it never blocks sending
        // one, and the channel closes when it ends.
        self.jobs = None;
        while self.done.recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Makes the row of a line over the bound from the start of it kept.
pub(crate) type TooLong<'a, T> = Box<dyn Fn(u64, &[u8]) -> T + 'a>;

/// The parsed rows of a JSON Lines input, in order (see the module doc).
pub(crate) struct JsonRows<'a, T> {
    input: Tracked<Box<dyn BufRead + 'a>>,
    max_line: u64,
    line: Vec<u8>,
    line_number: u64,
    parse: fn(u64, &[u8]) -> T,
    too_long: TooLong<'a, T>,
    ready: VecDeque<T>,
    worker: Option<Worker<T>>,
    in_flight: usize,
    ended: bool,
    error: Option<io::Error>,
}

impl<'a, T: Send + 'static> JsonRows<'a, T> {
    /// Rows of `input`, lines bounded to `max_line` bytes. A worker thread
    /// parses when the machine has a second core.
    pub(crate) fn new(
        input: Tracked<Box<dyn BufRead + 'a>>,
        max_line: u64,
        parse: fn(u64, &[u8]) -> T,
        too_long: TooLong<'a, T>,
    ) -> JsonRows<'a, T> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // No thread to be had is not an error: the caller's thread parses.
        let worker = (cores > 1).then(|| Worker::start(parse).ok()).flatten();
        JsonRows {
            input,
            max_line,
            line: Vec::new(),
            line_number: 0,
            parse,
            too_long,
            ready: VecDeque::new(),
            worker,
            in_flight: 0,
            ended: false,
            error: None,
        }
    }

    /// The input as read so far (ahead of the rows handed out by up to two
    /// chunks).
    pub(crate) fn input(&self) -> &Tracked<Box<dyn BufRead + 'a>> {
        &self.input
    }

    /// The next row; `Ok(None)` at the end. An error of the input comes
    /// after every row read before it.
    pub(crate) fn next_row(&mut self) -> io::Result<Option<T>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Ok(Some(row));
            }
            if self.worker.is_none() {
                if self.ended {
                    return self.end();
                }
                let chunk = self.read_chunk();
                self.ready.extend(parse_chunk(chunk, self.parse));
                continue;
            }
            while self.in_flight < IN_FLIGHT && !self.ended {
                let chunk = self.read_chunk();
                if chunk.rows.is_empty() {
                    continue;
                }
                let sent = self
                    .worker
                    .as_ref()
                    .and_then(|w| w.jobs.as_ref())
                    .is_some_and(|jobs| jobs.send(chunk).is_ok());
                if !sent {
                    return Err(stopped());
                }
                self.in_flight += 1;
            }
            if self.in_flight == 0 {
                return self.end();
            }
            let rows = match &self.worker {
                Some(worker) => worker.done.recv().map_err(|_| stopped())?,
                None => return Err(stopped()),
            };
            self.in_flight -= 1;
            self.ready.extend(rows);
        }
    }

    fn end(&mut self) -> io::Result<Option<T>> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// Reads lines up to [`CHUNK_BYTES`]; at the end of the input or at an
    /// error (kept for after the rows), `ended` is set.
    fn read_chunk(&mut self) -> Chunk<T> {
        let mut chunk = Chunk {
            bytes: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            rows: Vec::new(),
        };
        while chunk.bytes.len() < CHUNK_BYTES {
            let whole = match self.input.read_bounded_line(&mut self.line, self.max_line) {
                Ok(Some(whole)) => whole,
                Ok(None) => {
                    self.ended = true;
                    break;
                }
                Err(error) => {
                    self.error = Some(error);
                    self.ended = true;
                    break;
                }
            };
            self.line_number += 1;
            if !whole {
                let row = (self.too_long)(self.line_number, &self.line);
                chunk.rows.push(ChunkRow::Ready(row));
                continue;
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let start = chunk.bytes.len();
            chunk.bytes.extend_from_slice(&self.line);
            chunk.rows.push(ChunkRow::Line {
                number: self.line_number,
                start,
                end: chunk.bytes.len(),
            });
        }
        chunk
    }
}

fn stopped() -> io::Error {
    io::Error::other("the thread parsing the export's rows stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Limits;

    fn rows(text: &[u8], max_line: u64) -> (Vec<(u64, String)>, Option<io::Error>) {
        let input: Box<dyn BufRead> = Box::new(text);
        let tracked = Tracked::new(input, &Limits::default());
        let mut rows = JsonRows::new(
            tracked,
            max_line,
            |n, line| (n, String::from_utf8_lossy(line).into_owned()),
            Box::new(|n, _| (n, "TOO LONG".to_owned())),
        );
        let mut out = Vec::new();
        loop {
            match rows.next_row() {
                Ok(Some(row)) => out.push(row),
                Ok(None) => return (out, None),
                Err(error) => return (out, Some(error)),
            }
        }
    }

    #[test]
    fn rows_come_back_in_line_order_across_many_chunks() {
        let mut text = Vec::new();
        let mut expected = Vec::new();
        for n in 1..=60_000u64 {
            if n % 101 == 0 {
                text.extend_from_slice(b"  \n");
            } else if n % 997 == 0 {
                text.extend(std::iter::repeat_n(b'z', 300));
                text.push(b'\n');
                expected.push((n, "TOO LONG".to_owned()));
            } else {
                let line = format!("{{\"n\":{n}}}");
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
                expected.push((n, line));
            }
        }
        let (out, error) = rows(&text, 200);
        assert!(error.is_none());
        assert_eq!(out, expected);
    }

    #[test]
    fn a_last_line_without_a_newline_is_a_row() {
        let (out, _) = rows(b"a\nb", 100);
        assert_eq!(out, vec![(1, "a".to_owned()), (2, "b".to_owned())]);
    }
}
