//! Quoting for a POSIX remote shell: `quote` makes any argument one literal word, `command_line` builds the one line sshd hands to the login shell.
//!
//! sshd runs a command as `$SHELL -c LINE`: the argument vector is flattened into one string and
//! the remote shell splits it again. Every argument therefore goes through [`quote`], which wraps
//! it in single quotes (inside which a POSIX shell gives no character a meaning) and writes each
//! single quote as `'\''`. Nothing else builds remote command text.

/// Why an argument cannot reach a remote program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// A C string (what `execve` takes) ends at the first NUL byte, so no shell can pass it on.
    #[error("argument {index} contains a NUL byte, which no remote program can receive")]
    Nul { index: usize },
    #[error("an empty command")]
    Empty,
}

/// `arg` as one literal word for a POSIX shell: `'…'`, with `'` written `'\''`; the empty
/// string becomes `''`.
pub fn quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The marker that starts the first line of stderr: the remote shell's pid, which is also its
/// process group (sshd starts every session in a new one), so a timed-out command can be killed
/// with everything it started.
pub const PID_MARKER: &str = "bosun-remote-pid ";

/// The marker on the last line of stdout and of stderr: the program's exit status, printed by
/// the remote shell on both streams once the program has ended, so that a reader who has seen it
/// on a stream has seen everything the program wrote there. It starts with an ASCII record
/// separator so that it is found even after a last line of output that had no newline.
pub const EXIT_MARKER: &str = "\u{1e}bosun-exit:";

