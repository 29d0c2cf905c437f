//! The parser's driver: an addressed line to a `Command`, or a `ParseError` with a suggestion
//! that is itself a command that parses.

use super::error::{ErrorKind, ParseError, quoted};
use super::lex::{Tok, words};
use super::line::check_line;
use super::model::{Command, Name, RefName};
use super::suggest::closest;
use super::table::{CommandDoc, lookup, verbs};
use super::validate::NameError;

/// Parses one line already addressed to bosun (as `bosun deploy …` on the command line would be):
/// keywords in any case, names in lower case. Pure: no I/O, no configuration.
pub fn parse(command_text: &str) -> Result<Command, ParseError> {
    let line = command_text.trim();
    check_line(line)?;
    attempt(line).map_err(Fail::into_error)
}

/// Why a line did not parse, before the suggestion is worked out.
#[derive(Debug)]
pub(crate) struct Fail {
    kind: ErrorKind,
    reason: String,
    /// A corrected line: suggested (in its canonical form) only if it parses.
    fix: Option<String>,
    /// What to suggest when there is no fix or it does not parse.
    fallback: Option<&'static str>,
}

impl Fail {
    pub fn new(kind: ErrorKind, reason: String) -> Fail {
        Fail {
            kind,
            reason,
            fix: None,
            fallback: None,
        }
    }

    pub fn fix(mut self, line: String) -> Fail {
        self.fix = Some(line);
        self
    }

    fn into_error(self) -> ParseError {
        let fixed = self
            .fix
            .and_then(|line| attempt(&line).ok())
            .map(|c| c.to_string());
        let suggestion = fixed.or(self.fallback.map(str::to_string));
        ParseError {
            kind: self.kind,
            reason: self.reason,
            suggestion,
        }
    }
}

/// Parses a checked, trimmed line without working out suggestions.
pub(crate) fn attempt(line: &str) -> Result<Command, Fail> {
    let all = words(line);
    let Some((first, rest)) = all.split_first() else {
        return Err(Fail::new(ErrorKind::Empty, "What shall I do?".into()));
    };
    let (word, force) = match first.text.strip_suffix('!') {
        Some(word) => (word, true),
        None => (first.text, false),
    };
    let Some(doc) = lookup(word) else {
        return Err(unknown(line, first, word, force));
    };
    let args = Args {
        doc,
        force,
        words: rest,
        line,
    };
    if force && doc.force.is_none() {
        let reason = format!("{} has no forced form: {}", doc.verb, doc.usage);
        return Err(Fail::new(ErrorKind::Usage, reason).fix(args.line_from(&[], rest)));
    }
    (doc.parse)(&args)
}

fn unknown(line: &str, first: &Tok<'_>, word: &str, force: bool) -> Fail {
    let reason = format!("I don't understand {}.", quoted(line));
    let mut fail = Fail::new(ErrorKind::UnknownCommand, reason);
    if let Some(verb) = closest(word, &verbs()) {
        let bang = if force { "!" } else { "" };
        fail = fail.fix(format!("{verb}{bang}{}", &line[first.end()..]));
        fail.fallback = lookup(verb).map(|doc| doc.usage);
    }
    fail
}

/// What a command's own grammar gets: the words after its verb and the whole line.
pub(crate) struct Args<'a> {
    pub doc: &'static CommandDoc,
    /// The verb was written with `!`.
    pub force: bool,
    pub words: &'a [Tok<'a>],
    pub line: &'a str,
}

impl Args<'_> {
    /// The verb as the canonical text writes it: `deploy` or `deploy!`.
    fn verb_word(&self) -> String {
        let bang = if self.force && self.doc.force.is_some() {
            "!"
        } else {
            ""
        };
        format!("{}{bang}", self.doc.verb)
    }

    /// A corrected line: the verb, then `parts`, then `rest`.
    pub fn line_from(&self, parts: &[&str], rest: &[Tok<'_>]) -> String {
        let mut line = self.verb_word();
        for word in parts.iter().copied().chain(rest.iter().map(|t| t.text)) {
            line.push(' ');
            line.push_str(word);
        }
        line
    }

    /// This line with `tok` replaced by `with`.
    pub fn replace(&self, tok: &Tok<'_>, with: &str) -> String {
        format!(
            "{}{with}{}",
            &self.line[..tok.start],
            &self.line[tok.end()..]
        )
    }

    /// `deploy needs an app: deploy APP[/REF] …`
    pub fn needs(&self, what: &str) -> Fail {
        let reason = format!("{} needs {what}: {}", self.doc.verb, self.doc.usage);
        Fail::new(ErrorKind::Usage, reason)
    }

    /// `"to" needs an environment: deploy APP[/REF] …`
    pub fn needs_after(&self, keyword: &Tok<'_>, what: &str) -> Fail {
        let reason = format!("{} needs {what}: {}", quoted(keyword.text), self.doc.usage);
        Fail::new(ErrorKind::Usage, reason)
    }

    /// `"b" doesn't fit there: deploy APP[/REF] …`
    pub fn unexpected(&self, tok: &Tok<'_>) -> Fail {
        let reason = format!("{} doesn't fit there: {}", quoted(tok.text), self.doc.usage);
        Fail::new(ErrorKind::Usage, reason)
    }

    pub fn app(&self, tok: &Tok<'_>) -> Result<Name, Fail> {
        self.name(tok, "an app")
    }

    pub fn env(&self, tok: &Tok<'_>) -> Result<Name, Fail> {
        self.name(tok, "an environment")
    }

    fn name(&self, tok: &Tok<'_>, what: &str) -> Result<Name, Fail> {
        Name::parse(tok.text).map_err(|e| {
            let reason = format!("{} is not {what} name ({e})", quoted(tok.text));
            let fail = Fail::new(ErrorKind::BadName, reason);
            match e {
                NameError::UpperCase => fail.fix(self.replace(tok, &tok.text.to_ascii_lowercase())),
                _ => fail,
            }
        })
    }

    pub fn reference(&self, tok: &Tok<'_>) -> Result<RefName, Fail> {
        RefName::parse(tok.text).map_err(|e| {
            let reason = format!("{} is not a git ref name ({e})", quoted(tok.text));
            Fail::new(ErrorKind::BadRef, reason)
        })
    }

    /// `APP[/REF]`: the app, and the ref after the first `/`.
    pub fn target(&self, tok: &Tok<'_>) -> Result<(Name, Option<RefName>), Fail> {
        let Some(slash) = tok.text.find('/') else {
            return Ok((self.app(tok)?, None));
        };
        let (app, reference) = (tok.slice(0, slash), tok.slice(slash + 1, tok.text.len()));
        if app.text.is_empty() {
            let reason = format!("{} needs an app before the \"/\"", quoted(tok.text));
            return Err(Fail::new(
                ErrorKind::Usage,
                format!("{reason}: {}", self.doc.usage),
            ));
        }
        let app = self.app(&app)?;
        match self.reference(&reference) {
            Ok(reference) => Ok((app, Some(reference))),
            Err(_) if reference.text.is_empty() => {
                let reason = format!("{} needs a ref after the \"/\"", quoted(tok.text));
                Err(Fail::new(
                    ErrorKind::BadRef,
                    format!("{reason}: {}", self.doc.usage),
                ))
            }
            Err(fail) => Err(fail),
        }
    }
}
