//! What a step does on a host, as a journaled value (`Action`), and the one place that turns it into commands.
//!
//! Actions are serde records with an `op` tag: the journal stores them, and recovery reads them
//! back after a crash, so their shape is a versioned boundary (see `tests/fixtures/journal`).
//! Every shell script here is a constant; values only ever travel as positional arguments.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::transport::RemoteCommand;

/// One thing done on one host (or, for `Run`, by one command).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// Unpack the archive into `releases/<release>` (through a `.partial` directory renamed at
    /// the end, so a release directory is complete or absent), write `REVISION`, and link the
    /// shared paths into it.
    Stage {
        deploy_to: String,
        release: String,
        archive: PathBuf,
        revision: String,
        shared: Vec<String>,
        /// How this host is staged: by delta from its live release, or in full and why.
        /// Absent in records written before delta staging (they staged in full).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staging: Option<Staging>,
    },
    /// Remove a release directory; refuses while `current` points at it.
    RemoveRelease { deploy_to: String, release: String },
    /// Point `current` at `releases/<release>` atomically (a temporary link renamed over it).
    Switch { deploy_to: String, release: String },
    /// Remove `current` (the undo of a first deploy's switch).
    Unlink { deploy_to: String },
    /// A playbook command (build, migrate, restart), argument vector already rendered.
    Run {
        /// What it is for: `build`, `restart`, `migrate up`, `migrate down`.
        what: String,
        argv: Vec<String>,
        cwd: String,
        timeout_ms: u64,
    },
    /// A migration, up or down. Up leaves a marker on the host before it starts; down runs only
    /// where that marker is, and removes it. So a down after a crash runs exactly when its up
    /// had started, and running it twice does nothing the second time.
    Migrate {
        up: bool,
        argv: Vec<String>,
        cwd: String,
        timeout_ms: u64,
        /// The marker file on the host.
        marker: String,
    },
    /// Forgets a migration that was stopped before it finished: its marker goes, so that no
    /// later down runs for an up that did not happen (migrations must undo themselves when
    /// stopped, as a migration in a transaction does).
    ForgetMigration { marker: String },
    /// A health check over HTTP from the bot: a 2xx answer within `retries + 1` attempts.
    HealthHttp {
        url: String,
        retries: u32,
        interval_ms: u64,
        timeout_ms: u64,
    },
    /// A health check: the command must succeed within `retries + 1` attempts.
    Health {
        argv: Vec<String>,
        cwd: String,
        retries: u32,
        interval_ms: u64,
        timeout_ms: u64,
    },
    /// Remove the oldest releases beyond `keep`, never one named in `protect`.
    Cleanup {
        deploy_to: String,
        keep: usize,
        protect: Vec<String>,
    },
}

/// How one host's release is staged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "way", rename_all = "snake_case")]
pub enum Staging {
    /// Copied from the live release `base` (which holds `base_revision`) on the host, with the
    /// `delta` stream applied, then checked against the tree hash `tree`; the full archive
    /// when the host refuses the delta.
    Delta {
        base: String,
        base_revision: String,
        delta: PathBuf,
        tree: String,
        /// Hard links to the live release's files (else a copy).
        link: bool,
        changed: usize,
        added: usize,
        removed: usize,
    },
    /// The full archive, and why not a delta.
    Full { reason: String },
}

/// The exit code with which the delta staging script refuses a delta (before anything of the
/// new release is left behind): the step then unpacks the full archive instead.
pub const DELTA_REFUSED: i32 = 79;

