//! `bosun export` and the page's download: one deploy's whole record as a tar.gz that people
//! can read without bosun.
//!
//! Inside `deploy-ID/`: `README.txt` (who, what, where, when, how it ended, and this list),
//! `plan.json` (the plan as journaled), `steps.txt` (every step with its command, outcome, timing
//! and output, undos included, in the order they ran), `chat.txt` (every message the bot sent
//! about the deploy), `files.txt` (every file shipped with its size and SHA-256, its content
//! address) and `archive.tar` (the exact archive shipped, whose SHA-256 `files.txt` names) when
//! the bot still keeps it. Configured secrets are hidden in all of it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::{DeployRecord, FileRecord, Journal, JournalError, MessageRecord, StepRecord};
use crate::clock::format_utc;
use crate::redact::Redactor;

/// Everything an export holds, read from the journal.
struct Record {
    deploy: DeployRecord,
    steps: Vec<StepRecord>,
    files: Vec<FileRecord>,
    messages: Vec<MessageRecord>,
    /// The archive that shipped, when the bot still has it.
    archive: Option<PathBuf>,
    redactor: Redactor,
}

async fn read_record(
    journal: &Journal,
    id: i64,
    state_dir: Option<&Path>,
) -> Result<Record, JournalError> {
    let deploy = journal.deploy(id).await?;
    let archive = match (state_dir, &deploy.revision) {
        (Some(dir), Some(sha)) if deploy.kind == super::DeployKind::Deploy => {
            Some(crate::source::archive_path(dir, &deploy.app, sha)).filter(|p| p.is_file())
        }
        _ => None,
    };
    Ok(Record {
        steps: journal.steps(id).await?,
        files: journal.files(id).await?,
        messages: journal.messages(id).await?,
        deploy,
        archive,
        redactor: journal.redactor().clone(),
    })
}

/// Writes deploy `id`'s record to the file `out` (see the module's description). The archive
/// shipped is taken from `state_dir` (the bot's cache) when given and still there.
pub async fn export(
    journal: &Journal,
    id: i64,
    out: &Path,
    state_dir: Option<&Path>,
) -> Result<(), JournalError> {
    let record = read_record(journal, id, state_dir).await?;
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let tmp = out.with_extension("partial");
        let file = std::fs::File::create(&tmp)?;
        write_archive(&record, file)?;
        std::fs::rename(&tmp, &out)?;
        Ok(())
    })
    .await
    .map_err(|_| JournalError::Join)?
}

/// Writes deploy `id`'s record into `file` (e.g. an unnamed temporary file the page streams).
pub async fn export_to(
    journal: &Journal,
    id: i64,
    file: std::fs::File,
    state_dir: Option<&Path>,
) -> Result<std::fs::File, JournalError> {
    let record = read_record(journal, id, state_dir).await?;
    tokio::task::spawn_blocking(move || write_archive(&record, file))
        .await
        .map_err(|_| JournalError::Join)?
}

fn write_archive<W: Write>(record: &Record, out: W) -> Result<W, JournalError> {
    let deploy = &record.deploy;
    let redact = |text: String| record.redactor.redact_owned(text);
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let dir = format!("deploy-{}", deploy.id);
    let mtime = (deploy.started_at / 1000).max(0) as u64;
    let mut add = |name: &str, body: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, format!("{dir}/{name}"), body)
    };
    let archive_sum = match &record.archive {
        Some(path) => Some(sha256_of(path)?),
        None => None,
    };
    add(
        "README.txt",
        redact(readme(deploy, archive_sum.as_deref())).as_bytes(),
    )?;
    add(
        "plan.json",
        redact(deploy.plan.clone().unwrap_or_else(|| "{}".into())).as_bytes(),
    )?;
    add("steps.txt", redact(steps_text(&record.steps)).as_bytes())?;
    add("chat.txt", redact(chat_text(&record.messages)).as_bytes())?;
    add(
        "files.txt",
        files_text(&record.files, archive_sum.as_deref()).as_bytes(),
    )?;
    if let Some(path) = &record.archive {
        let mut file = std::fs::File::open(path)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(file.metadata()?.len());
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, format!("{dir}/archive.tar"), &mut file)?;
    }
    let out = tar.into_inner()?.finish()?;
    Ok(out)
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn chat_text(messages: &[MessageRecord]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&format!(
            "[{}] {} ({}):\n",
            format_utc(m.at),
            m.room,
            m.kind
        ));
        for line in m.text.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("(no messages recorded)\n");
    }
    out
}

fn readme(d: &DeployRecord, archive_sum: Option<&str>) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let contents = format!(
        "\nIn this archive:\n\
         README.txt   this summary\n\
         plan.json    the plan as journaled before anything ran\n\
         steps.txt    every step: command, outcome, timing, output; undos included\n\
         chat.txt     every message the bot sent about this deploy\n\
         files.txt    every file shipped: SHA-256, size, path\n{}",
        match archive_sum {
            Some(sum) => format!("archive.tar  the exact archive shipped (SHA-256 {sum})\n"),
            None => "(the archive shipped is no longer kept; files.txt names each file by its SHA-256)\n".into(),
        }
    );
    let summary = format!(
        "{kind} #{id}: {app} to {env}\n\
         requested by: {by} in {room}\n\
         reference:    {reference}\n\
         revision:     {revision}\n\
         tag:          {tag}\n\
         release:      {release}\n\
         replaced:     {prev_release} ({prev_rev})\n\
         state:        {state}\n\
         started:      {started}\n\
         finished:     {finished}\n\
         summary:      {summary}\n",
        kind = d.kind.as_str(),
        id = d.id,
        app = d.app,
        env = d.env,
        by = d.requested_by,
        room = d.room,
        reference = opt(&d.reference),
        revision = opt(&d.revision),
        tag = opt(&d.tag),
        release = opt(&d.release),
        prev_release = opt(&d.previous_release),
        prev_rev = opt(&d.previous_revision),
        state = d.state.as_str(),
        started = format_utc(d.started_at),
        finished = d
            .finished_at
            .map(format_utc)
            .unwrap_or_else(|| "-".to_string()),
        summary = opt(&d.summary),
    );
    summary + &contents
}

fn steps_text(steps: &[StepRecord]) -> String {
    let mut out = String::new();
    for s in steps {
        out.push_str(&format!(
            "== step {} [{}] {} on {}: {}\n   started {}{}\n   action: {}\n",
            s.seq,
            s.phase,
            s.label,
            s.host.as_deref().unwrap_or("(bot)"),
            s.state.as_str(),
            format_utc(s.started_at),
            s.finished_at
                .map(|f| format!(", took {} ms", f - s.started_at))
                .unwrap_or_default(),
            s.action,
        ));
        if let Some(undo) = &s.undo {
            out.push_str(&format!("   undo:   {undo}\n"));
        }
        if let Some(of) = s.undo_of {
            out.push_str(&format!("   reverses journal step {of}\n"));
        }
        if let Some(output) = s.output.as_deref().filter(|o| !o.is_empty()) {
            for line in output.lines() {
                out.push_str("   | ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

fn files_text(files: &[FileRecord], archive_sum: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(sum) = archive_sum {
        out.push_str(&format!("# archive.tar sha256 {sum}\n"));
    }
    out.push_str("# sha256  size  path\n");
    for f in files {
        out.push_str(&format!("{}  {}  {}\n", f.sha256, f.size, f.path));
    }
    out
}
