//! A synthetic JSON Lines report of any size, generated as it is read (never
//! held), for tests and benchmarks of the streaming parser.

use std::io::{self, Read};

/// A JSON Lines report of `items` items, one in `reject_every` rejected
/// (with one of three error codes), the rest accepted; a header line first.
/// Each line is about 130 bytes.
#[derive(Debug)]
pub struct SyntheticJsonLines {
    items: u64,
    reject_every: u64,
    next: u64,
    line: Vec<u8>,
    at: usize,
}

impl SyntheticJsonLines {
    /// A report of `items` items.
    pub fn new(items: u64, reject_every: u64) -> SyntheticJsonLines {
        let header = b"{\"report_id\":\"SYNTHETIC\",\"manifest\":\"catalog-synthetic.manifest\",\"status\":\"PARTIAL\"}\n";
        SyntheticJsonLines {
            items,
            reject_every: reject_every.max(1),
            next: 0,
            line: header.to_vec(),
            at: 0,
        }
    }

    /// How many items will be rejected.
    pub fn rejected(&self) -> u64 {
        self.items / self.reject_every
    }

    fn fill(&mut self) -> bool {
        if self.next >= self.items {
            return false;
        }
        let n = self.next;
        self.next += 1;
        self.line.clear();
        self.at = 0;
        let line = if (n + 1).is_multiple_of(self.reject_every) {
            let code = ["INVALID_RATING", "MISSING_PARENT", "BAD_IMAGE_URL"][(n % 3) as usize];
            format!(
                "{{\"item_id\":\"MOVIE_{n:012}\",\"version\":{v},\"status\":\"REJECTED\",\"error_code\":\"{code}\",\"message\":\"the value is not valid for this field\"}}\n",
                v = n % 7 + 1
            )
        } else {
            format!(
                "{{\"item_id\":\"MOVIE_{n:012}\",\"version\":{v},\"status\":\"ACCEPTED\",\"message\":\"ingested without any problem at all\",\"locale\":\"en-US\"}}\n",
                v = n % 7 + 1
            )
        };
        self.line.extend_from_slice(line.as_bytes());
        true
    }
}

impl Read for SyntheticJsonLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if self.at == self.line.len() && !self.fill() {
                break;
            }
            let n = (self.line.len() - self.at).min(out.len() - written);
            out[written..written + n].copy_from_slice(&self.line[self.at..self.at + n]);
            self.at += n;
            written += n;
        }
        Ok(written)
    }
}
