//! The grammar of each command: the words after its verb to a `Command`, with fixes for the
//! usual slips (`deploy blog live`, `deploy to live blog`, `rollback blog/v1`).

use super::error::{ErrorKind, quoted};
use super::lex::Tok;
use super::model::Command;
use super::parse::{Args, Fail};
use super::suggest::closest;
use super::table::{lookup, verbs};

/// The most characters a lock reason may have.
pub const REASON_MAX: usize = 200;

/// `deploy APP[/REF] [to ENV] [canary] [when free]`
pub(crate) fn deploy(a: &Args<'_>) -> Result<Command, Fail> {
    let w = a.words;
    let Some(target) = w.first() else {
        return Err(a.needs("an app"));
    };
    if target.is("to") {
        return Err(match w {
            [_, env, app, rest @ ..] => a
                .needs("the app first")
                .fix(a.line_from(&[app.text, "to", env.text], rest)),
            _ => a.needs("an app"),
        });
    }
    let (app, reference) = a.target(target)?;
    let mut i = 1;
    let mut env = None;
    if let Some(to) = w.get(1).filter(|t| t.is("to")) {
        let Some(e) = w.get(2) else {
            return Err(a.needs_after(to, "an environment"));
        };
        env = Some(a.env(e)?);
        i = 3;
    }
    let (mut canary, mut when_free) = (false, false);
    while let Some(t) = w.get(i) {
        if t.is("canary") && !canary {
            canary = true;
            i += 1;
        } else if t.is("when") && !when_free && w.get(i + 1).is_some_and(|f| f.is("free")) {
            when_free = true;
            i += 2;
        } else {
            return Err(misplaced_in_deploy(a, i, env.is_none()));
        }
    }
    Ok(Command::Deploy {
        app,
        reference,
        env,
        force: a.force,
        canary,
        when_free,
    })
}

/// The failure for word `i` of a deploy that fits nowhere, with the likeliest fix.
fn misplaced_in_deploy(a: &Args<'_>, i: usize, no_env: bool) -> Fail {
    let w = a.words;
    let t = &w[i];
    let target = w[0].text;
    if t.is("to") && no_env {
        // `deploy blog canary to live`: the environment goes before the modifiers.
        let env: Vec<&str> = w[i..(i + 2).min(w.len())].iter().map(|t| t.text).collect();
        let mods: Vec<&str> = w[1..i].iter().map(|t| t.text).collect();
        let parts: Vec<&str> = [target].into_iter().chain(env).chain(mods).collect();
        let rest = w.get(i + 2..).unwrap_or_default();
        let reason = format!(
            "\"to ENV\" comes before \"canary\" and \"when free\": {}",
            a.doc.usage
        );
        return Fail::new(ErrorKind::Usage, reason).fix(a.line_from(&parts, rest));
    }
    let fail = a.unexpected(t);
    if i == 1 && no_env {
        // `deploy blog live`
        return fail.fix(a.line_from(&[target, "to"], &w[1..]));
    }
    if t.is("when") || t.is("free") {
        return fail.fix(a.replace(t, "when free"));
    }
    match closest(t.text, &["canary"]) {
        Some(canary) => fail.fix(a.replace(t, canary)),
        None => fail,
    }
}

