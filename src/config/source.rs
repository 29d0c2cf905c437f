//! One configuration file's text and the path it is reported under; byte offsets to line:column.

use std::path::PathBuf;

use super::error::Problem;

/// A file's text and the path problems in it are reported under.
pub(super) struct Source {
    pub path: PathBuf,
    pub text: String,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset; offsets past the end clamp.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// A problem at a byte offset of this file.
    pub fn problem(
        &self,
        offset: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let (line, column) = self.position(offset);
        Problem {
            file: self.path.clone(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let source = Source::new("x.toml", "a = 1\nné = \"é\"\n");
        assert_eq!(source.position(0), (1, 1));
        assert_eq!(source.position(4), (1, 5));
        assert_eq!(source.position(6), (2, 1));
        // "né = " is 6 bytes but 5 characters: the value starts in column 6.
        assert_eq!(source.position(12), (2, 6));
        assert_eq!(source.position(999), (3, 1));
    }
}
