//! Splitting a line into words that remember where they stand in it.

/// One whitespace-separated word of a line and its byte offset in that line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok<'a> {
    pub text: &'a str,
    pub start: usize,
}

impl<'a> Tok<'a> {
    /// Whether this word is the keyword `keyword` (ASCII case ignored).
    pub fn is(&self, keyword: &str) -> bool {
        self.text.eq_ignore_ascii_case(keyword)
    }

    /// The part of this word from byte `from` to byte `to`.
    pub fn slice(&self, from: usize, to: usize) -> Tok<'a> {
        Tok {
            text: &self.text[from..to],
            start: self.start + from,
        }
    }

    /// The byte offset just past this word.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// The words of `line`, split on any run of whitespace.
pub(crate) fn words(line: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push(Tok {
                    text: &line[s..i],
                    start: s,
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Tok {
            text: &line[s..],
            start: s,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_offsets() {
        let line = "  deploy   blog/v1\u{A0}to live ";
        let got: Vec<(&str, usize)> = words(line).iter().map(|t| (t.text, t.start)).collect();
        assert_eq!(
            got,
            [("deploy", 2), ("blog/v1", 11), ("to", 20), ("live", 23)]
        );
        assert!(words("   ").is_empty());
    }

    #[test]
    fn keywords_ignore_case_and_slices_keep_offsets() {
        let w = words("x TO blog/v1");
        assert!(w[1].is("to"));
        assert!(!w[1].is("t"));
        let r = w[2].slice(5, 7);
        assert_eq!((r.text, r.start, r.end()), ("v1", 10, 12));
    }
}
