//! The `verify` check: the commit's archive (the one the deploy ships) unpacked into a scratch
//! directory on this machine, and each `verify` command run there in order, within its time limit.
//!
//! Scratch directories are `<state_dir>/checks/<app>-<short>-<pid>-<n>`, removed afterwards; one
//! left by an earlier bot process (after a crash) is removed by the next verify.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::CheckInput;
use super::ci::variables;
use crate::source::{Mirror, archive_path};
use crate::transport::{LocalHost, RemoteCommand, TransportError};

static NEXT: AtomicU64 = AtomicU64::new(0);

pub(super) async fn check(input: &CheckInput<'_>) -> Result<(), String> {
    let short = input.revision.short;
    let dir = unpack(input)
        .await
        .map_err(|e| format!("cannot unpack {short} to verify it: {e}"))?;
    let outcome = run_all(input, &dir).await;
    let removed = dir.clone();
    let _ = tokio::task::spawn_blocking(move || fs::remove_dir_all(removed)).await;
    outcome
}

async fn run_all(input: &CheckInput<'_>, dir: &Path) -> Result<(), String> {
    let settings = &input.env.checks;
    let vars = variables(input);
    let short = input.revision.short;
    let host = LocalHost::new("verify", dir);
    for spec in &settings.verify {
        let command = RemoteCommand::new(spec.render(&vars))
            .in_dir(dir.to_string_lossy())
            .with_timeout(settings.verify_timeout);
        let shown = command.display();
        match host.run(&command, None).await {
            Ok(out) if out.success() => {}
            Ok(out) => {
                let status = match out.code {
                    Some(code) => format!("exit {code}"),
                    None => "killed".to_string(),
                };
                let said = match out.last_line() {
                    "" => String::new(),
                    line => format!(": {line}"),
                };
                return Err(format!(
                    "{shown} failed on {short} ({status}){said}; fix it and deploy a new revision"
                ));
            }
            Err(TransportError::Timeout(limit)) => {
                return Err(format!(
                    "{shown} took longer than {} on {short}; make it faster or raise verify_timeout",
                    crate::clock::human_duration(limit)
                ));
            }
            Err(e) => return Err(format!("cannot run {shown}: {e}")),
        }
    }
    Ok(())
}

/// Unpacks the commit's archive (writing it first if the engine has not) into a new scratch
/// directory, after removing scratch directories earlier processes left behind.
async fn unpack(input: &CheckInput<'_>) -> Result<PathBuf, String> {
    let state_dir = input.state_dir.to_path_buf();
    let app = input.app().to_string();
    let sha = input.revision.sha.to_string();
    let short = input.revision.short.to_string();
    tokio::task::spawn_blocking(move || {
        let scratch = state_dir.join("checks");
        sweep(&scratch);
        let archive = archive_path(&state_dir, &app, &sha);
        if !archive.exists() {
            let mirror = Mirror::open(&state_dir, &app).map_err(|e| e.to_string())?;
            mirror
                .write_archive(&sha, &archive)
                .map_err(|e| e.to_string())?;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = scratch.join(format!("{app}-{short}-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = File::open(&archive).map_err(|e| format!("{}: {e}", archive.display()))?;
        if let Err(e) = tar::Archive::new(file).unpack(&dir) {
            let _ = fs::remove_dir_all(&dir);
            return Err(format!("{}: {e}", archive.display()));
        }
        Ok(dir)
    })
    .await
    .map_err(|e| format!("internal error: {e}"))?
}

/// Removes scratch directories that other processes left (this process's may be in use).
fn sweep(scratch: &Path) {
    let Ok(entries) = fs::read_dir(scratch) else {
        return;
    };
    let mine = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `<app>-<short>-<pid>-<n>`: the pid is the second field from the end.
        let pid = name.rsplit('-').nth(1);
        if pid != Some(mine.as_str()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
