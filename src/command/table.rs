//! The one table of commands: the parser recognises verbs by it, suggestions search it, and help
//! is printed from it.

use super::model::Command;
use super::parse::{Args, Fail};
use super::{freeze, verbs};

/// One command as people learn it.
pub struct CommandDoc {
    /// The first word: `deploy`.
    pub verb: &'static str,
    /// The shape, in the notation of the help: `deploy APP[/REF] [to ENV] [canary] [when free]`.
    pub usage: &'static str,
    /// What it does, in a line.
    pub summary: &'static str,
    /// What `VERB!` does, if the command has a forced form.
    pub force: Option<&'static str>,
    /// Words that change what it does (`canary`, `when free`).
    pub flags: &'static [FlagDoc],
    /// Lines that parse as this command, shown in the help.
    pub examples: &'static [&'static str],
    /// The grammar of the words after the verb.
    pub(crate) parse: fn(&Args<'_>) -> Result<Command, Fail>,
}

/// A word that changes what a command does.
pub struct FlagDoc {
    pub word: &'static str,
    pub meaning: &'static str,
}

/// Every command bosun understands, in the order the help lists them.
pub static COMMANDS: &[CommandDoc] = &[
    CommandDoc {
        verb: "deploy",
        usage: "deploy APP[/REF] [to ENV] [canary] [when free]",
        summary: "deploy APP at REF (a tag, branch or commit; else the environment's default) to ENV",
        force: Some("deploy even though a check fails (only roles that may force)"),
        flags: &[
            FlagDoc {
                word: "canary",
                meaning: "deploy one host first and wait: \"continue\" goes on, \"cancel\" undoes it",
            },
            FlagDoc {
                word: "when free",
                meaning: "wait until ENV is free instead of refusing while it is busy or locked",
            },
        ],
        examples: &[
            "deploy blog to live",
            "deploy blog/v1.4.2 to staging canary",
            "deploy! blog/3f2a9c1 to live when free",
        ],
        parse: verbs::deploy,
    },
    CommandDoc {
        verb: "rollback",
        usage: "rollback [APP] [in ENV] [to REF]",
        summary: "switch APP in ENV back to its previous release, or to a kept one (REF: a tag, commit or release name; see \"releases\"); alone, what this room last deployed",
        force: Some("roll back even though a check fails (only roles that may force)"),
        flags: &[],
        examples: &[
            "rollback",
            "rollback blog in live",
            "rollback blog in live to v1.4.1",
        ],
        parse: verbs::rollback,
    },
    CommandDoc {
        verb: "cancel",
        usage: "cancel",
        summary: "stop the running deploy and undo what it did",
        force: None,
        flags: &[],
        examples: &["cancel"],
        parse: verbs::cancel,
    },
    CommandDoc {
        verb: "continue",
        usage: "continue",
        summary: "carry a canary deploy on to the rest of the hosts",
        force: None,
        flags: &[],
        examples: &["continue"],
        parse: verbs::proceed,
    },
    CommandDoc {
        verb: "status",
        usage: "status",
        summary: "what is deploying and what is locked right now",
        force: None,
        flags: &[],
        examples: &["status"],
        parse: verbs::status,
    },
    CommandDoc {
        verb: "repair",
        usage: "repair [APP in] ENV",
        summary: "check every host of ENV against the journal and bring drifted hosts back to one release",
        force: None,
        flags: &[],
        examples: &["repair live", "repair blog in live"],
        parse: verbs::repair,
    },
    CommandDoc {
        verb: "lock",
        usage: "lock ENV [reason…]",
        summary: "stop everyone deploying to ENV until it is unlocked",
        force: None,
        flags: &[],
        examples: &["lock live", "lock live database upgrade until 15:00"],
        parse: verbs::lock,
    },
    CommandDoc {
        verb: "unlock",
        usage: "unlock ENV",
        summary: "lift your lock on ENV",
        force: Some("lift a lock someone else holds (only roles that may force)"),
        flags: &[],
        examples: &["unlock live", "unlock! live"],
        parse: verbs::unlock,
    },
    CommandDoc {
        verb: "freeze",
        usage: "freeze ENV [until HH:MM | for DURATION] [reason…]",
        summary: "refuse deploys to ENV until unfrozen, until HH:MM (UTC) or for 30m, 2h, 1d",
        force: None,
        flags: &[],
        examples: &[
            "freeze live release week",
            "freeze live until 17:00 customer demo",
            "freeze live for 2h incident 4711",
        ],
        parse: freeze::freeze,
    },
    CommandDoc {
        verb: "unfreeze",
        usage: "unfreeze ENV",
        summary: "lift the freeze on ENV",
        force: None,
        flags: &[],
        examples: &["unfreeze live"],
        parse: freeze::unfreeze,
    },
    CommandDoc {
        verb: "history",
        usage: "history APP [ENV]",
        summary: "the last deploys of APP (to ENV)",
        force: None,
        flags: &[],
        examples: &["history blog", "history blog live"],
        parse: verbs::history,
    },
    CommandDoc {
        verb: "releases",
        usage: "releases APP [in ENV]",
        summary: "the releases kept on the hosts of APP in ENV, with revision, when, by whom and migrations",
        force: None,
        flags: &[],
        examples: &["releases blog", "releases blog in live"],
        parse: verbs::releases,
    },
    CommandDoc {
        verb: "export",
        usage: "export JOURNAL_ID",
        summary: "where to download one deploy's whole record: README.txt (who, what, where, when, how it ended), plan.json, steps.txt (every step's command, outcome, timing and output, undos included), chat.txt (what the bot said), files.txt (every file shipped with its SHA-256) and archive.tar (the archive shipped)",
        force: None,
        flags: &[],
        examples: &["export 12", "export #12"],
        parse: verbs::export,
    },
    CommandDoc {
        verb: "diff",
        usage: "diff APP [to ENV]",
        summary: "what deploying APP to ENV would ship: changesets and who wrote them",
        force: None,
        flags: &[],
        examples: &["diff blog", "diff blog to live"],
        parse: verbs::diff,
    },
    CommandDoc {
        verb: "where",
        usage: "where can I deploy APP",
        summary: "the environments you may deploy APP to",
        force: None,
        flags: &[],
        examples: &["where can I deploy blog?"],
        parse: verbs::where_can,
    },
    CommandDoc {
        verb: "help",
        usage: "help [COMMAND]",
        summary: "this list, or more about one command",
        force: None,
        flags: &[],
        examples: &["help", "help deploy"],
        parse: verbs::help,
    },
];

