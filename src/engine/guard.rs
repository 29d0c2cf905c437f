//! The step guard: a constant POSIX sh script every remote step runs under, so that a step never outlives its bot, never runs beside another bot's, and leaves its real outcome on the host.
//!
//! For each step the guard, on the host:
//! - takes `<root>/.bosun/lock` (`flock`), waiting for whatever runs there; a holder that
//!   outlives the wait is stopped through the record it left;
//! - refuses the step when the host has seen a newer fencing generation than the step's
//!   (`<root>/.bosun/fence`: generation and journal id), and otherwise raises it to the step's;
//! - stops, with its whole process group, anything a guard that died (SIGKILL, a killed sshd)
//!   left running;
//! - records what it starts in `<root>/.bosun/step` (journal, generation, deploy, step, guard
//!   pid, process group), runs the command in a session of its own (`setsid`) within its time
//!   limit (`timeout`: the lock's wait does not count), and appends how it ended (`end=exit N`);
//! - watches its standard input, a pipe bosun holds open: end of file means bosun's connection
//!   or process is gone, and the command's process group is stopped (TERM, KILL after 2 s).
//!   A staging step reads the archive from standard input instead, and stops with it.
//!
//! `inspect` runs the same lock, fence and clean-up without a command and prints the last
//! record: recovery's first look at a host. Values reach the script only as arguments.

use std::time::Duration;

use crate::transport::{CommandOutput, RemoteCommand};

const GUARD: &str = r#"root=$1 jid=$2 gen=$3 dep=$4 step=$5 mode=$6 wait=$7 limit=$8
shift 8
d=$root/.bosun
say() { printf 'bosun-guard: %s\n' "$*" >&2; }
[ -d "$d" ] || mkdir -p "$d" || { say "cannot create $d"; exit 90; }
for c in flock setsid timeout; do
  command -v "$c" >/dev/null 2>&1 || { say "$c is missing on this host (util-linux, coreutils)"; exit 90; }
done
fence() {
  f=0 fj=
  [ -r "$d/fence" ] && read -r f fj < "$d/fence"
  case $f in ''|*[!0-9]*) f=0;; esac
  if [ "$f" -gt "$gen" ]; then
    say "fenced: generation $gen is older than $f, which this host has seen (journal $fj)"
    exit 97
  fi
}
# The step record's fields, the last of each (builtins only: every process start costs).
fields() {
  f_step= f_deploy= f_guard= f_pgid= f_end=
  [ -r "$d/step" ] || return 0
  while IFS= read -r l; do
    case $l in
      step=*) f_step=${l#*=};; deploy=*) f_deploy=${l#*=};; guard=*) f_guard=${l#*=};;
      pgid=*) f_pgid=${l#*=};; end=*) f_end=${l#*=};;
    esac
  done < "$d/step"
}
fence
exec 9>>"$d/lock" || { say "cannot open $d/lock"; exit 90; }
if ! flock -w "$wait" 9; then
  fields; g=$f_guard p=$f_pgid
  say "the lock is still held after ${wait}s; stopping step $f_step of deploy $f_deploy (guard $g, group $p)"
  [ -n "$g" ] && kill -TERM "$g" 2>/dev/null
  [ -n "$p" ] && kill -TERM -"$p" 2>/dev/null
  if ! flock -w 5 9; then
    [ -n "$g" ] && kill -KILL "$g" 2>/dev/null
    [ -n "$p" ] && kill -KILL -"$p" 2>/dev/null
    flock -w 5 9 || { say "$d/lock is still held"; exit 95; }
  fi
fi
fence
if [ "$f" -lt "$gen" ]; then
  printf '%s %s\n' "$gen" "$jid" > "$d/fence.tmp" && mv -f "$d/fence.tmp" "$d/fence"
fi
fields
if [ -r "$d/step" ] && [ -z "$f_end" ]; then
  p=$f_pgid
  if [ -n "$p" ] && kill -0 -"$p" 2>/dev/null; then
    say "stopping what step $f_step of deploy $f_deploy left running (group $p)"
    kill -TERM -"$p" 2>/dev/null
    i=0
    while kill -0 -"$p" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.1; i=$((i+1)); done
    kill -KILL -"$p" 2>/dev/null
  fi
  echo "end=lost" >> "$d/step"
