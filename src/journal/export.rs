//! `bosun export`: one deploy's whole record as a tar.gz that people can read without bosun.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{DeployRecord, FileRecord, Journal, JournalError, StepRecord};
use crate::clock::format_utc;

/// Writes deploy `id`'s record to `out` as a tar.gz holding `deploy-ID/README.txt` (the
/// summary), `plan.json`, `steps.txt` (every step with its command, outcome and output, in the
/// order they ran) and `files.txt` (every file shipped with its size and SHA-256).
pub async fn export(journal: &Journal, id: i64, out: &Path) -> Result<(), JournalError> {
    let deploy = journal.deploy(id).await?;
    let steps = journal.steps(id).await?;
    let files = journal.files(id).await?;
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || write_archive(&deploy, &steps, &files, &out))
        .await
        .map_err(|_| JournalError::Join)?
}

fn write_archive(
    deploy: &DeployRecord,
    steps: &[StepRecord],
    files: &[FileRecord],
    out: &Path,
) -> Result<(), JournalError> {
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let dir = format!("deploy-{}", deploy.id);
    let mut add = |name: &str, body: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_mtime((deploy.started_at / 1000).max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, format!("{dir}/{name}"), body)
    };
    add("README.txt", readme(deploy).as_bytes())?;
    add(
        "plan.json",
        deploy.plan.as_deref().unwrap_or("{}").as_bytes(),
    )?;
    add("steps.txt", steps_text(steps).as_bytes())?;
    add("files.txt", files_text(files).as_bytes())?;
    tar.into_inner()?.finish()?.flush()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

fn readme(d: &DeployRecord) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    format!(
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
    )
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

fn files_text(files: &[FileRecord]) -> String {
    let mut out = String::from("# sha256  size  path\n");
    for f in files {
        out.push_str(&format!("{}  {}  {}\n", f.sha256, f.size, f.path));
    }
    out
}
