//! Help text, generated from the command table.

use std::fmt::Write;

use super::error::quoted;
use super::suggest::closest;
use super::table::{COMMANDS, lookup, verbs};

/// The help for `topic` (a command, `!` ignored), or the overview of every command when `None`.
/// An unknown topic gets a did-you-mean.
pub fn help(topic: Option<&str>) -> String {
    let Some(topic) = topic.map(str::trim).filter(|t| !t.is_empty()) else {
        return overview();
    };
    let word = topic
        .split_whitespace()
        .next()
        .unwrap_or(topic)
        .trim_matches('!');
    match lookup(word) {
        Some(doc) => {
            let mut out = format!("{}\n{}.\n", doc.usage, capitalised(doc.summary));
            if let Some(force) = doc.force {
                let _ = writeln!(out, "  {}!  {force}", doc.verb);
            }
            for flag in doc.flags {
                let _ = writeln!(out, "  {}  {}", flag.word, flag.meaning);
            }
            out.push_str("Examples:");
            for example in doc.examples {
                let _ = write!(out, "\n  {example}");
            }
            out
        }
        None => match closest(word, &verbs()) {
            Some(verb) => format!(
                "I don't know a command {}. Did you mean \"help {verb}\"? Say \"help\" for the commands.",
                quoted(topic)
            ),
            None => format!(
                "I don't know a command {}. Say \"help\" for the commands.",
                quoted(topic)
            ),
        },
    }
}

fn overview() -> String {
    let width = COMMANDS
        .iter()
        .map(|doc| doc.usage.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Start a line with \"!\" or my name, or write to me directly:");
    for doc in COMMANDS {
        let pad = width - doc.usage.chars().count();
        let _ = write!(out, "\n  {}{:pad$}  {}", doc.usage, "", doc.summary);
    }
    out.push_str("\n\"help COMMAND\" tells more about one.");
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_lists_every_command_once_per_line() {
        let text = help(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), COMMANDS.len() + 2, "{text}");
        for (doc, line) in COMMANDS.iter().zip(&lines[1..]) {
            assert!(line.trim_start().starts_with(doc.usage), "{line}");
            assert!(line.ends_with(doc.summary), "{line}");
        }
        assert_eq!(help(Some("  ")), text);
    }

    #[test]
    fn topic_help_shows_usage_flags_and_examples() {
        let text = help(Some("deploy"));
        assert_eq!(
            text,
            "deploy APP[/REF] [to ENV] [canary] [when free]\n\
             Deploy APP at REF (a tag, branch or commit; else the environment's default) to ENV.\n  \
             deploy!  deploy even though a check fails (only roles that may force)\n  \
             canary  deploy one host first and wait: \"continue\" goes on, \"cancel\" undoes it\n  \
             when free  wait until ENV is free instead of refusing while it is busy or locked\n\
             Examples:\n  \
             deploy blog to live\n  \
             deploy blog/v1.4.2 to staging canary\n  \
             deploy! blog/3f2a9c1 to live when free"
        );
        assert_eq!(help(Some("DEPLOY!")), text);
        assert!(help(Some("status")).starts_with("status\nWhat is deploying"));
    }

    #[test]
    fn unknown_topics_get_a_did_you_mean() {
        assert_eq!(
            help(Some("rollbak")),
            "I don't know a command \"rollbak\". Did you mean \"help rollback\"? Say \"help\" for the commands."
        );
        assert_eq!(
            help(Some("banana")),
            "I don't know a command \"banana\". Say \"help\" for the commands."
        );
    }
}
