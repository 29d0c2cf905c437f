//! Input lines from raw bytes: split on newlines without ever losing a partial line, and refuse lines that are not clean text.
//!
//! [`LineReader::next`] is cancel-safe (it only awaits `fill_buf`, which consumes nothing), so
//! the adapter can wait for input and for the core at once.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line taken, in bytes; a longer one is refused (and read to its end).
pub const MAX_LINE: usize = 16 * 1024;

/// What one input line amounts to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Clean text, without its line ending.
    Text(String),
    /// Not taken; the reply says why.
    Refused(String),
    /// The input has ended.
    End,
}

pub(crate) struct LineReader<I> {
    input: I,
    pending: Vec<u8>,
    /// Lines read so far (the next is `number + 1`).
    number: usize,
    /// Skipping the rest of a line that was too long.
    discarding: bool,
    ended: bool,
}

impl<I: AsyncBufRead + Unpin> LineReader<I> {
    pub(crate) fn new(input: I) -> Self {
        LineReader {
            input,
            pending: Vec::new(),
            number: 0,
            discarding: false,
            ended: false,
        }
    }

    /// The next line. Cancel-safe.
    pub(crate) async fn next(&mut self) -> io::Result<Line> {
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if std::mem::take(&mut self.discarding) {
                    continue;
                }
                self.number += 1;
                if line.len() > MAX_LINE {
                    return Ok(self.too_long());
                }
                return Ok(check(self.number, &line[..line.len() - 1]));
            }
            if self.ended {
                if self.pending.is_empty() || self.discarding {
                    self.pending.clear();
                    return Ok(Line::End);
                }
                let line = std::mem::take(&mut self.pending);
                self.number += 1;
                return Ok(check(self.number, &line));
            }
            if self.pending.len() > MAX_LINE && !self.discarding {
                self.pending.clear();
                self.discarding = true;
                self.number += 1;
                return Ok(self.too_long());
            }
            if self.discarding {
                self.pending.clear();
            }
            let chunk = self.input.fill_buf().await?;
            if chunk.is_empty() {
                self.ended = true;
                continue;
            }
            let taken = chunk.len();
            self.pending.extend_from_slice(chunk);
            self.input.consume(taken);
        }
    }
}

impl<I> LineReader<I> {
    fn too_long(&self) -> Line {
        Line::Refused(format!(
            "refused line {}: it is longer than {MAX_LINE} bytes; nothing was run",
            self.number
        ))
    }
}

/// Clean text, or why not: valid UTF-8 without control characters (a tab is fine, and a
/// carriage return at the end of a line is dropped).
fn check(number: usize, bytes: &[u8]) -> Line {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let at = error.valid_up_to();
            return Line::Refused(format!(
                "refused line {number}: it is not UTF-8 text (byte 0x{:02x} at position {}); nothing was run",
                bytes[at],
                at + 1
            ));
        }
    };
    if let Some((column, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && *c != '\t')
    {
        return Line::Refused(format!(
            "refused line {number}: it holds a control character (U+{:04X} at column {}); nothing was run",
            c as u32,
            column + 1
        ));
    }
    Line::Text(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8]) -> Vec<Line> {
        let mut reader = LineReader::new(input);
        let mut lines = Vec::new();
        loop {
            let line = reader.next().await.unwrap();
            if line == Line::End {
                return lines;
            }
            lines.push(line);
        }
    }

    #[tokio::test]
    async fn bad_bytes_refuse_their_line_only() {
        let lines = all(b"status\n\xff\nst\x00atus\r\n\x1b[31mred\ncaf\xc3\xa9\ttab\r\nlast").await;
        assert_eq!(lines[0], Line::Text("status".into()));
        assert_eq!(
            lines[1],
            Line::Refused(
                "refused line 2: it is not UTF-8 text (byte 0xff at position 1); nothing was run"
                    .into()
            )
        );
        assert_eq!(
            lines[2],
            Line::Refused(
                "refused line 3: it holds a control character (U+0000 at column 3); nothing was run"
                    .into()
            )
        );
        assert!(matches!(&lines[3], Line::Refused(why) if why.contains("U+001B")));
        assert_eq!(lines[4], Line::Text("café\ttab".into()));
        assert_eq!(lines[5], Line::Text("last".into()));
        assert_eq!(lines.len(), 6);
    }

    #[tokio::test]
    async fn a_huge_line_is_refused_once_and_the_next_one_is_read() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nstatus\n");
        let lines = all(&input).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(matches!(&lines[0], Line::Refused(why) if why.contains("longer than")));
        assert_eq!(lines[1], Line::Text("status".into()));
    }
}