/// The end of both ways of staging, in `$r.partial` (release `$rel`, `$r`, of deploy root
/// `$d`): `REVISION`, the shared paths linked (the arguments left), and the rename into place.
/// Each way then leaves the release's stat record (`.bosun/stat/<rel>`: path, inode, size, mode
/// and mtime of its entries), which lets the next delta from it skip hashing what it links.
macro_rules! finish_release {
    () => {
        r#"printf '%s\n' "$rev" > "$r.partial/REVISION"
for p in "$@"; do
  mkdir -p "$d/shared/$p"
  rm -rf "$r.partial/$p"
  mkdir -p "$(dirname "$r.partial/$p")"
  ln -s "$d/shared/$p" "$r.partial/$p"
done
if [ -e "$r" ] || [ -L "$r" ]; then rm -rf "$r"; fi
mv "$r.partial" "$r"
[ -d "$d/.bosun/stat" ] || mkdir -p "$d/.bosun/stat" || true
"#
    };
}

/// `listing FILE [links]`: one line per entry under the working directory into FILE: with
/// `links`, the link count and permission bits first, then the stat record's fields (inode,
/// size, kind, mtime), the path last (`./…`). No link count and no ctime in the record: linking
/// a release changes both. GNU `find -printf` writes it in one process; where `find` has no
/// `-printf` (BusyBox), `stat -c` does, in its own format: a host always takes the same way, and
/// a record in the other format only proves nothing, so every entry goes by content.
macro_rules! listing {
    () => {
        r#"listing() {
  if [ "$2" = links ]; then a='%n %m ' b='%h %a '; else a= b=; fi
  find . ! -name . -printf "$a%i %s %y %T@ %p\n" > "$1" 2>/dev/null \
    || find . ! -name . -exec stat -c "$b%i %s %f %y %n" {} + > "$1"
}
"#
    };
}

/// The comparison of a staged tree with its manifest, in `awk` (POSIX): reads `listing` lines
/// (`links perms` then the record's fields, the path last after ` ./`: no field before holds a
/// `/`) of every entry, the manifest (`man`) and the live
/// release's stat record (`rec`); writes the entries the commit does not hold (`extra`), the
/// first entry whose kind or mode is wrong or that is missing (`wrong`), the files and symlinks
/// to compare by content (`check`, for `sha256sum -c`; `links`), how many entries the record
/// proved and how many go by content (`counts`), and the new release's own stat record
/// (`record`, kept only if the comparison passes).
macro_rules! check_tree {
    () => {
        r#"CHECK='
function bad(p) { if (!wrong) { wrong = 1; print p > (s "/wrong") } }
BEGIN {
  while ((getline l < rec) > 0) known[l] = 1
  while ((getline l < man) > 0) {
    k = l; sub(/ .*/, "", k); rest = substr(l, length(k) + 2)
    h = rest; sub(/ .*/, "", h); p = substr(rest, length(h) + 2)
    kind[p] = k; hash[p] = h
  }
  printf "" > (s "/extra"); printf "" > (s "/wrong"); printf "" > (s "/check"); printf "" > (s "/links")
  printf "" > (s "/record")
}
{
  n = $1; perm = $2; key = $0; sub(/^[^ ]+ [^ ]+ /, "", key)
  p = substr(key, index(key, " ./") + 3)
  t = $5
  if (t == "f") t = "8"; else if (t == "d") t = "4"; else if (t == "l") t = "a"
  else t = substr(t, 1, length(t) - 3)
  if (!(p in kind)) { print p > (s "/extra"); next }
  seen[p] = 1; print key > (s "/record")
  if (t == "4") got = (perm == f7) ? "d755" : "d?"
  else if (t == "8") got = (perm == f6) ? "f644" : (perm == f7) ? "f755" : "f?"
  else if (t == "a") got = "l"
  else got = "?"
  if (got != kind[p]) { bad(p); next }
  if (t != "8" && t != "a") next
  if (n > 1 && (key in known)) { proven++; next }
  hashed++
  if (t == "8") print hash[p] "  ./" p > (s "/check")
  else print hash[p] " " p > (s "/links")
}
END {
  for (p in kind) if (!(p in seen)) bad(p)
  print proven + 0, hashed + 0 > (s "/counts")
}
'
"#
    };
}