fi
if [ "$mode" = inspect ]; then
  [ -r "$d/step" ] && sed 's/^/bosun-guard: last /' "$d/step"
  echo "bosun-guard: fence $f $fj"
  exit 0
fi
stopped= killer= cpid= wpid=
stop() {
  [ -n "$stopped" ] && return 0
  stopped=1
  [ -n "$cpid" ] || return 0
  kill -TERM -"$cpid" 2>/dev/null
  ( sleep 2; kill -KILL -"$cpid" ) 9>&- </dev/null >/dev/null 2>&1 &
  killer=$!
}
trap stop TERM INT HUP
# One write, no rename: a guard killed in between leaves a record without an end, which the
# next guard reads as lost, and nothing had started yet.
printf 'journal=%s\ngeneration=%s\ndeploy=%s\nstep=%s\nguard=%s\n' "$jid" "$gen" "$dep" "$step" "$$" > "$d/step"
if [ -n "$stopped" ]; then
  echo "end=exit 143" >> "$d/step"
  say "stopped step $step before it started"
  exit 143
fi
# `timeout` leads the command's session and process group; inside it a small shell records how
# the command ended, so its end is known even if this guard dies first (it outlives a TERM only
# to write that line). One of bosun's own scripts (`sh -c SCRIPT bosun ARGS`) runs in a subshell
# of that shell, which starts with the signals' defaults as a new `sh` would, one process start
# fewer on every step.
run='r=$0; trap : TERM INT HUP
if [ "$#" -ge 4 ] && [ "$1" = sh ] && [ "$2" = -c ] && [ "$4" = bosun ]; then
  s=$3; shift 4; (eval "unset r s; $s")
else "$@"; fi
c=$?; echo "end=exit $c" >> "$r"; exit "$c"'
exec 8<&0
if [ "$mode" = input ]; then
  setsid timeout -k 2 "$limit" sh -c "$run" "$d/step" "$@" 0<&8 8<&- 9>&- &
else
  setsid timeout -k 2 "$limit" sh -c "$run" "$d/step" "$@" </dev/null 8<&- 9>&- &
fi
cpid=$!
echo "pgid=$cpid" >> "$d/step"
if [ -n "$stopped" ]; then stopped=; stop; fi
# The watcher holds none of the command's output: nothing it does can keep bosun waiting.
if [ "$mode" = watch ]; then
  ( while IFS= read -r _; do :; done <&8; kill -TERM $$ ) 9>&- >/dev/null 2>&1 &
  wpid=$!
fi
exec 8<&-
wait "$cpid"; rc=$?
if [ -n "$stopped" ]; then
  wait "$cpid" 2>/dev/null; r=$?
  [ "$r" -ne 127 ] && rc=$r
  [ -n "$killer" ] && kill -KILL "$killer" 2>/dev/null
  kill -KILL -"$cpid" 2>/dev/null
  say "stopped step $step (exit $rc)"
fi
# Done: a stop now would only reach what the command left running on purpose (a server it
# started). KILL, because a subshell may not yet have dropped this shell's traps.
trap '' TERM INT HUP
[ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null
[ "$rc" -eq 124 ] && [ -z "$stopped" ] && say "timed out after ${limit}s"
fields
[ "$f_end" = "exit $rc" ] || echo "end=exit $rc" >> "$d/step"
exit "$rc"
"#;

/// The guard's own exit codes (a command's own codes pass through; 124 is `timeout`'s).
const TIMED_OUT: i32 = 124;
const SETUP_FAILED: i32 = 90;
const LOCK_HELD: i32 = 95;
const FENCED: i32 = 97;

/// Who acts: the journal, the deploy, and the fencing generation it acts under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The journal's identity.
    pub journal: String,
    pub deploy: i64,
    pub generation: i64,
}

/// How long a step waits for the host's lock before it stops whatever holds it.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// How the guarded command takes its standard input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Standard input is bosun's held pipe; its end stops the command.
    Watch,
    /// The command reads standard input (an archive).
    Input,
    Inspect,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Watch => "watch",
            Mode::Input => "input",
            Mode::Inspect => "inspect",
        }
    }
}

