//! The grammar as a table: chat messages and what bosun makes of them.

use super::*;

const BOT: &str = "bosun";
const DEPLOY: &str = "deploy APP[/REF] [to ENV] [canary] [when free]";
const NAME_CHARS: &str = "a name may contain lower-case letters, digits, \".\", \"_\", \"-\"";
const REF_CHARS: &str = "a ref may contain letters, digits, \"/\", \".\", \"_\", \"-\"";
const REF_START: &str = "a ref may not start with \"-\", \"/\" or \".\"";

/// Where a message was said.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// In a room, where only addressed lines (and plain deploys) are for bosun.
    Room,
    /// In a direct message to bosun.
    Dm,
}
use Via::{Dm, Room};

/// What bosun should make of it.
#[derive(Debug)]
enum Want {
    Does(Command),
    /// Chatter: no reply at all.
    Ignores,
    /// The reply to the room, word for word.
    Replies(String),
}
use Want::{Does, Ignores, Replies};

fn replies(text: impl Into<String>) -> Want {
    Replies(text.into())
}

fn name(s: &str) -> Name {
    Name::parse(s).expect(s)
}

fn refname(s: &str) -> RefName {
    RefName::parse(s).expect(s)
}

fn deploy(app: &str) -> Command {
    Command::Deploy {
        app: name(app),
        reference: None,
        env: None,
        force: false,
        canary: false,
        when_free: false,
    }
}

fn rollback() -> Command {
    Command::Rollback {
        app: None,
        env: None,
        to: None,
        force: false,
    }
}

/// Builders for the table's expectations: `deploy("blog").at("v1").to("live").canary()`.
trait Build: Sized {
    fn edit(self, f: impl FnOnce(&mut Command)) -> Self;
    fn at(self, r: &str) -> Self {
        self.edit(|c| match c {
            Command::Deploy { reference, .. } => *reference = Some(refname(r)),
            Command::Rollback { to, .. } => *to = Some(refname(r)),
            _ => unreachable!("at() on {c:?}"),
        })
    }
    fn to(self, e: &str) -> Self {
        self.edit(|c| match c {
            Command::Deploy { env, .. } | Command::Rollback { env, .. } => *env = Some(name(e)),
            _ => unreachable!("to() on {c:?}"),
        })
    }
    fn of(self, a: &str) -> Self {
        self.edit(|c| match c {
            Command::Rollback { app, .. } => *app = Some(name(a)),
            _ => unreachable!("of() on {c:?}"),
        })
    }
    fn forced(self) -> Self {
        self.edit(|c| match c {
            Command::Deploy { force, .. }
            | Command::Rollback { force, .. }
            | Command::Unlock { force, .. } => *force = true,
            _ => unreachable!("forced() on {c:?}"),
        })
    }
    fn canary(self) -> Self {
        self.edit(|c| match c {
            Command::Deploy { canary, .. } => *canary = true,
            _ => unreachable!("canary() on {c:?}"),
        })
    }
    fn when_free(self) -> Self {
        self.edit(|c| match c {
            Command::Deploy { when_free, .. } => *when_free = true,
            _ => unreachable!("when_free() on {c:?}"),
        })
    }
}

impl Build for Command {
    fn edit(mut self, f: impl FnOnce(&mut Command)) -> Self {
        f(&mut self);
        self
    }
}

fn lock(env: &str, reason: Option<&str>) -> Command {
    Command::Lock {
        env: name(env),
        reason: reason.map(str::to_string),
    }
}

fn unlock(env: &str) -> Command {
    Command::Unlock {
        env: name(env),
        force: false,
    }
}

fn freeze(env: &str, until: Option<FreezeEnd>, reason: Option<&str>) -> Command {
    Command::Freeze {
        env: name(env),
        until,
        reason: reason.map(str::to_string),
    }
}

fn unfreeze(env: &str) -> Command {
    Command::Unfreeze { env: name(env) }
}

fn history(app: &str, env: Option<&str>) -> Command {
    Command::History {
        app: name(app),
        env: env.map(name),
    }
}

fn diff(app: &str, env: Option<&str>) -> Command {
    Command::Diff {
        app: name(app),
        env: env.map(name),
    }
}

