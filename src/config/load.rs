//! Loading: read bosun.toml and every playbook it names, parse, validate, and gather every problem.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::DeTable;

use super::error::{ConfigError, Problem};
use super::model::{Config, Playbook};
use super::paths::{dir_of, resolve};
use super::reader::{Reader, Table};
use super::source::Source;
use super::{bot, plaintext, playbook};

/// Loads bosun.toml at `path` and every playbook its `bot.playbooks` names (relative to its
/// directory). Problems in playbooks are reported under the playbook's path as named, joined to
/// the config's directory (`playbooks/demo.toml` for a config loaded as `bosun.toml`).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let source = read_source(path).map_err(|problem| ConfigError {
        problems: vec![problem],
    })?;
    let document = parse(&source).map_err(|problems| ConfigError { problems })?;
    let dir = dir_of(path);
    let mut reader = Reader::new(&source);
    let root = Table::root(&document);
    plaintext::forbid(&mut reader, &root);
    let file = bot::read(&mut reader, &root, dir);

    let mut playbooks = Playbooks::default();
    for named in &file.playbooks {
        if let Err(message) = playbooks.add(dir, named, &file.bot.state_dir) {
            reader.report(named.at, named.key.clone(), message);
        }
    }

    let mut problems = reader.finish();
    problems.extend(playbooks.problems);
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(Config {
        path: path.to_path_buf(),
        bot: file.bot,
        chat: file.chat,
        journal: file.journal,
        tracker: file.tracker,
        announce: file.announce,
        web: file.web,
        redact: file.redact,
        people: file.people,
        roles: file.roles,
        playbooks: playbooks.loaded,
    })
}

/// The playbooks named by `bot.playbooks`, read so far, and the problems found in them.
#[derive(Default)]
struct Playbooks {
    loaded: Vec<Playbook>,
    problems: Vec<Problem>,
    /// Each file read (resolved) → the key that named it.
    files: BTreeMap<PathBuf, String>,
    /// Each app name → the file that defines it.
    apps: BTreeMap<String, PathBuf>,
}

impl Playbooks {
    /// Reads the playbook `named` names. A problem with the entry itself (no such file, named
    /// twice) is returned for bosun.toml; problems inside the playbook are kept.
    fn add(
        &mut self,
        dir: &Path,
        named: &bot::PlaybookRef,
        state_dir: &Path,
    ) -> Result<(), String> {
        let shown = dir.join(&named.written);
        if let Some(first) = self.files.get(&resolve(dir, &named.written)) {
            return Err(format!("{} is already named by {first}", named.written));
        }
        self.files
            .insert(resolve(dir, &named.written), named.key.clone());
        let text = std::fs::read_to_string(&shown).map_err(|e| match e.kind() {
            ErrorKind::NotFound => format!("no such file: {}", named.written),
            _ => format!("cannot read {}: {e}", named.written),
        })?;
        let source = Source::new(shown, text);
        let (file, mut problems) = check_playbook(&source, state_dir);
        if let Some(file) = file {
            let name = &file.playbook.app.name;
            match (self.apps.get(name), file.name_at) {
                (Some(first), Some(at)) if !name.is_empty() => {
                    let message =
                        format!("duplicate app {name:?}; {} defines it too", first.display());
                    problems.push(source.problem(at, "app.name", message));
                    problems.sort_by_key(|p| (p.line, p.column));
                }
                _ => {
                    self.apps.insert(name.clone(), source.path.clone());
                }
            }
            self.loaded.push(file.playbook);
        }
        self.problems.extend(problems);
        Ok(())
    }
}

/// Loads one playbook; hosts with no `[hosts.NAME]` entry live in `<state_dir>/hosts/NAME`.
pub fn load_playbook(path: &Path, state_dir: &Path) -> Result<Playbook, ConfigError> {
    let source = read_source(path).map_err(|problem| ConfigError {
        problems: vec![problem],
    })?;
    match check_playbook(&source, &resolve(Path::new(""), state_dir)) {
        (Some(file), problems) if problems.is_empty() => Ok(file.playbook),
        (_, problems) => Err(ConfigError { problems }),
    }
}

/// A playbook's value (absent when it is not valid TOML) and every problem found in it.
fn check_playbook(
    source: &Source,
    state_dir: &Path,
) -> (Option<playbook::PlaybookFile>, Vec<Problem>) {
    let document = match parse(source) {
        Ok(document) => document,
        Err(problems) => return (None, problems),
    };
    let mut reader = Reader::new(source);
    let root = Table::root(&document);
    plaintext::forbid(&mut reader, &root);
    let file = playbook::read(&mut reader, &root, &source.path, state_dir);
    (Some(file), reader.finish())
}

fn read_source(path: &Path) -> Result<Source, Problem> {
    std::fs::read_to_string(path)
        .map(|text| Source::new(path, text))
        .map_err(|e| {
            let message = if e.kind() == ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                format!("cannot read: {e}")
            };
            Problem {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                key: String::new(),
                message,
            }
        })
}

/// The document, or every syntax error in it. The messages are the parser's own, without the
/// quoted source line it would otherwise show (which could hold a secret).
fn parse(source: &Source) -> Result<Spanned<DeTable<'_>>, Vec<Problem>> {
    let (document, errors) = DeTable::parse_recoverable(&source.text);
    if errors.is_empty() {
        return Ok(document);
    }
    Err(errors
        .iter()
        .map(|e| {
            source.problem(
                e.span().map_or(0, |span| span.start),
                "",
                e.message().to_string(),
            )
        })
        .collect())
}