fn wrap(
    fence: &Fence,
    root: &str,
    step: i64,
    mode: Mode,
    limit: Duration,
    inner: &[String],
) -> Vec<String> {
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        GUARD.to_string(),
        "bosun-guard".to_string(),
        root.to_string(),
        fence.journal.clone(),
        fence.generation.to_string(),
        fence.deploy.to_string(),
        step.to_string(),
        mode.as_str().to_string(),
        LOCK_WAIT.as_secs().to_string(),
        format!("{}.{:03}", limit.as_secs(), limit.subsec_millis()),
    ];
    argv.extend(inner.iter().cloned());
    argv
}

/// `command` as step `step` (its journal id) under the guard of the deploy root `root`.
pub fn guarded(fence: &Fence, root: &str, step: i64, command: RemoteCommand) -> RemoteCommand {
    let mode = if command.stdin.is_some() {
        Mode::Input
    } else {
        Mode::Watch
    };
    let argv = wrap(fence, root, step, mode, command.timeout, &command.argv);
    RemoteCommand {
        argv,
        held_stdin: mode == Mode::Watch,
        // The guard keeps the command's own limit; the lock may have to be waited for first,
        // and a holder stopped.
        timeout: command.timeout + LOCK_WAIT * 2 + Duration::from_secs(10),
        ..command
    }
}

/// Takes the host's lock under `fence` (waiting for or stopping whatever a dead bot left
/// running there), raises the host's fence, and prints the last step record.
pub fn inspect(fence: &Fence, root: &str) -> RemoteCommand {
    RemoteCommand::new(wrap(fence, root, 0, Mode::Inspect, Duration::ZERO, &[]))
        .with_timeout(LOCK_WAIT * 2 + Duration::from_secs(30))
}

/// How a recorded step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepEnd {
    /// It ran to an exit status (128 + N: killed by signal N).
    Exit(i32),
    /// Its guard died without recording an end; whatever it left was stopped.
    Lost,
}

/// The last step a host's guard recorded, and the fence it had seen before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRecord {
    pub journal: Option<String>,
    pub generation: Option<i64>,
    pub deploy: Option<i64>,
    pub step: Option<i64>,
    pub end: Option<StepEnd>,
    /// The fence the host had before this look: the newest generation it saw, and from which
    /// journal.
    pub fence_generation: i64,
    pub fence_journal: Option<String>,
}

impl HostRecord {
    /// Reads `inspect`'s output.
    pub fn parse(output: &str) -> HostRecord {
        let mut record = HostRecord::default();
        for line in output.lines() {
            let Some(rest) = line.strip_prefix("bosun-guard: ") else {
                continue;
            };
            if let Some(fence) = rest.strip_prefix("fence ") {
                let mut words = fence.split_whitespace();
                record.fence_generation = words.next().and_then(|g| g.parse().ok()).unwrap_or(0);
                record.fence_journal = words.next().map(str::to_string);
                continue;
            }
            let Some((key, value)) = rest.strip_prefix("last ").and_then(|l| l.split_once('='))
            else {
                continue;
            };
            match key {
                "journal" => record.journal = Some(value.to_string()),
                "generation" => record.generation = value.parse().ok(),
                "deploy" => record.deploy = value.parse().ok(),
                "step" => record.step = value.parse().ok(),
                "end" => {
                    record.end = Some(match value.strip_prefix("exit ") {
                        Some(code) => code.parse().map(StepEnd::Exit).unwrap_or(StepEnd::Lost),
                        None => StepEnd::Lost,
                    })
                }
                _ => {}
            }
        }
        record
    }

    /// What the host knows of journal step `step` of `journal`: `None` when that step never
    /// started there (the last record is of another step).
    pub fn outcome_of(&self, journal: &str, step: i64) -> Option<StepEnd> {
        if self.journal.as_deref() == Some(journal) && self.step == Some(step) {
            Some(self.end.unwrap_or(StepEnd::Lost))
        } else {
            None
        }
    }
}