fn where_can(app: &str) -> Command {
    Command::Where { app: name(app) }
}

fn help_on(topic: Option<&str>) -> Command {
    Command::Help {
        topic: topic.map(str::to_string),
    }
}

#[rustfmt::skip] // one row a line: the table is the grammar's picture
fn grammar() -> Vec<(Via, String, Want)> {
    let long_lock = format!("!lock live {}", "x".repeat(201));
    let long_line = "deploy blog to live ".repeat(200);
    let long_addressed = format!("!{}", &long_line[..3999]);
    let rows: Vec<(Via, &str, Want)> = vec![
        // ── deploy ──────────────────────────────────────────────────────────────────────────────
        (Room, "!deploy blog to live", Does(deploy("blog").to("live"))),
        (Room, "!deploy blog", Does(deploy("blog"))),
        (Room, "!deploy blog/v1.4.2 to live", Does(deploy("blog").at("v1.4.2").to("live"))),
        (Room, "!deploy blog/release/2026-11 to staging", Does(deploy("blog").at("release/2026-11").to("staging"))),
        (Room, "!deploy blog/3f2a9c1 to live canary", Does(deploy("blog").at("3f2a9c1").to("live").canary())),
        (Room, "!deploy blog to live when free", Does(deploy("blog").to("live").when_free())),
        (Room, "!deploy blog to live canary when free", Does(deploy("blog").to("live").canary().when_free())),
        (Room, "!deploy blog to live when free canary", Does(deploy("blog").to("live").canary().when_free())),
        (Room, "!deploy blog canary", Does(deploy("blog").canary())),
        (Room, "!deploy! blog to live", Does(deploy("blog").to("live").forced())),
        (Room, "!DEPLOY blog TO live CANARY", Does(deploy("blog").to("live").canary())),
        (Room, "!deploy blog/feature+x@2 to qa-1.eu", Does(deploy("blog").at("feature+x@2").to("qa-1.eu"))),
        // ── rollback ────────────────────────────────────────────────────────────────────────────
        (Room, "!rollback", Does(rollback())),
        (Room, "!rollback!", Does(rollback().forced())),
        (Room, "!rollback blog", Does(rollback().of("blog"))),
        (Room, "!rollback blog in live", Does(rollback().of("blog").to("live"))),
        (Room, "!rollback blog in live to v1.4.1", Does(rollback().of("blog").to("live").at("v1.4.1"))),
        (Room, "!rollback to v1.4.1 in live", Does(rollback().to("live").at("v1.4.1"))),
        (Room, "!rollback in live", Does(rollback().to("live"))),
        // ── the small ones ──────────────────────────────────────────────────────────────────────
        (Room, "!cancel", Does(Command::Cancel)),
        (Room, "!continue", Does(Command::Continue)),
        (Room, "!status", Does(Command::Status)),
        (Room, "!help", Does(help_on(None))),
        (Room, "!help deploy", Does(help_on(Some("deploy")))),
        (Room, "!help Rollback!", Does(help_on(Some("rollback")))),
        (Room, "!lock live", Does(lock("live", None))),
        (Room, "!lock live   database upgrade;  back at 15:00  ", Does(lock("live", Some("database upgrade;  back at 15:00")))),
        (Room, "!unlock live", Does(unlock("live"))),
        (Room, "!unlock! live", Does(unlock("live").forced())),
        (Room, "!freeze live", Does(freeze("live", None, None))),
        (Room, "!freeze live release week", Does(freeze("live", None, Some("release week")))),
        (Room, "!freeze live until 17:00 customer demo", Does(freeze("live", Some(FreezeEnd::At { hour: 17, minute: 0 }), Some("customer demo")))),
        (Room, "bosun: FREEZE live FOR 2h incident", Does(freeze("live", Some(FreezeEnd::For { minutes: 120 }), Some("incident")))),
        (Room, "!unfreeze live", Does(unfreeze("live"))),
        (Dm, "unfreeze live", Does(unfreeze("live"))),
        (Room, "!history blog", Does(history("blog", None))),
        (Room, "!history blog live", Does(history("blog", Some("live")))),
        (Room, "!diff blog", Does(diff("blog", None))),
        (Room, "!diff blog to live", Does(diff("blog", Some("live")))),
        (Room, "!where can I deploy blog", Does(where_can("blog"))),
        (Room, "!where can i deploy blog?", Does(where_can("blog"))),
        (Room, "!Where Can I Deploy blog ?", Does(where_can("blog"))),
        // ── every way of addressing bosun ───────────────────────────────────────────────────────
        (Room, "bosun deploy blog to live", Does(deploy("blog").to("live"))),
        (Room, "bosun: status", Does(Command::Status)),
        (Room, "bosun, status", Does(Command::Status)),
        (Room, "bosun:status", Does(Command::Status)),
        (Room, "@bosun status", Does(Command::Status)),
        (Room, "@Bosun: rollback", Does(rollback())),
        (Room, "BOSUN status", Does(Command::Status)),
        (Room, "   !status   ", Does(Command::Status)),
        (Room, "! status", Does(Command::Status)),
        (Room, "bosun    deploy    blog    to    live", Does(deploy("blog").to("live"))),
        (Dm, "status", Does(Command::Status)),
        (Dm, "deploy blog canary", Does(deploy("blog").canary())),
        (Dm, "!status", Does(Command::Status)),
        (Dm, "bosun: rollback blog", Does(rollback().of("blog"))),
        (Dm, "hello", replies("I don't understand \"hello\". Say \"help\" for the commands.")),
        // ── unaddressed: only a plain, complete `deploy APP to ENV` counts ─────────────────────
        (Room, "deploy blog to live", Does(deploy("blog").to("live"))),
        (Room, "  Deploy blog/v1.4.2 to live ", Does(deploy("blog").at("v1.4.2").to("live"))),
        (Room, "deploy blog", Ignores),
        (Room, "deploy blog to live canary", Ignores),
        (Room, "deploy blog to live when free", Ignores),
        (Room, "deploy! blog to live", Ignores),
        (Room, "deploy blog to live after lunch", Ignores),
        (Room, "freeze live", Ignores),
        (Room, "unfreeze live", Ignores),
        (Room, "deploy blog to live?", Ignores),
        (Room, "I'll deploy blog to live after lunch", Ignores),
        (Room, "deploi blog to live", Ignores),
        (Room, "status", Ignores),
        (Room, "rollback", Ignores),
        (Room, "hey bosun, status?", Ignores),
        (Room, "bosuns are sailors", Ignores),
        (Room, "deploy blog/$(reboot) to live", Ignores),
        (Room, "deploy blog\nto live", Ignores),
        (Room, "", Ignores),
        // ── typos and slips: the reply names the fix ────────────────────────────────────────────
        (Room, "!deploi blog to live", replies("I don't understand \"deploi blog to live\". Did you mean \"deploy blog to live\"? Say \"help\" for the commands.")),
        (Room, "bosun: rollbak", replies("I don't understand \"rollbak\". Did you mean \"rollback\"? Say \"help\" for the commands.")),
        (Room, "!rollbak! blog", replies("I don't understand \"rollbak! blog\". Did you mean \"rollback! blog\"? Say \"help\" for the commands.")),
        (Room, "!stauts", replies("I don't understand \"stauts\". Did you mean \"status\"? Say \"help\" for the commands.")),
        (Room, "!hist blog live", replies("I don't understand \"hist blog live\". Did you mean \"history blog live\"? Say \"help\" for the commands.")),
        (Room, "!hist", replies("I don't understand \"hist\". Did you mean \"history APP [ENV]\"? Say \"help\" for the commands.")),
        (Room, "!deploy blog live", replies(format!("\"live\" doesn't fit there: {DEPLOY}. Did you mean \"deploy blog to live\"?"))),
        (Room, "!deploy to live blog", replies(format!("deploy needs the app first: {DEPLOY}. Did you mean \"deploy blog to live\"?"))),
        (Room, "!deploy", replies(format!("deploy needs an app: {DEPLOY}"))),
        (Room, "!deploy to live", replies(format!("deploy needs an app: {DEPLOY}"))),
        (Room, "!deploy blog to", replies(format!("\"to\" needs an environment: {DEPLOY}"))),
        (Room, "!deploy blog canary to live", replies(format!("\"to ENV\" comes before \"canary\" and \"when free\": {DEPLOY}. Did you mean \"deploy blog to live canary\"?"))),
        (Room, "!deploy blog to live canry", replies(format!("\"canry\" doesn't fit there: {DEPLOY}. Did you mean \"deploy blog to live canary\"?"))),
        (Room, "!deploy blog to live free", replies(format!("\"free\" doesn't fit there: {DEPLOY}. Did you mean \"deploy blog to live when free\"?"))),
        (Room, "!deploy Blog to live", replies("\"Blog\" is not an app name (names are lower-case). Did you mean \"deploy blog to live\"?")),
        (Room, "!deploy blog/ to live", replies(format!("\"blog/\" needs a ref after the \"/\": {DEPLOY}"))),
        (Room, "!rollback blog/v1.4.1", replies("rollback takes \"to REF\", not APP/REF: rollback [APP] [in ENV] [to REF]. Did you mean \"rollback blog to v1.4.1\"?")),
        (Room, "!rollback blog in", replies("\"in\" needs an environment: rollback [APP] [in ENV] [to REF]")),
        (Room, "!diff blog live", replies("\"live\" doesn't fit there: diff APP [to ENV]. Did you mean \"diff blog to live\"?")),
        (Room, "!history blog in live", replies("\"in\" doesn't fit there: history APP [ENV]. Did you mean \"history blog live\"?")),
        (Room, "!status blog", replies("status takes nothing after it. Did you mean \"status\"?")),
        (Room, "!cancel!", replies("cancel has no forced form: cancel. Did you mean \"cancel\"?")),
        (Room, "!lock", replies("lock needs an environment: lock ENV [reason…]")),
        (Room, "!freeze", replies("freeze needs an environment: freeze ENV [until HH:MM | for DURATION] [reason…]")),
        (Room, "!freeze live until noon", replies("\"noon\" is not a time like 17:30 (UTC)")),
        (Room, "!freeze live for ever", replies("\"ever\" is not a duration like 30m, 2h or 1d")),
        (Room, "!frezee live for 2h", replies("I don't understand \"frezee live for 2h\". Did you mean \"freeze live for 2h\"? Say \"help\" for the commands.")),
        (Room, "!unfreeze", replies("unfreeze needs an environment: unfreeze ENV")),
        (Room, "!unfreeze live please", replies("\"please\" doesn't fit there: unfreeze ENV. Did you mean \"unfreeze live\"?")),
        (Room, "!unlock live now", replies("\"now\" doesn't fit there: unlock ENV. Did you mean \"unlock live\"?")),
        (Room, "!where can I deploy", replies("where needs an app: where can I deploy APP")),
        (Room, "!where blog", replies("\"blog\" doesn't fit there: where can I deploy APP. Did you mean \"where can I deploy blog\"?")),
        (Room, "!help deploi", replies("I don't know a command \"deploi\". Did you mean \"help deploy\"? Say \"help\" for the commands.")),
        (Room, "bosun", replies("What shall I do? Say \"help\" for the commands.")),
        (Room, "bosun: make me a sandwich", replies("I don't understand \"make me a sandwich\". Say \"help\" for the commands.")),
        (Room, &long_lock, replies("a lock reason is at most 200 characters; that one is 201")),
        // ── hostile input never becomes a command ───────────────────────────────────────────────
        (Room, "!deploy blog/$(reboot) to live", replies(format!("\"$(reboot)\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog/`id` to live", replies(format!("\"`id`\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog;rm -rf / to live", replies(format!("\"blog;rm\" is not an app name ({NAME_CHARS})"))),
        (Room, "!deploy blog/../etc to live", replies(format!("\"../etc\" is not a git ref name ({REF_START})"))),
        (Room, "!deploy -rf to live", replies("\"-rf\" is not an app name (a name starts with a lower-case letter or digit)")),
        (Room, "!deploy blog/a b to live", replies(format!("\"b\" doesn't fit there: {DEPLOY}"))),
        (Room, "!deploy \"blog\" to live", replies(format!("\"\"blog\"\" is not an app name ({NAME_CHARS})"))),
        (Room, "!deploy 'blog' to live", replies(format!("\"'blog'\" is not an app name ({NAME_CHARS})"))),
        (Room, "!deploy blog/--upload-pack=x to live", replies(format!("\"--upload-pack=x\" is not a git ref name ({REF_START})"))),
        (Room, "!deploy blog to live;reboot", replies(format!("\"live;reboot\" is not an environment name ({NAME_CHARS})"))),
        (Room, "!deploy blog/v1|sh to live", replies(format!("\"v1|sh\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog/v1&&reboot to live", replies(format!("\"v1&&reboot\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog/v1>/etc/passwd to live", replies(format!("\"v1>/etc/passwd\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy bl\u{43e}g to live", replies(format!("\"bl\u{43e}g\" is not an app name (U+043E is not ASCII; {NAME_CHARS})"))),
        (Room, "!deploy blog/v1\u{2024}2 to live", replies(format!("\"v1\u{2024}2\" is not a git ref name (U+2024 is not ASCII; {REF_CHARS})"))),
        (Room, "!deploy blog/\u{200B}v1 to live", replies(format!("\"<U+200B>v1\" is not a git ref name (U+200B is not ASCII; {REF_CHARS})"))),
        (Room, "!deploy blog/HEAD~1 to live", replies(format!("\"HEAD~1\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog/main@{1} to live", replies(format!("\"main@{{1}}\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!deploy blog/refs/heads/../x to live", replies("\"refs/heads/../x\" is not a git ref name (a ref may not contain \"..\")")),
        (Room, "!deploy blog/main.lock to live", replies("\"main.lock\" is not a git ref name (a ref may not end with \"/\", \".\" or \".lock\")")),
        (Room, "!deploy blog/x\ny to live", replies("that line has a line break in it; a command is one line")),
        (Room, "!deploy blog\u{202E}evil to live", replies("that line holds the control character U+202E; a command is plain text")),
        (Room, "!deploy blog to live\u{0}", replies("that line holds the control character U+0000; a command is plain text")),
        (Room, "!deploy blog to live canary; reboot", replies(format!("\"canary;\" doesn't fit there: {DEPLOY}"))),
        (Room, "!rollback blog to $(reboot)", replies(format!("\"$(reboot)\" is not a git ref name ({REF_CHARS})"))),
        (Room, "!lock live;reboot", replies(format!("\"live;reboot\" is not an environment name ({NAME_CHARS})"))),
        (Room, "!freeze live;reboot for 2h", replies(format!("\"live;reboot\" is not an environment name ({NAME_CHARS})"))),
        (Room, "!unfreeze $(reboot)", replies(format!("\"$(reboot)\" is not an environment name ({NAME_CHARS})"))),
        (Room, "!history blog ../../etc", replies(format!("\"../../etc\" is not an environment name ({NAME_CHARS})"))),
        (Room, "!where can I deploy $(reboot)", replies(format!("\"$(reboot)\" is not an app name ({NAME_CHARS})"))),
        (Room, "!deploi blog/$(reboot) to live", replies(format!("I don't understand \"deploi blog/$(reboot) to live\". Did you mean \"{DEPLOY}\"? Say \"help\" for the commands."))),
        (Dm, "deploy blog/$(reboot) to live", replies(format!("\"$(reboot)\" is not a git ref name ({REF_CHARS})"))),
        (Room, &long_addressed, replies("that line is 4000 characters long; commands are at most 500")),
        (Dm, &long_line, replies("that line is 3999 characters long; commands are at most 500")),
        (Room, &long_line, Ignores),
    ];
    rows.into_iter().map(|(via, input, want)| (via, input.to_string(), want)).collect()
}

#[test]
fn the_grammar_table() {
    let rows = grammar();
    assert!(rows.len() >= 60, "the table has {} rows", rows.len());
    let mut wrong = Vec::new();
    for (via, input, want) in &rows {
        let got = parse_message(input, BOT, matches!(via, Dm));
        let ok = match (want, &got) {
            (Does(command), Parsed::Command(got)) => command == got,
            (Ignores, Parsed::NotForMe) => true,
            (Replies(text), Parsed::Invalid(error)) => *text == error.to_string(),
            _ => false,
        };
        if !ok {
            let shown: String = input.chars().take(80).collect();
            wrong.push(format!(
                "{via:?} {shown:?}\n    want {want:?}\n    got  {got:?} {}",
                describe(&got)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows differ:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

fn describe(parsed: &Parsed) -> String {
    match parsed {
        Parsed::Invalid(error) => format!("→ {error}"),
        _ => String::new(),
    }
}

/// Payloads that must never reach a `Command`, however they are said.
const HOSTILE: &[&str] = &[
    "deploy blog/$(reboot) to live",
    "deploy blog/`id` to live",
    "deploy blog;rm -rf / to live",
    "deploy blog/../etc to live",
    "deploy -rf to live",
    "deploy blog/a b to live",
    "deploy \"blog\" to live",
    "deploy blog/--upload-pack=x to live",
    "deploy blog to live;reboot",
    "deploy blog to live && reboot",
    "deploy blog/v1|sh to live",
    "deploy bl\u{43e}g to live",
    "deploy blog/x\ny to live",
    "deploy blog/x\r\nto live",
    "deploy blog/$HOME to live",
    "deploy blog/'x' to live",
    "deploy blog/\\x to live",
    "deploy blog/-x to live",
    "rollback blog to --force",
    "rollback blog in ../live",
    "history blog $(id)",
    "diff blog to `id`",
    "where can I deploy blog;id",
    "unlock live;id",
    "freeze live;id",
    "freeze ../live for 2h",
    "unfreeze live`id`",
];

#[test]
fn hostile_payloads_are_never_commands_however_addressed() {
    for payload in HOSTILE {
        for (text, direct) in [
            (payload.to_string(), false),
            (format!("!{payload}"), false),
            (format!("bosun: {payload}"), false),
            (format!("@bosun {payload}"), false),
            (payload.to_string(), true),
        ] {
            let got = parse_message(&text, BOT, direct);
            assert!(
                !matches!(got, Parsed::Command(_)),
                "{text:?} became {got:?}"
            );
            if let Parsed::Invalid(error) = &got {
                let suggestion = error.suggestion.as_deref().unwrap_or("");
                assert!(
                    suggestion
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " /._-[]!@+…".contains(c)),
                    "{text:?} suggests {suggestion:?}"
                );
            }
        }
    }
}

#[test]
fn typo_errors_carry_a_suggestion_that_parses() {
    let cases = [
        ("deploi blog to live", "deploy blog to live"),
        ("rollbak", "rollback"),
        ("stauts", "status"),
        ("hist blog", "history blog"),
        ("lok live", "lock live"),
        ("unlok! live", "unlock! live"),
        ("frezee live until 17:00", "freeze live until 17:00"),
        ("unfreez live", "unfreeze live"),
        ("dif blog to live", "diff blog to live"),
        ("deploy blog live", "deploy blog to live"),
        (
            "deploy to live blog/v1 canary",
            "deploy blog/v1 to live canary",
        ),
        ("where can I deploy Blog", "where can I deploy blog"),
    ];
    for (line, want) in cases {
        let error = parse(line).expect_err(line);
        assert_eq!(error.suggestion.as_deref(), Some(want), "{line}");
        assert!(parse(want).is_ok(), "{want}");
    }
}

#[test]
fn errors_say_what_kind_of_mistake_they_are() {
    let cases = [
        ("deploi", ErrorKind::UnknownCommand),
        ("", ErrorKind::Empty),
        ("deploy", ErrorKind::Usage),
        ("deploy Blog", ErrorKind::BadName),
        ("deploy blog/a..b", ErrorKind::BadRef),
        ("deploy blog\tto live", ErrorKind::ControlCharacter),
        ("freeze live until 25:00", ErrorKind::BadTime),
        ("freeze live for 2x", ErrorKind::BadTime),
    ];
    for (line, kind) in cases {
        assert_eq!(parse(line).map_err(|e| e.kind), Err(kind), "{line:?}");
    }
    let long = "x".repeat(MAX_LINE + 1);
    assert_eq!(parse(&long).map_err(|e| e.kind), Err(ErrorKind::TooLong));
}