/// Stages `releases/<rel>` from the live release `releases/<base>`: copies it (hard links or
/// a copy), removes `REVISION`, the shared paths and every path the delta removes or replaces,
/// moves the delta's entries in (new inodes: a file of the live release is never written),
/// removes whatever the commit does not hold (build output, files the app wrote), and compares
/// the tree with the manifest shipped, whose hash is `$6`. Any problem before the release is
/// complete refuses the delta (exit 79, with why) and leaves nothing behind. Needs `cp -l`
/// (GNU or BusyBox) for links, and `sha256sum`, `readlink`, and `find -printf` or `stat`
/// (coreutils and findutils, or BusyBox).
///
/// The comparison hashes every file and symlink, except where the live release's stat record
/// proves the work already done. With hard links, an entry of the new release that is a link
/// (more than one) and whose path, inode, size, mode and mtime are the record's holds what the
/// live release held there when it was staged and checked, which git says is unchanged. Such
/// entries are compared by kind and mode; the shipped ones, and every entry when any link is
/// not the record's (an in-place edit moves the mtime), by content. An edit that puts the
/// mtime back on purpose is not seen.
const STAGE_DELTA: &str = concat!(
    listing!(),
    check_tree!(),
    r#"d=$1; rel=$2; rev=$3; base=$4; brev=$5; want=$6; how=$7; shift 7
r="$d/releases/$rel"; b="$d/releases/$base"; s="$d/releases/.$rel.delta"; k="$d/.bosun/stat"
refuse() { cd /; rm -rf "$r.partial" "$s"; printf 'bosun-delta: %s\n' "$*" >&2; exit 79; }
for c in awk cp cut find grep head sed sha256sum readlink stat; do
  command -v "$c" >/dev/null 2>&1 || refuse "$c is missing on this host"
done
[ -d "$b" ] || refuse "the live release $base is not on this host"
x=; { read -r x < "$b/REVISION"; } 2>/dev/null
[ "$x" = "$brev" ] || refuse "the live release $base does not hold $brev"
if [ -e "$r.partial" ] || [ -e "$s" ] || [ -e "$k/$rel" ]; then rm -rf "$r.partial" "$s" "$k/$rel"; fi
mkdir -p "$s" || refuse "cannot create $s"
tar -x -f - -C "$s" || refuse "the delta stream could not be unpacked"
x=$(sha256sum < "$s/meta/manifest")
[ "${x%% *}" = "$want" ] || refuse "the delta stream is damaged"
if [ "$how" = link ]; then
  cp -al "$b" "$r.partial" || refuse "cp -al failed (hard links need GNU or BusyBox cp)"
else
  cp -pPR "$b" "$r.partial" || refuse "cannot copy $b"
fi
# One rm for REVISION, the shared paths (the arguments) and what the delta removes.
drop() {
  n=$#; for p in "$@"; do set -- "$@" "$r.partial/$p"; done; shift "$n"
  while IFS= read -r p; do [ -z "$p" ] || set -- "$@" "$r.partial/$p"; done < "$s/meta/remove"
  rm -rf "$r.partial/REVISION" "$@"
}
drop "$@" || refuse "cannot remove what the delta replaces"
while IFS= read -r p; do
  [ -z "$p" ] && continue
  if [ -e "$r.partial/$p" ] || [ -L "$r.partial/$p" ]; then rm -rf "$r.partial/$p"; fi
  mv "$s/tree/$p" "$r.partial/$p" || refuse "cannot put $p in place"
done < "$s/meta/put"
cd "$r.partial" || refuse "cannot enter $r.partial"
if [ "$(id -u)" = 0 ]; then f6=644 f7=755; else
  u=$(umask); f6=$(printf '%o' $((0644 & ~0$u))); f7=$(printf '%o' $((0755 & ~0$u)))
fi
rec=/dev/null why="the release is a copy, not links"
if [ "$how" = link ]; then
  why="$base has no stat record"
  [ -r "$k/$base" ] && rec="$k/$base" why="$base changed since it was staged"
fi
listing "$s/listing" links || refuse "cannot list $r.partial"
awk -v f6="$f6" -v f7="$f7" -v s="$s" -v rec="$rec" -v man="$s/meta/manifest" "$CHECK" "$s/listing" \
  || refuse "cannot compare the release staged from $base"
while IFS= read -r p; do [ -z "$p" ] || rm -rf "./$p"; done < "$s/extra"
if [ ! -s "$s/wrong" ] && [ -s "$s/check" ] && ! sha256sum -c "$s/check" > "$s/checked" 2>/dev/null; then
  grep -v ': OK$' "$s/checked" | head -n 1 | sed 's/: [^:]*$//; s|^\./||' > "$s/wrong"
  [ -s "$s/wrong" ] || echo "(sha256sum -c failed)" > "$s/wrong"
fi
if [ ! -s "$s/wrong" ]; then
  while IFS= read -r l; do
    [ "$(printf '%s' "$(readlink "./${l#* }")" | sha256sum | cut -c1-64)" = "${l%% *}" ] \
      || { printf '%s\n' "${l#* }" > "$s/wrong"; break; }
  done < "$s/links"
fi
if [ -s "$s/wrong" ]; then
  refuse "the release staged from $base differs from $rev at $(head -n 1 "$s/wrong")"
fi
read -r proven hashed < "$s/counts"
if [ "$proven" -gt 0 ]; then
  echo "checked: the shipped entries by content, the linked ones by the stat record of $base ($hashed by content, $proven by the record)"
else
  echo "checked: every entry by content ($why)"
fi
cd / || exit 1
set -e
"#,
    finish_release!(),
    r#"mv -f "$s/record" "$k/$rel" || true
rm -rf "$s"
"#
);