/// `rollback [APP] [in ENV] [to REF]` (the two clauses in either order).
pub(crate) fn rollback(a: &Args<'_>) -> Result<Command, Fail> {
    let w = a.words;
    let mut i = 0;
    let mut app = None;
    if let Some(first) = w.first().filter(|t| !t.is("in") && !t.is("to")) {
        if let Some(slash) = first.text.find('/') {
            // `rollback blog/v1` → `rollback blog to v1`
            let (name, reference) = (&first.text[..slash], &first.text[slash + 1..]);
            let reason = format!("rollback takes \"to REF\", not APP/REF: {}", a.doc.usage);
            return Err(Fail::new(ErrorKind::Usage, reason)
                .fix(a.line_from(&[name, "to", reference], &w[1..])));
        }
        app = Some(a.app(first)?);
        i = 1;
    }
    let (mut env, mut to) = (None, None);
    while let Some(t) = w.get(i) {
        let value = w.get(i + 1);
        if t.is("in") && env.is_none() {
            env = Some(a.env(value.ok_or_else(|| a.needs_after(t, "an environment"))?)?);
        } else if t.is("to") && to.is_none() {
            to = Some(a.reference(value.ok_or_else(|| a.needs_after(t, "a ref"))?)?);
        } else {
            return Err(a.unexpected(t));
        }
        i += 2;
    }
    Ok(Command::Rollback {
        app,
        env,
        to,
        force: a.force,
    })
}

/// `cancel`
pub(crate) fn cancel(a: &Args<'_>) -> Result<Command, Fail> {
    nothing_after(a, Command::Cancel)
}

/// `continue`
pub(crate) fn proceed(a: &Args<'_>) -> Result<Command, Fail> {
    nothing_after(a, Command::Continue)
}

/// `status`
pub(crate) fn status(a: &Args<'_>) -> Result<Command, Fail> {
    nothing_after(a, Command::Status)
}

/// `repair ENV`, `repair APP in ENV`
pub(crate) fn repair(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an environment")),
        [env] => Ok(Command::Repair {
            app: None,
            env: a.env(env)?,
        }),
        [app, word, env] if word.is("in") || word.is("on") => Ok(Command::Repair {
            app: Some(a.app(app)?),
            env: a.env(env)?,
        }),
        [app, word] if word.is("in") || word.is("on") => Err(a
            .needs_after(word, "an environment")
            .fix(a.line_from(&[app.text, "in", "ENV"], &[]))),
        [_, extra, ..] => Err(a.unexpected(extra)),
    }
}

fn nothing_after(a: &Args<'_>, command: Command) -> Result<Command, Fail> {
    match a.words.first() {
        None => Ok(command),
        Some(_) => {
            let reason = format!("{} takes nothing after it", a.doc.verb);
            Err(Fail::new(ErrorKind::Usage, reason).fix(a.line_from(&[], &[])))
        }
    }
}

/// `lock ENV [reason…]`: the reason is the rest of the line, verbatim.
pub(crate) fn lock(a: &Args<'_>) -> Result<Command, Fail> {
    let Some(env) = a.words.first() else {
        return Err(a.needs("an environment"));
    };
    let env = a.env(env)?;
    let reason = a.words.get(1).map(|t| a.line[t.start..].trim().to_string());
    if let Some(len) = reason
        .as_ref()
        .map(|r| r.chars().count())
        .filter(|&n| n > REASON_MAX)
    {
        let reason = format!("a lock reason is at most {REASON_MAX} characters; that one is {len}");
        return Err(Fail::new(ErrorKind::BadReason, reason));
    }
    Ok(Command::Lock { env, reason })
}

/// `unlock ENV`, `unlock! ENV`
pub(crate) fn unlock(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an environment")),
        [env] => Ok(Command::Unlock {
            env: a.env(env)?,
            force: a.force,
        }),
        [env, extra, ..] => Err(a.unexpected(extra).fix(a.line_from(&[env.text], &[]))),
    }
}

/// `history APP [ENV]`
pub(crate) fn history(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an app")),
        [app] => Ok(Command::History {
            app: a.app(app)?,
            env: None,
        }),
        [app, env] => Ok(Command::History {
            app: a.app(app)?,
            env: Some(a.env(env)?),
        }),
        [app, word, env, rest @ ..] if word.is("in") || word.is("on") => Err(a
            .unexpected(word)
            .fix(a.line_from(&[app.text, env.text], rest))),
        [_, _, extra, ..] => Err(a.unexpected(extra)),
    }
}

