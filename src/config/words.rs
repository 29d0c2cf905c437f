//! Splitting a command string into words the way a POSIX shell would, with nothing expanded.
//!
//! Whitespace separates words; single quotes keep everything up to the next single quote;
//! double quotes group too, and inside them a backslash escapes only `"`, `\`, `$`, `` ` `` and a
//! newline (elsewhere it stays as written); outside quotes a backslash makes the next character
//! literal. `$VAR`, globs, `~` and `;` are ordinary characters: no shell ever sees the string.

/// Why a command string could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum SplitError {
    #[error("unterminated single quote")]
    UnterminatedSingle,
    #[error("unterminated double quote")]
    UnterminatedDouble,
    #[error("a backslash at the end escapes nothing")]
    TrailingBackslash,
}

/// The words of `line`.
pub(super) fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has started even when it is still empty: `''` is one empty word.
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedSingle),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::UnterminatedDouble),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedDouble),
                    }
                }
            }
            '\\' => match chars.next() {
                // A backslash before a newline joins the lines.
                Some('\n') => {}
                Some(c) => {
                    started = true;
                    word.push(c);
                }
                None => return Err(SplitError::TrailingBackslash),
            },
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Vec<String> {
        split(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn whitespace_separates_words() {
        assert_eq!(ok("make   assets\tnow\n"), ["make", "assets", "now"]);
        assert_eq!(ok("   "), Vec::<String>::new());
    }

    #[test]
    fn quotes_group_words_and_join_with_neighbours() {
        assert_eq!(
            ok(r#"sh -c "echo hi > BUILT""#),
            ["sh", "-c", "echo hi > BUILT"]
        );
        assert_eq!(ok("echo 'a  b' c'd e'f"), ["echo", "a  b", "cd ef"]);
        assert_eq!(ok(r#"say '' """#), ["say", "", ""]);
        assert_eq!(ok(r#"echo 'it"s' "it's""#), ["echo", r#"it"s"#, "it's"]);
    }

    #[test]
    fn backslashes_escape_like_a_shell() {
        assert_eq!(ok(r"echo a\ b \'q\' \\"), ["echo", "a b", "'q'", r"\"]);
        assert_eq!(
            ok(r#"echo "say \"hi\" \$HOME \n""#),
            ["echo", r#"say "hi" $HOME \n"#]
        );
        assert_eq!(ok(r"echo 'no \escape'"), ["echo", r"no \escape"]);
        assert_eq!(ok("one \\\ntwo"), ["one", "two"]);
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(
            ok("echo $HOME ~ *.txt; rm -rf /"),
            ["echo", "$HOME", "~", "*.txt;", "rm", "-rf", "/"]
        );
    }

    #[test]
    fn unfinished_quotes_and_escapes_are_errors() {
        assert_eq!(split(r#"echo "hi"#), Err(SplitError::UnterminatedDouble));
        assert_eq!(split(r#"echo "hi\"#), Err(SplitError::UnterminatedDouble));
        assert_eq!(split("echo 'hi"), Err(SplitError::UnterminatedSingle));
        assert_eq!(split(r"echo hi\"), Err(SplitError::TrailingBackslash));
        assert_eq!(
            SplitError::UnterminatedDouble.to_string(),
            "unterminated double quote"
        );
    }
}