const STAGE: &str = concat!(
    listing!(),
    r#"set -e
d=$1; rel=$2; rev=$3; shift 3
[ -d "$d/releases" ] && [ -d "$d/shared" ] || mkdir -p "$d/releases" "$d/shared"
r="$d/releases/$rel"
if [ -e "$r.partial" ] || [ -e "$d/.bosun/stat/$rel" ]; then rm -rf "$r.partial" "$d/.bosun/stat/$rel"; fi
mkdir "$r.partial"
tar -x -f - -C "$r.partial"
"#,
    finish_release!(),
    r#"(cd "$r" && listing "$d/.bosun/stat/$rel.tmp") \
  && [ -s "$d/.bosun/stat/$rel.tmp" ] && mv -f "$d/.bosun/stat/$rel.tmp" "$d/.bosun/stat/$rel" \
  || rm -f "$d/.bosun/stat/$rel.tmp"
"#
);

/// Removes one release (renamed aside first, as the clean-up does), its unfinished stage and
/// its delta scratch directory; refuses while `current` points at it.
const REMOVE_RELEASE: &str = r#"set -e
r="$1/releases/$2"
if [ "$(readlink "$1/current" 2>/dev/null)" = "$r" ]; then
  echo "refusing to remove $r: current points at it" >&2; exit 1
fi
if [ -e "$r" ] || [ -L "$r" ]; then
  rm -rf "$1/releases/.$2.removing"
  mv "$r" "$1/releases/.$2.removing"
fi
rm -rf "$1/releases/.$2.removing" "$r.partial" "$1/releases/.$2.delta"
rm -f "$1/.bosun/stat/$2"
"#;

const SWITCH: &str = r#"set -e
test -d "$1/releases/$2"
ln -sfn "$1/releases/$2" "$1/.current.tmp"
mv -T "$1/.current.tmp" "$1/current"
"#;

const UNLINK: &str = r#"rm -f "$1/current" "$1/.current.tmp""#;

const FORGET_MIGRATION: &str = r#"rm -f "$1""#;