/// `releases APP [in ENV]`
pub(crate) fn releases(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an app")),
        [app] => Ok(Command::Releases {
            app: a.app(app)?,
            env: None,
        }),
        [_, word] if word.is("in") => Err(a.needs_after(word, "an environment")),
        [app, word, env] if word.is("in") || word.is("on") => Ok(Command::Releases {
            app: a.app(app)?,
            env: Some(a.env(env)?),
        }),
        [app, env] => Err(a
            .unexpected(env)
            .fix(a.line_from(&[app.text, "in"], &a.words[1..]))),
        [_, _, _, extra, ..] => Err(a.unexpected(extra)),
        [_, extra, ..] => Err(a.unexpected(extra)),
    }
}

/// `export JOURNAL_ID` (`#12` or `12`)
pub(crate) fn export(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("a journal id")),
        [id] => match id.text.trim_start_matches('#').parse::<u64>() {
            Ok(id) if id > 0 => Ok(Command::Export { id }),
            _ => Err(Fail::new(
                ErrorKind::Usage,
                format!(
                    "{} is not a journal id (a number, like 12 or #12): {}",
                    quoted(id.text),
                    a.doc.usage
                ),
            )),
        },
        [_, extra, ..] => Err(a.unexpected(extra)),
    }
}

/// `diff APP [to ENV]`
pub(crate) fn diff(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an app")),
        [app] => Ok(Command::Diff {
            app: a.app(app)?,
            env: None,
        }),
        [_, to] if to.is("to") => Err(a.needs_after(to, "an environment")),
        [app, to, env] if to.is("to") => Ok(Command::Diff {
            app: a.app(app)?,
            env: Some(a.env(env)?),
        }),
        [app, env] => Err(a
            .unexpected(env)
            .fix(a.line_from(&[app.text, "to"], &a.words[1..]))),
        [_, to, _, extra, ..] if to.is("to") => Err(a.unexpected(extra)),
        [_, extra, ..] => Err(a.unexpected(extra)),
    }
}

/// `where can I deploy APP`, with an optional `?`.
pub(crate) fn where_can(a: &Args<'_>) -> Result<Command, Fail> {
    let asks = |w: &[Tok<'_>], last: &str| matches!(w, [can, i, deploy] if can.is("can") && i.is("i") && deploy.is(last));
    let app = match a.words {
        [lead @ .., app] if asks(lead, "deploy") => {
            app.slice(0, app.text.strip_suffix('?').unwrap_or(app.text).len())
        }
        [lead @ .., app, q] if asks(lead, "deploy") && q.text == "?" => *app,
        w if asks(w, "deploy") || asks(w, "deploy?") => return Err(a.needs("an app")),
        [app] if !app.is("can") => {
            let fix = a.line_from(&["can", "I", "deploy", app.text], &[]);
            return Err(a.unexpected(app).fix(fix));
        }
        _ => {
            return Err(Fail::new(
                ErrorKind::Usage,
                format!("ask me: {}", a.doc.usage),
            ));
        }
    };
    Ok(Command::Where { app: a.app(&app)? })
}

/// `help [COMMAND]`: the topic must be a command (`deploy!` and `!deploy` name `deploy`).
pub(crate) fn help(a: &Args<'_>) -> Result<Command, Fail> {
    let Some(topic) = a.words.first() else {
        return Ok(Command::Help { topic: None });
    };
    let word = topic.text.trim_matches('!');
    let Some(doc) = lookup(word) else {
        let reason = format!("I don't know a command {}.", quoted(topic.text));
        let fail = Fail::new(ErrorKind::UnknownCommand, reason);
        return Err(match closest(word, &verbs()) {
            Some(verb) => fail.fix(format!("help {verb}")),
            None => fail,
        });
    };
    match a.words.get(1) {
        None => Ok(Command::Help {
            topic: Some(doc.verb.to_string()),
        }),
        Some(extra) => Err(a.unexpected(extra).fix(format!("help {}", doc.verb))),
    }
}
