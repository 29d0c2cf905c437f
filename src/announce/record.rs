//! Text for the whole record: links to a deploy's page, `releases`, and the full `status`.

use crate::clock::format_utc;
use crate::config::WebSection;
use crate::engine::KeptReleases;
use crate::journal::{DeployRecord, FreezeRecord, LockRecord};

use super::{count, history_line, lock_line, revision_of};

/// The URL of deploy `id`'s page, when the page has a public URL.
pub fn page_link(web: Option<&WebSection>, id: i64) -> Option<String> {
    let base = web?.public_url.as_deref()?;
    Some(format!("{base}/deploys/{id}"))
}

/// `export ID`: where to download the deploy's whole record, and what is in it.
pub fn export_text(d: &DeployRecord, web: Option<&WebSection>) -> String {
    let whence = match web.and_then(|w| w.public_url.as_deref()) {
        Some(base) => format!("download it from {base}/deploys/{}/export", d.id),
        None => format!(
            "on the bot's machine: bosun export {} -o deploy-{}.tar.gz",
            d.id, d.id
        ),
    };
    format!(
        "The whole record of {} #{} ({} to {} by {}): {whence}. It holds README.txt (who, what, \
         where, when, how it ended), plan.json, steps.txt (every step's command, outcome, timing \
         and output, undos included), chat.txt (everything I said about it), files.txt (every \
         file shipped with its SHA-256) and archive.tar (the archive shipped, while I keep it).",
        d.kind.as_str(),
        d.id,
        d.app,
        d.env,
        d.requested_by
    )
}

/// `releases APP in ENV`
pub fn releases_text(kept: &KeptReleases) -> String {
    let mut out = format!(
        "{} on {} keeps {} on {}, newest first:",
        kept.app,
        kept.env,
        count(kept.releases.len(), "release"),
        count(kept.hosts.len(), "host")
    );
    let everywhere = kept.hosts.len() - kept.unreachable.len();
    for r in &kept.releases {
        out.push_str(&format!("\n• {}", r.name));
        match &r.deploy {
            Some(d) => out.push_str(&format!(
                " — {}, deployed {} by {}, journal #{}",
                revision_of(d),
                format_utc(d.finished_at.unwrap_or(d.started_at)),
                d.requested_by,
                d.id
            )),
            None => out.push_str(" — not in the journal"),
        }
        if r.deploy
            .as_ref()
            .is_some_and(|d| d.state == crate::journal::DeployState::Running)
        {
            out.push_str(" · its deploy is removing old releases");
        }
        if !r.migrations.is_empty() {
            out.push_str(&format!(" · migrated: {}", r.migrations.join("; ")));
        }
        if !r.live_on.is_empty() {
            if r.live_on.len() == everywhere {
                out.push_str(" · LIVE");
            } else {
                out.push_str(&format!(" · live on {}", r.live_on.join(", ")));
            }
        }
        if r.on.len() < everywhere {
            out.push_str(&format!(" · only on {}", r.on.join(", ")));
        }
    }
    for (host, why) in &kept.unreachable {
        out.push_str(&format!("\n({host} did not answer: {why})"));
    }
    if kept.releases.len() > 1 {
        out.push_str(&format!(
            "\n\"rollback {} in {} to RELEASE\" switches to one (its later migrations run down first)",
            kept.app, kept.env
        ));
    }
    out
}

/// A request waiting in the `when free` queue, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedLine {
    pub kind: String,
    pub app: String,
    pub env: String,
    pub who: String,
}

/// Everything `status` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// One line per app and environment: what is live there.
    pub live: Vec<String>,
    /// Deploy locks (running deploys) and manual locks.
    pub locks: Vec<LockRecord>,
    /// Freezes that hold now.
    pub freezes: Vec<FreezeRecord>,
    pub queue: Vec<QueuedLine>,
    /// Failed deploys whose undo failed too, not put right since.
    pub need_a_look: Vec<DeployRecord>,
    /// Hosts on another release than their fleet. Filled by the reconciliation of the hosts;
    /// until that reports, empty (and `status` says nothing about drift).
    pub drift: Vec<String>,
}

/// The text of `status`.
pub fn status_text(s: &Status) -> String {
    let mut lines = s.live.clone();
    lines.extend(s.locks.iter().map(lock_line));
    if !s.locks.iter().any(|l| l.deploy_id.is_some()) {
        lines.push("nothing is running".into());
    }
    for f in &s.freezes {
        lines.push(format!(
            "frozen: {} by {} {}: {}",
            f.env,
            f.holder,
            crate::checks::until_text(f.until),
            f.reason
        ));
    }
    for (i, q) in s.queue.iter().enumerate() {
        lines.push(format!(
            "queued ({} in line): {} {} {} {} for {}",
            i + 1,
            q.kind,
            q.app,
            if q.kind == "deploy" { "to" } else { "in" },
            q.env,
            q.who
        ));
    }
    for d in &s.need_a_look {
        lines.push(format!(
            "NEEDS A LOOK: {} — say \"repair {}\" once its hosts answer (I also try on my own)",
            history_line(d),
            d.env
        ));
    }
    for d in &s.drift {
        lines.push(format!("drift: {d}"));
    }
    lines.join("\n")
}