/// Why the guard refused to run a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The host has seen a newer generation: another bot took this deploy over.
    Fenced(String),
    /// The host's lock stayed held even after its holder was told to stop.
    LockHeld(String),
    /// The guard could not start (no flock, no setsid, an unwritable deploy root).
    Setup(String),
    /// The command ran past its time limit and was stopped.
    TimedOut(String),
}

impl Refusal {
    /// The guard's refusal, if that is how the command ended.
    pub fn of(out: &CommandOutput) -> Option<Refusal> {
        let said = |what: &str| {
            out.output
                .lines()
                .rev()
                .find(|l| l.starts_with("bosun-guard: ") && l.contains(what))
                .map(|l| l.trim_start_matches("bosun-guard: ").to_string())
        };
        match out.code {
            Some(FENCED) => said("fenced:").map(Refusal::Fenced),
            Some(LOCK_HELD) => said("lock").map(Refusal::LockHeld),
            Some(SETUP_FAILED) => said("").map(Refusal::Setup),
            Some(TIMED_OUT) => said("timed out").map(Refusal::TimedOut),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;
    use crate::transport::LocalHost;
    use tokio_util::sync::CancellationToken;

    fn fence(generation: i64) -> Fence {
        Fence {
            journal: "j1".into(),
            deploy: 7,
            generation,
        }
    }

    fn host(dir: &std::path::Path) -> LocalHost {
        LocalHost::new("h", dir)
    }

    fn record(root: &std::path::Path) -> String {
        std::fs::read_to_string(root.join(".bosun/step")).unwrap_or_default()
    }

    /// Processes whose command line mentions `marker`.
    fn running(marker: &str) -> Vec<String> {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|l| l.contains(marker) && !l.contains("bosun-guard"))
            .map(str::to_string)
            .collect()
    }

    /// Runs a guarded command with its stdin a pipe this test holds, as bosun would: dropping
    /// the child's stdin is bosun going away.
    fn as_bosun_would_leave_it(cmd: &RemoteCommand) -> tokio::process::Child {
        tokio::process::Command::new(&cmd.argv[0])
            .args(&cmd.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn wait_for(path: &std::path::Path) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !path.exists() {
            assert!(tokio::time::Instant::now() < deadline, "{path:?}");
            tokio::time::sleep(Duration::from_millis(10)).await; // allow-sleep: polling for a file a child process creates
        }
    }

    #[tokio::test]
    async fn a_guarded_command_runs_and_its_end_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let cmd = guarded(
            &fence(3),
            &root,
            41,
            RemoteCommand::script("echo hello \"$1\"; exit 4", ["$(id)"]),
        );
        let out = host(dir.path()).run(&cmd, None).await.unwrap();
        assert_eq!(out.code, Some(4));
        assert!(out.output.contains("hello $(id)"), "{}", out.output);
        assert_eq!(Refusal::of(&out), None);
        let rec = record(dir.path());
        assert!(
            rec.contains("step=41\n") && rec.contains("end=exit 4"),
            "{rec}"
        );
        let fence_file = std::fs::read_to_string(dir.path().join(".bosun/fence")).unwrap();
        assert_eq!(fence_file, "3 j1\n");

        let look = host(dir.path())
            .run(&inspect(&fence(3), &root), None)
            .await
            .unwrap();
        let seen = HostRecord::parse(&look.output);
        assert_eq!(seen.outcome_of("j1", 41), Some(StepEnd::Exit(4)));
        assert_eq!(seen.outcome_of("j1", 40), None);
        assert_eq!(seen.outcome_of("j2", 41), None);
        assert_eq!(
            (seen.fence_generation, seen.fence_journal.as_deref()),
            (3, Some("j1"))
        );
    }

    #[tokio::test]
    async fn the_time_limit_counts_from_the_command_not_from_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let cmd = guarded(
            &fence(1),
            &root,
            3,
            RemoteCommand::new(["sleep", "30"]).with_timeout(Duration::from_millis(300)),
        );
        let out = host(dir.path()).run(&cmd, None).await.unwrap();
        assert_eq!(out.code, Some(124), "{out:?}");
        assert!(
            matches!(Refusal::of(&out), Some(Refusal::TimedOut(ref why)) if why.contains("0.300s")),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn an_older_generation_is_refused_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let ran = dir.path().join("ran");
        let h = host(dir.path());
        h.run(&inspect(&fence(9), &root), None).await.unwrap();
        let cmd = guarded(
            &fence(8),
            &root,
            1,
            RemoteCommand::new(["touch", &ran.display().to_string()]),
        );
        let out = h.run(&cmd, None).await.unwrap();
        assert!(
            matches!(Refusal::of(&out), Some(Refusal::Fenced(ref why)) if why.contains("older than 9")),
            "{out:?}"
        );
        assert!(!ran.exists());
    }

    #[tokio::test]
    async fn a_stopped_step_takes_its_whole_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let started = dir.path().join("started");
        let marker = format!("{}/sleepy", dir.path().display());
        let inner = RemoteCommand::script(
            "sh -c 'sleep 30; true' \"$2\" & touch \"$1\"; wait",
            [started.display().to_string(), marker.clone()],
        );
        let cmd = guarded(&fence(1), &root, 5, inner);
        let stop = CancellationToken::new();
        let h = host(dir.path());
        let run = h.run_until(&cmd, None, &stop);
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => panic!("ended before it was stopped"),
            () = wait_for(&started) => {}
        }
        stop.cancel();
        let out = run.await.unwrap();
        assert!(out.stopped);
        assert_eq!(out.code, Some(143), "{}", out.output);
        assert!(running(&marker).is_empty(), "{:?}", running(&marker));
        assert!(record(dir.path()).contains("end=exit 143"));
    }

    #[tokio::test]
    async fn when_bosun_goes_away_the_step_is_stopped_and_the_lock_freed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let started = dir.path().join("started");
        let marker = format!("{}/orphan", dir.path().display());
        let inner = RemoteCommand::script(
            "sh -c 'sleep 30; true' \"$2\" & touch \"$1\"; wait",
            [started.display().to_string(), marker.clone()],
        );
        let cmd = guarded(&fence(1), &root, 6, inner);
        let mut child = as_bosun_would_leave_it(&cmd);
        wait_for(&started).await;
        drop(child.stdin.take());
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(143));
        assert!(running(&marker).is_empty(), "{:?}", running(&marker));
        // The next step gets the lock at once.
        let next = guarded(&fence(1), &root, 7, RemoteCommand::new(["true"]));
        let out = host(dir.path()).run(&next, None).await.unwrap();
        assert!(out.success(), "{out:?}");
    }

    #[tokio::test]
    async fn what_a_killed_guard_left_running_is_stopped_by_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let started = dir.path().join("started");
        let marker = format!("{}/left", dir.path().display());
        let inner = RemoteCommand::script(
            "sh -c 'sleep 30; true' \"$2\" & touch \"$1\"; wait",
            [started.display().to_string(), marker.clone()],
        );
        let cmd = guarded(&fence(1), &root, 8, inner);
        let mut child = as_bosun_would_leave_it(&cmd);
        wait_for(&started).await;
        // The guard dies without a word (SIGKILL); its command runs on, without the lock.
        child.kill().await.unwrap();
        assert!(!running(&marker).is_empty());
        let look = host(dir.path())
            .run(&inspect(&fence(2), &root), None)
            .await
            .unwrap();
        assert!(look.success(), "{look:?}");
        let seen = HostRecord::parse(&look.output);
        assert_eq!(seen.outcome_of("j1", 8), Some(StepEnd::Lost));
        assert!(running(&marker).is_empty(), "{:?}", running(&marker));
    }

    #[tokio::test]
    async fn a_second_step_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let log = dir.path().join("log");
        let l = log.display().to_string();
        let first = guarded(
            &fence(1),
            &root,
            1,
            RemoteCommand::script("echo a >> \"$1\"; sleep 0.5; echo b >> \"$1\"", [l.clone()]),
        );
        let second = guarded(
            &fence(1),
            &root,
            2,
            RemoteCommand::script("echo c >> \"$1\"", [l.clone()]),
        );
        let h = host(dir.path());
        let (a, b) = tokio::join!(h.run(&first, None), async {
            wait_for(&log).await;
            h.run(&second, None).await
        });
        assert!(a.unwrap().success() && b.unwrap().success());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\nc\n");
    }
}
