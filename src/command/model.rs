//! The closed set of things a person can ask bosun in chat: `Command` and its validated names.

use std::fmt;

/// A validated app or environment name: `[a-z0-9][a-z0-9._-]{0,62}` (lower-case ASCII letters,
/// digits, `.`, `_`, `-`; not starting with a punctuation mark). Made by `Name::parse`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

/// A validated git reference: ASCII letters, digits, `/`, `.`, `_`, `-`, `+`, `@` (so no spaces,
/// `~^:?*[\`, `$`, `(`, `)`, `;`, `&`, `|`, `<`, `>`, `{`, quotes, backticks or control
/// characters); no `..` or `//`; not starting with `-`, `/` or `.`; not ending with `/`, `.` or
/// `.lock`; no part starting with `.`; not `@` alone; at most 200 characters. A hex sha prefix is
/// one. Made by `RefName::parse`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RefName(String);

macro_rules! string_newtype {
    ($t:ident) => {
        impl $t {
            /// Wraps a string that the caller has already validated.
            pub(crate) fn new_unchecked(s: impl Into<String>) -> Self {
                $t(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype!(Name);
string_newtype!(RefName);

/// Everything bosun can be asked. Parsing is pure: see `parse` and `parse_message`. Its
/// `Display` is the canonical text, which parses back to the same command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `deploy APP[/REF] [to ENV] [canary] [when free]`, `deploy! …` to force past soft checks.
    Deploy {
        app: Name,
        reference: Option<RefName>,
        env: Option<Name>,
        force: bool,
        canary: bool,
        when_free: bool,
    },
    /// `rollback [APP] [in ENV] [to REF]`, `!rollback`, `rollback!` to force.
    Rollback {
        app: Option<Name>,
        env: Option<Name>,
        to: Option<RefName>,
        force: bool,
    },
    /// `cancel`: stop the running deploy and undo it.
    Cancel,
    /// `continue`: carry a canary deploy on to the rest of the fleet.
    Continue,
    /// `lock ENV [reason…]`. The reason is free text for people (the rest of the line, trimmed,
    /// at most 200 characters, no control characters): show it and journal it, never pass it to
    /// a command.
    Lock { env: Name, reason: Option<String> },
    /// `unlock ENV`, `unlock! ENV` to break someone else's lock.
    Unlock { env: Name, force: bool },
    /// `freeze ENV [until HH:MM | for DURATION] [reason…]`: refuse deploys to ENV until it is
    /// unfrozen or the end passes (times in UTC). The reason is free text like a lock's.
    Freeze {
        env: Name,
        until: Option<super::freeze::FreezeEnd>,
        reason: Option<String>,
    },
    /// `unfreeze ENV`
    Unfreeze { env: Name },
    /// `status`
    Status,
    /// `repair [APP in] ENV`: compare every host with the journal now and bring drifted hosts
    /// back to the environment's release.
    Repair { app: Option<Name>, env: Name },
    /// `history APP [ENV]`
    History { app: Name, env: Option<Name> },
    /// `releases APP [in ENV]`: the releases kept on the hosts, any of which `rollback … to` takes.
    Releases { app: Name, env: Option<Name> },
    /// `export JOURNAL_ID`: where to get one deploy's whole record.
    Export { id: u64 },
    /// `diff APP [to ENV]`
    Diff { app: Name, env: Option<Name> },
    /// `where can I deploy APP`
    Where { app: Name },
    /// `help [COMMAND]`. The topic is always a verb from `COMMANDS` (the parser refuses others).
    Help { topic: Option<String> },
}

impl Command {
    /// The command's word as the help table knows it (`deploy`, `rollback`, …).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Deploy { .. } => "deploy",
            Command::Rollback { .. } => "rollback",
            Command::Cancel => "cancel",
            Command::Continue => "continue",
            Command::Lock { .. } => "lock",
            Command::Unlock { .. } => "unlock",
            Command::Freeze { .. } => "freeze",
            Command::Unfreeze { .. } => "unfreeze",
            Command::Status => "status",
            Command::Repair { .. } => "repair",
            Command::History { .. } => "history",
            Command::Releases { .. } => "releases",
            Command::Export { .. } => "export",
            Command::Diff { .. } => "diff",
            Command::Where { .. } => "where",
            Command::Help { .. } => "help",
        }
    }
}
