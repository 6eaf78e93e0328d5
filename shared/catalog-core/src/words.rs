//! Scans of text eight bytes at a time: every byte of a `u64` word is
//! tested at once (the zero-byte trick) for a few delimiters.
//!
//! A flag is the top bit of a byte. The lowest flag of a word is always
//! exact; flags above it may be wrong either way (a borrow only travels
//! up from a byte that matched: it can flag a byte above that does not
//! match, or, for [`below`] 0x80, hide one that does), so a scan takes the
//! lowest flag as its answer, or looks closer at a flagged word.

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Flags the bytes of `word` below `n` (at most 0x80).
#[inline]
pub(crate) fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(LOW * u64::from(n)) & !word & HIGH
}

/// Flags the bytes of `word` equal to `b`.
#[inline]
pub(crate) fn equal(word: u64, b: u8) -> u64 {
    below(word ^ (LOW * u64::from(b)), 1)
}

/// The words of `bytes`, eight bytes at a time, and where each starts;
/// the bytes after the last whole word are the caller's.
#[inline]
fn words(bytes: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
    bytes
        .chunks_exact(8)
        .enumerate()
        .filter_map(|(i, word)| Some((i * 8, u64::from_le_bytes(word.try_into().ok()?))))
}

/// Where the first byte of `bytes` that `stop` accepts is. `in_word`
/// flags the same bytes of a word (exact for the lowest, as [`below`] and
/// [`equal`] are, and any `|` of them).
#[inline]
pub(crate) fn first(
    bytes: &[u8],
    in_word: impl Fn(u64) -> u64,
    stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    for (at, word) in words(bytes) {
        let found = in_word(word);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
    }
    let tail = bytes.len() - bytes.len() % 8;
    let rest = bytes.get(tail..).unwrap_or_default();
    rest.iter().position(|&b| stop(b)).map(|i| tail + i)
}

/// Whether a byte of `bytes` is one `is` accepts. `candidates` flags at
/// least those bytes of a word (it may flag more: a flagged word is looked
/// at byte by byte).
#[inline]
pub(crate) fn any(bytes: &[u8], candidates: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> bool {
    let tail = bytes.len() - bytes.len() % 8;
    words(bytes).any(|(at, word)| {
        candidates(word) != 0
            && bytes
                .get(at..at + 8)
                .is_some_and(|w| w.iter().any(|&b| is(b)))
    }) || bytes
        .get(tail..)
        .is_some_and(|rest| rest.iter().any(|&b| is(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts with every byte in every place of words and tails, after
    /// fillers that make borrows (zero bytes, high bytes) and other matches.
    fn texts() -> Vec<Vec<u8>> {
        let fillers: [&[u8]; 4] = [
            b"abcdefghijklmnop",
            b"\xff\x80\xc3\xa9xyz",
            b"\x00\x21\x3c\x01",
            b"==''\"&",
        ];
        let mut texts = Vec::new();
        for len in 0..=20 {
            for filler in fillers {
                let base: Vec<u8> = filler.iter().copied().cycle().take(len).collect();
                for place in 0..=len {
                    for b in 0..=255u8 {
                        let mut text = base.clone();
                        text.insert(place, b);
                        texts.push(text);
                    }
                }
            }
        }
        texts
    }

    #[test]
    fn word_scans_find_what_byte_scans_find() {
        let stop = |b: u8| b < 0x0E || b == b'&' || b == 0xEF;
        let in_word = |w: u64| below(w, 0x0E) | equal(w, b'&') | equal(w, 0xEF);
        // Candidates that flag more than the bytes looked for.
        let space = |b: u8| matches!(b, b'\t'..=b'\r' | b' ');
        for text in texts() {
            let expected = text.iter().position(|&b| stop(b));
            assert_eq!(first(&text, in_word, stop), expected, "{text:?}");
            assert_eq!(any(&text, in_word, stop), expected.is_some(), "{text:?}");
            let spaced = text.iter().any(|&b| space(b));
            assert_eq!(
                any(&text, |w| below(w, b' ' + 1), space),
                spaced,
                "{text:?}"
            );
        }
    }
}
