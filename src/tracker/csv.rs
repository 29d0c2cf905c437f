//! A small CSV reader for Trac's `format=csv` exports (RFC 4180, as Python's `csv` module writes).
//!
//! Fields are separated by commas and records by CRLF or LF; a quoted field may hold commas,
//! line breaks and doubled quotes (`""` for `"`). A leading UTF-8 byte-order mark is skipped.

use std::iter::Peekable;
use std::str::Chars;

/// Why a text is not CSV.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field never ends.
    #[error("a quoted field is not closed")]
    UnclosedQuote,
    /// Something other than a comma or a line break follows a closing quote.
    #[error("text after a closing quote in record {record}")]
    TextAfterQuote { record: usize },
}

/// The records of `text`, each a list of fields. Blank lines between records are skipped.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chars = text.chars().peekable();
    let mut records = Vec::new();
    while let Some(&c) = chars.peek() {
        if c == '\r' || c == '\n' {
            chars.next();
            continue;
        }
        let mut record = Vec::new();
        loop {
            record.push(field(&mut chars, records.len())?);
            // `field` stops only before a separator or at the end.
            match chars.next() {
                Some(',') => {}
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    break;
                }
                _ => break,
            }
        }
        records.push(record);
    }
    Ok(records)
}

/// One field, quoted or not, up to (not including) the comma or line break after it.
fn field(chars: &mut Peekable<Chars<'_>>, record: usize) -> Result<String, CsvError> {
    let mut field = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        loop {
            match chars.next() {
                None => return Err(CsvError::UnclosedQuote),
                Some('"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                Some('"') => break,
                Some(other) => field.push(other),
            }
        }
        return match chars.peek() {
            None | Some(',' | '\r' | '\n') => Ok(field),
            Some(_) => Err(CsvError::TextAfterQuote { record }),
        };
    }
    while let Some(&c) = chars.peek() {
        if matches!(c, ',' | '\r' | '\n') {
            break;
        }
        field.push(c);
        chars.next();
    }
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn reads_what_trac_writes() {
        let text = "\u{feff}id,Summary,Status,Resolution\r\n\
                    1,Deploy api v1.2 to staging,new,\r\n\
                    2,\"Rollback, then \"\"fix\"\" it\",closed,fixed\r\n";
        assert_eq!(
            rows(text),
            vec![
                vec!["id", "Summary", "Status", "Resolution"],
                vec!["1", "Deploy api v1.2 to staging", "new", ""],
                vec!["2", "Rollback, then \"fix\" it", "closed", "fixed"],
            ]
        );
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[&[&str]])] = &[
            ("", &[]),
            ("\u{feff}", &[]),
            ("a", &[&["a"]]),
            ("a,b\nc,d", &[&["a", "b"], &["c", "d"]]),
            ("a,b\r\nc,d\r\n", &[&["a", "b"], &["c", "d"]]),
            ("a,,c\n", &[&["a", "", "c"]]),
            ("a,\n", &[&["a", ""]]),
            (",\n", &[&["", ""]]),
            ("\"\"\n", &[&[""]]),
            ("\"\",\"\"\n", &[&["", ""]]),
            ("a,\"\"\n", &[&["a", ""]]),
            ("\"\",b\n", &[&["", "b"]]),
            ("\"two\nlines\",x\r\n", &[&["two\nlines", "x"]]),
            ("\"crlf\r\ninside\"\r\n", &[&["crlf\r\ninside"]]),
            ("\"a,b\",\"c\"\"d\"\n", &[&["a,b", "c\"d"]]),
            ("a\n\nb\n", &[&["a"], &["b"]]),
            ("x\"y\n", &[&["x\"y"]]),
            ("é,ü\n", &[&["é", "ü"]]),
        ];
        for (text, expected) in cases {
            let expected: Vec<Vec<String>> = expected
                .iter()
                .map(|r| r.iter().map(|f| f.to_string()).collect())
                .collect();
            assert_eq!(rows(text), expected, "text: {text:?}");
        }
    }

    #[test]
    fn rejects_broken_quoting() {
        assert_eq!(
            parse("a,\"open\nnever closed"),
            Err(CsvError::UnclosedQuote)
        );
        assert_eq!(
            parse("x\n\"a\"b,c\n"),
            Err(CsvError::TextAfterQuote { record: 1 })
        );
    }
}