/// Looks at a host before anything is staged: the deploy root exists and is writable, where
/// `current` points and the revision it holds, the free space there, which of the named
/// commands are missing, the releases present, the fence the step guard keeps, and the
/// migrations whose marker is there. Prints `key=value` lines. Builtins where it can: it runs on
/// every host before every deploy and rollback.
pub const PROBE: &str = r#"set -e
d=$1; space=$2; shift 2
[ -d "$d/releases" ] && [ -d "$d/shared" ] || mkdir -p "$d/releases" "$d/shared"
test -w "$d/releases" || { echo "$d/releases is not writable" >&2; exit 1; }
cur=
if [ -L "$d/current" ]; then
  if cd -P "$d/current" 2>/dev/null; then cur=$PWD; cd /
  else cur=$(readlink "$d/current" 2>/dev/null) || cur=; fi
fi
echo "current=${cur##*/}"
if [ -n "$cur" ] && [ -r "$d/current/REVISION" ]; then
  rev=; read -r rev < "$d/current/REVISION" || true; echo "revision=$rev"
fi
[ "$space" = yes ] && echo "df=$(df -Pk "$d" | { while read -r line; do last=$line; done; echo "$last"; })"
for c in "$@"; do command -v "$c" >/dev/null 2>&1 || echo "missing=$c"; done
for r in "$d"/releases/*; do [ -e "$r" ] && echo "release=${r##*/}"; done
if [ -r "$d/.bosun/fence" ]; then f=; read -r f < "$d/.bosun/fence" || true; echo "fence=$f"; fi
for m in "$d"/.bosun/migrated-*; do [ -e "$m" ] && echo "marker=${m##*/migrated-}"; done
exit 0
"#;

const MIGRATE_UP: &str = r#"set -e
m=$1; shift
mkdir -p "$(dirname "$m")"
touch "$m"
exec "$@"
"#;

const MIGRATE_DOWN: &str = r#"set -e
m=$1; shift
if [ -e "$m" ]; then
  "$@"
  rm -f "$m"
else
  echo "the up migration never started here; nothing to undo"
fi
"#;

/// Removes the oldest releases beyond `$2`, never the one `current` points at nor any named
/// after `$2`. Release names start with a UTC timestamp, so the glob's order is oldest first.
/// Each release is first renamed aside (`.NAME.removing`, a name the glob never lists) and
/// only then removed, so a clean-up stopped half-way leaves whole releases and hidden
/// leftovers, never a half-removed release; the next clean-up removes the leftovers first.
const CLEANUP: &str = r#"set -e
d=$1; keep=$2; shift 2
for r in "$d"/releases/.*.removing; do
  [ -e "$r" ] || continue
  rm -rf "$r"
done
for f in "$d"/.bosun/stat/*; do
  [ -e "$f" ] || continue
  [ -d "$d/releases/${f##*/}" ] || rm -f "$f"
done
cur=$(readlink "$d/current" 2>/dev/null || true); cur=${cur##*/}
n=0
for r in "$d"/releases/*; do
  case "$r" in *.partial) continue;; esac
  [ -e "$r" ] && n=$((n + 1))
done
excess=$((n - keep))
for r in "$d"/releases/*; do
  [ "$excess" -gt 0 ] || break
  [ -e "$r" ] || continue
  name=${r##*/}
  case "$name" in *.partial) continue;; esac
  [ "$name" = "$cur" ] && continue
  skip=
  for p in "$@"; do [ "$name" = "$p" ] && skip=1; done
  [ -n "$skip" ] && continue
  mv "$r" "$d/releases/.$name.removing"
  rm -rf "$d/releases/.$name.removing" "$d/.bosun/stat/$name"
  echo "removed $name"
  excess=$((excess - 1))
done
"#;

const REMOVE_MANY: &str = r#"set -e
d=$1; shift
for r in "$@"; do
  if [ -e "$d/releases/$r" ]; then
    rm -rf "$d/releases/.$r.removing"
    mv "$d/releases/$r" "$d/releases/.$r.removing"
  fi
  rm -rf "$d/releases/.$r.removing"
  rm -f "$d/.bosun/stat/$r"
done
"#;