/// The line for the remote shell that runs exactly `argv` (in `cwd` when given): it reports its
/// pid on stderr, changes directory with `cd --`, runs the program in a subshell that `exec`s it
/// with every argument quoted (so a name like `exit` is a program, never a builtin), then reports
/// the exit status at the end of stdout and of stderr and exits with it. The status lines tell
/// bosun that it has all the output while the connection still carries it (asking ssh for the
/// exit status closes the channel, and output still in flight would be lost). Constant text
/// apart from the quoted values.
pub fn command_line(argv: &[String], cwd: Option<&str>) -> Result<String, QuoteError> {
    if argv.is_empty() {
        return Err(QuoteError::Empty);
    }
    let nul = |s: &str| s.contains('\0');
    if let Some(index) = argv.iter().position(|a| nul(a)) {
        return Err(QuoteError::Nul { index });
    }
    let mut line = format!("printf '{PID_MARKER}%s\\n' \"$$\" >&2 && ");
    if let Some(cwd) = cwd {
        if nul(cwd) {
            return Err(QuoteError::Nul { index: usize::MAX });
        }
        line.push_str("cd -- ");
        line.push_str(&quote(cwd));
        line.push_str(" && ");
    }
    line.push_str("(exec");
    for arg in argv {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line.push_str(")\nr=$?\n");
    line.push_str("printf '\\036bosun-exit:%s\\n' \"$r\"\n");
    line.push_str("printf '\\036bosun-exit:%s\\n' \"$r\" >&2\n");
    line.push_str("exit \"$r\"");
    Ok(line)
}

/// The exit status in a line of output that carries [`EXIT_MARKER`], with whatever the program
/// printed before it on the same line (its last line had no newline).
pub fn exit_marker(line: &str) -> Option<(&str, Option<i32>)> {
    let at = line.find(EXIT_MARKER)?;
    let code = line[at + EXIT_MARKER.len()..].trim().parse().ok();
    Some((&line[..at], code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Strings that mean something to a shell, and some that mean nothing at all.
    pub(crate) fn hostile() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            " ",
            "'",
            "''",
            "\"",
            "\\",
            "\\'",
            "'\\''",
            "a b",
            "a  b\tc",
            "line\nbreak",
            "\n",
            "trailing\n\n",
            "$HOME",
            "${HOME}",
            "$(id)",
            "`id`",
            "; rm -rf /",
            "&& echo pwned",
            "| cat",
            "> /tmp/x",
            "< /etc/passwd",
            "*",
            "?",
            "[a-z]*",
            "~",
            "~root",
            "-n",
            "-e",
            "--",
            "-rf",
            "#comment",
            "!!",
            "!$",
            "{a,b}",
            "a=b",
            "%s%n",
            "\u{7}\u{1b}[31m",
            "é ü ß 漢字 🚀",
            "\u{202e}gnp.exe",
            "\u{a0}nbsp",
            "x'y\"z`w$v\\u",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("long ".repeat(2000));
        v
    }

    /// Random strings over an alphabet of shell metacharacters (xorshift: no extra crates).
    fn generated(count: usize, seed: u64) -> Vec<String> {
        let alphabet: Vec<char> = " \t\n'\"\\$`;&|<>()*?[]{}~#!%-=.,/:^@aZ9é漢🚀\u{1b}"
            .chars()
            .collect();
        let mut state = seed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % 24) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// What `shell -c "printf '%s\0' <quoted>…"` prints, split at the NULs.
    fn through(shell: &str, args: &[String]) -> Vec<String> {
        let mut script = String::from("printf '%s\\0'");
        for a in args {
            script.push(' ');
            script.push_str(&quote(a));
        }
        let out = Command::new(shell)
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"));
        assert!(out.status.success(), "{shell}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("utf-8 back");
        let mut words: Vec<String> = text.split('\0').map(str::to_string).collect();
        assert_eq!(words.pop().as_deref(), Some(""), "ends with a NUL");
        words
    }

    #[test]
    fn quoting_is_single_quotes_with_escaped_single_quotes() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("abc"), "'abc'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn every_hostile_string_survives_sh_and_bash_as_one_word() {
        let args = hostile();
        for shell in ["sh", "bash"] {
            assert_eq!(through(shell, &args), args, "{shell}");
        }
    }

    #[test]
    fn thousands_of_generated_strings_survive_as_one_word_each() {
        for seed in 1..=8u64 {
            let args = generated(250, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for shell in ["sh", "bash"] {
                assert_eq!(through(shell, &args), args, "{shell}, seed {seed}");
            }
        }
    }

    #[test]
    fn the_command_line_runs_exactly_the_argv_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("we ird $(x) 'dir' \n ;");
        std::fs::create_dir(&cwd).unwrap();
        let mut argv = vec!["sh".to_string(), "-c".into()];
        argv.push(r#"pwd; printf '%s\0' "$@""#.into());
        argv.push("zero".into());
        argv.extend(hostile());
        let line = command_line(&argv, Some(cwd.to_str().unwrap())).unwrap();
        for shell in ["sh", "bash"] {
            let out = Command::new(shell).arg("-c").arg(&line).output().unwrap();
            assert!(out.status.success(), "{out:?}");
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(stderr.starts_with(PID_MARKER), "{stderr}");
            assert!(stderr.ends_with(&format!("{EXIT_MARKER}0\n")), "{stderr:?}");
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stdout = stdout
                .strip_suffix(&format!("{EXIT_MARKER}0\n"))
                .expect("the status ends stdout too");
            let (pwd, rest) = stdout.split_at(cwd.to_str().unwrap().len());
            assert_eq!(pwd, cwd.to_str().unwrap());
            let mut words: Vec<String> = rest[1..].split('\0').map(str::to_string).collect();
            words.pop();
            assert_eq!(words, hostile(), "{shell}");
        }
    }

    #[test]
    fn a_directory_that_looks_like_an_option_is_still_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("-P");
        std::fs::create_dir(&odd).unwrap();
        let line = command_line(&["pwd".to_string()], Some("-P")).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n{EXIT_MARKER}0\n", odd.display())
        );
    }

    #[test]
    fn the_exit_status_is_reported_last_even_after_an_unterminated_line() {
        let argv: Vec<String> = ["sh", "-c", "printf out; printf 'no newline' >&2; exit 7"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let line = command_line(&argv, None).unwrap();
        for shell in ["sh", "bash"] {
            let out = Command::new(shell).arg("-c").arg(&line).output().unwrap();
            assert_eq!(out.status.code(), Some(7), "{out:?}");
            let stderr = String::from_utf8(out.stderr).unwrap();
            let last = stderr.lines().last().unwrap();
            assert_eq!(exit_marker(last), Some(("no newline", Some(7))), "{shell}");
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_eq!(exit_marker(&stdout), Some(("out", Some(7))), "{shell}");
        }
        assert_eq!(exit_marker("plain text"), None);
    }

    #[test]
    fn nul_bytes_and_empty_commands_are_refused() {
        let argv = vec!["echo".to_string(), "a\0b".to_string()];
        assert_eq!(command_line(&argv, None), Err(QuoteError::Nul { index: 1 }));
        assert_eq!(command_line(&[], None), Err(QuoteError::Empty));
    }
}