/// The command whose verb is `word` (ASCII case ignored).
pub fn lookup(word: &str) -> Option<&'static CommandDoc> {
    COMMANDS
        .iter()
        .find(|doc| doc.verb.eq_ignore_ascii_case(word))
}

/// Every verb, in table order.
pub(crate) fn verbs() -> Vec<&'static str> {
    COMMANDS.iter().map(|doc| doc.verb).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::parse::parse;
    use super::*;

    #[test]
    fn verbs_are_unique_lower_case_words() {
        let mut seen = HashSet::new();
        for doc in COMMANDS {
            assert!(seen.insert(doc.verb), "{} is in the table twice", doc.verb);
            assert!(
                doc.verb.chars().all(|c| c.is_ascii_lowercase()),
                "{}",
                doc.verb
            );
        }
    }

    #[test]
    fn every_example_parses_as_its_own_command() {
        for doc in COMMANDS {
            assert!(!doc.examples.is_empty(), "{} has no example", doc.verb);
            for example in doc.examples {
                let command = parse(example).unwrap_or_else(|e| panic!("{example:?}: {e}"));
                assert_eq!(command.verb(), doc.verb, "{example:?}");
            }
        }
    }

    #[test]
    fn usage_starts_with_the_verb_and_forced_forms_parse() {
        for doc in COMMANDS {
            assert!(doc.usage.starts_with(doc.verb), "{}", doc.usage);
            let forced = parse(&format!(
                "{}! {}",
                doc.verb,
                doc.examples[0].split_once(' ').map_or("", |(_, rest)| rest)
            ));
            assert_eq!(
                forced.is_ok(),
                doc.force.is_some(),
                "{}!: {forced:?}",
                doc.verb
            );
        }
    }

    #[test]
    fn flags_are_words_the_usage_shows() {
        for doc in COMMANDS {
            for flag in doc.flags {
                assert!(
                    doc.usage.contains(&format!("[{}]", flag.word)),
                    "{} in {}",
                    flag.word,
                    doc.usage
                );
            }
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup("DePloy").map(|d| d.verb), Some("deploy"));
        assert!(lookup("deploi").is_none());
    }
}