impl Action {
    /// A short name for the journal and the room.
    pub fn label(&self) -> String {
        match self {
            Action::Stage { .. } => "stage".into(),
            Action::RemoveRelease { .. } => "remove release".into(),
            Action::Switch { release, .. } => format!("switch to {release}"),
            Action::Unlink { .. } => "unlink current".into(),
            Action::ForgetMigration { .. } => "forget the stopped migration".into(),
            Action::Run { what, argv, .. } => {
                format!("{what}: {}", RemoteCommand::new(argv.clone()).display())
            }
            Action::Health { argv, .. } => {
                format!("health: {}", RemoteCommand::new(argv.clone()).display())
            }
            Action::Cleanup { keep, .. } => format!("keep {keep} releases"),
            Action::HealthHttp { url, .. } => format!("health: GET {url}"),
            Action::Migrate { up, argv, .. } => format!(
                "migrate {}: {}",
                if *up { "up" } else { "down" },
                RemoteCommand::new(argv.clone()).display()
            ),
        }
    }

    /// The command that performs this action, for the actions that are one command.
    /// `Health` and `Cleanup` are driven by the runner (attempts, listings) and return `None`.
    pub fn command(&self, default_timeout: Duration) -> Option<RemoteCommand> {
        let cmd = match self {
            Action::Stage {
                deploy_to,
                release,
                archive,
                revision,
                shared,
                ..
            } => {
                let mut args = vec![deploy_to.clone(), release.clone(), revision.clone()];
                args.extend(shared.iter().cloned());
                RemoteCommand::script(STAGE, args).with_stdin(archive)
            }
            Action::RemoveRelease { deploy_to, release } => {
                RemoteCommand::script(REMOVE_RELEASE, [deploy_to.clone(), release.clone()])
            }
            Action::Switch { deploy_to, release } => {
                RemoteCommand::script(SWITCH, [deploy_to.clone(), release.clone()])
            }
            Action::Unlink { deploy_to } => RemoteCommand::script(UNLINK, [deploy_to.clone()]),
            Action::ForgetMigration { marker } => {
                RemoteCommand::script(FORGET_MIGRATION, [marker.clone()])
            }
            Action::Run {
                argv,
                cwd,
                timeout_ms,
                ..
            } => {
                let cmd = RemoteCommand::new(argv.clone())
                    .with_timeout(Duration::from_millis(*timeout_ms));
                // An empty cwd runs where the transport starts (the bot's own commands).
                if cwd.is_empty() {
                    cmd
                } else {
                    cmd.in_dir(cwd.clone())
                }
            }
            Action::Migrate {
                up,
                argv,
                cwd,
                timeout_ms,
                marker,
            } => {
                let mut args = vec![marker.clone()];
                args.extend(argv.iter().cloned());
                let script = if *up { MIGRATE_UP } else { MIGRATE_DOWN };
                return Some(
                    RemoteCommand::script(script, args)
                        .in_dir(cwd.clone())
                        .with_timeout(Duration::from_millis(*timeout_ms)),
                );
            }
            Action::Health { .. } | Action::HealthHttp { .. } | Action::Cleanup { .. } => {
                return None;
            }
        };
        Some(match self {
            Action::Run { .. } => cmd,
            _ => cmd.with_timeout(default_timeout),
        })
    }
}

impl Action {
    /// For a stage by delta: the command that stages from the live release, reading the delta
    /// stream (the full archive is `command`'s, for when the host refuses the delta).
    pub fn delta_command(&self, default_timeout: Duration) -> Option<RemoteCommand> {
        let Action::Stage {
            deploy_to,
            release,
            revision,
            shared,
            staging:
                Some(Staging::Delta {
                    base,
                    base_revision,
                    delta,
                    tree,
                    link,
                    ..
                }),
            ..
        } = self
        else {
            return None;
        };
        let mut args = vec![
            deploy_to.clone(),
            release.clone(),
            revision.clone(),
            base.clone(),
            base_revision.clone(),
            tree.clone(),
            if *link { "link" } else { "copy" }.to_string(),
        ];
        args.extend(shared.iter().cloned());
        Some(
            RemoteCommand::script(STAGE_DELTA, args)
                .with_stdin(delta)
                .with_timeout(default_timeout),
        )
    }
}

/// The probe command for a host's deploy root, checking that `commands` exist there, and
/// reading the free space when `free_space`.
pub fn probe(deploy_to: &str, free_space: bool, commands: &[String]) -> RemoteCommand {
    let mut args = vec![
        deploy_to.to_string(),
        if free_space { "yes" } else { "no" }.to_string(),
    ];
    args.extend(commands.iter().cloned());
    RemoteCommand::script(PROBE, args).with_timeout(Duration::from_secs(30))
}

/// What a probe found on a host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The release `current` points at, if any.
    pub current: Option<String>,
    /// Release directories present, sorted (oldest first: names start with a UTC timestamp).
    pub releases: Vec<String>,
    /// Free space in the deploy root, in kB, when `df` could tell.
    pub free_kb: Option<u64>,
    /// Commands the pipeline needs that the host does not have.
    pub missing: Vec<String>,
    /// The revision `current`'s release holds (its `REVISION` file).
    pub revision: Option<String>,
    /// The newest fencing generation the host has seen, and from which journal.
    pub fence: Option<(i64, String)>,
    /// Releases whose migration ran here and was not migrated down (their markers), sorted.
    pub markers: Vec<String>,
}

impl Observed {
    pub fn parse(output: &str) -> Observed {
        let mut observed = Observed::default();
        for line in output.lines() {
            if let Some(cur) = line.strip_prefix("current=") {
                observed.current = Some(cur.to_string()).filter(|c| !c.is_empty());
            } else if let Some(df) = line.strip_prefix("df=") {
                observed.free_kb = df.split_whitespace().nth(3).and_then(|n| n.parse().ok());
            } else if let Some(cmd) = line.strip_prefix("missing=") {
                observed.missing.push(cmd.to_string());
            } else if let Some(rev) = line.strip_prefix("revision=") {
                observed.revision = Some(rev.trim().to_string()).filter(|r| !r.is_empty());
            } else if let Some(fence) = line.strip_prefix("fence=") {
                let mut words = fence.split_whitespace();
                if let Some(generation) = words.next().and_then(|g| g.parse().ok()) {
                    observed.fence = Some((generation, words.next().unwrap_or("").to_string()));
                }
            } else if let Some(marker) = line.strip_prefix("marker=") {
                observed.markers.push(marker.to_string());
            } else if let Some(release) = line.strip_prefix("release=")
                && !release.ends_with(".partial")
            {
                observed.releases.push(release.to_string());
            }
        }
        observed.releases.sort();
        observed.markers.sort();
        observed
    }
}

/// The releases to remove so that `keep` remain, never touching `protect`.
pub fn releases_to_remove(releases: &[String], keep: usize, protect: &[String]) -> Vec<String> {
    let mut sorted: Vec<&String> = releases.iter().collect();
    sorted.sort();
    let excess = sorted.len().saturating_sub(keep);
    sorted
        .into_iter()
        .filter(|r| !protect.contains(r))
        .take(excess)
        .cloned()
        .collect()
}

/// The command that keeps `keep` releases under `deploy_to`, never removing `protect`.
pub fn cleanup(deploy_to: &str, keep: usize, protect: &[String]) -> RemoteCommand {
    let mut args = vec![deploy_to.to_string(), keep.to_string()];
    args.extend(protect.iter().cloned());
    RemoteCommand::script(CLEANUP, args).with_timeout(Duration::from_secs(600))
}

/// The command that removes `releases` under `deploy_to`.
pub fn remove_releases(deploy_to: &str, releases: &[String]) -> RemoteCommand {
    let mut args = vec![deploy_to.to_string()];
    args.extend(releases.iter().cloned());
    RemoteCommand::script(REMOVE_MANY, args).with_timeout(Duration::from_secs(600))
}

/// The listing command used by cleanup (the probe, checking no commands).
pub fn list_releases(deploy_to: &str) -> RemoteCommand {
    probe(deploy_to, false, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses() {
        let o = Observed::parse(
            "current=20261123-b\nrevision=abc123\ndf=/dev/vda 263174212 11234 240000000 5% /\nmissing=make\nrelease=20261123-b\nrelease=20261122-a\nrelease=20261124-c.partial\nfence=12 9f3a\nmarker=20261123-b\nmarker=20261122-a\n",
        );
        assert_eq!(o.revision.as_deref(), Some("abc123"));
        assert_eq!(o.fence, Some((12, "9f3a".to_string())));
        assert_eq!(o.markers, ["20261122-a", "20261123-b"]);
        assert_eq!(o.current.as_deref(), Some("20261123-b"));
        assert_eq!(o.releases, ["20261122-a", "20261123-b"]);
        assert_eq!(o.free_kb, Some(240000000));
        assert_eq!(o.missing, ["make"]);
        assert_eq!(Observed::parse("current=\n").current, None);
    }

    #[test]
    fn cleanup_keeps_the_newest_and_never_the_protected() {
        let rs: Vec<String> = ["1", "2", "3", "4", "5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            releases_to_remove(&rs, 2, &["4".into(), "5".into()]),
            ["1", "2", "3"]
        );
        assert_eq!(
            releases_to_remove(&rs, 2, &["1".into(), "5".into()]),
            ["2", "3", "4"]
        );
        assert!(releases_to_remove(&rs, 5, &[]).is_empty());
    }

    #[test]
    fn actions_keep_their_journal_shape() {
        let a = Action::Switch {
            deploy_to: "/srv/demo".into(),
            release: "r1".into(),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"op":"switch","deploy_to":"/srv/demo","release":"r1"}"#
        );
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
    }

    #[test]
    fn values_travel_as_arguments_not_script_text() {
        let a = Action::Switch {
            deploy_to: "/srv/$(reboot)".into(),
            release: "`id`".into(),
        };
        let cmd = a.command(Duration::from_secs(1)).unwrap();
        assert_eq!(cmd.argv[..2], ["sh", "-c"]);
        assert_eq!(cmd.argv[2], SWITCH);
        assert_eq!(cmd.argv[4..], ["/srv/$(reboot)", "`id`"]);
    }

    #[tokio::test]
    async fn the_cleanup_script_keeps_what_the_rust_rule_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("srv");
        let names: Vec<String> = (1..=6).map(|i| format!("2026112300000{i}-abc")).collect();
        for name in &names {
            std::fs::create_dir_all(root.join("releases").join(name)).unwrap();
        }
        std::fs::create_dir_all(root.join("releases/20261123000009-abc.partial")).unwrap();
        // What a clean-up stopped half-way left: a release renamed aside, partly removed.
        std::fs::create_dir_all(root.join("releases/.20261122000001-abc.removing/a")).unwrap();
        std::os::unix::fs::symlink(root.join("releases").join(&names[2]), root.join("current"))
            .unwrap();
        let protect = vec![names[5].clone()];
        let host = crate::transport::LocalHost::new("h", dir.path());
        let out = host
            .run(&cleanup(&root.display().to_string(), 2, &protect), None)
            .await
            .unwrap();
        assert!(out.success(), "{}", out.output);
        let mut left: Vec<String> = std::fs::read_dir(root.join("releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".partial"))
            .collect();
        left.sort();
        let mut all_protected = protect.clone();
        all_protected.push(names[2].clone());
        let removed = releases_to_remove(&names, 2, &all_protected);
        let expected: Vec<String> = names
            .iter()
            .filter(|n| !removed.contains(n))
            .cloned()
            .collect();
        assert_eq!(left, expected);
        assert_eq!(left, [names[2].clone(), names[5].clone()]);
    }
}
