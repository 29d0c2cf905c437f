#!/usr/bin/env bash
# The fleet benchmark: bosun against the raw floor (plain parallel ssh + tar), a parallel rsync
# with --link-dest, and Ansible, on N loopback sshd hosts; three phases in one run.
#
#   benches/fleet.sh                 # RUNS=5 SIZES="1 8 32" SMALL_N=32 SCALE="64 128 256"
#   BUILD=0 RUNS=3 benches/fleet.sh  # use target/release/bosun as it is
#   BUILD=0 BOSUN=$PWD/target/debug/bosun TOOLS="bosun raw" PHASES=full SIZES=1 RUNS=1 \
#     benches/fleet.sh                # a smoke run of the script itself (numbers mean nothing)
#   PHASES="full small" benches/fleet.sh            # only these of full, small, scale
#   TOOLS="bosun raw" benches/fleet.sh              # only these of bosun, raw, rsync, ansible
#   KEEP=1 benches/fleet.sh                         # keep the work dir
#   MAX_PARALLEL=8 benches/fleet.sh                 # bosun's max_parallel (32 unless given)
#   BOSUN_B=/tmp/bosun-old benches/fleet.sh         # A/B: a second build, measured as one more
#                                   # tool (bosun_b) in the same rounds as BOSUN, next to it, the
#                                   # order of the two cycling (see `pair`); the report adds
#                                   # a_vs_b lines (BOSUN's time over BOSUN_B's)
#   REPORT_ONLY=results.tsv benches/fleet.sh        # the report of kept results
#   PROFILE=perf PROFILE_DIR=/tmp/p benches/fleet.sh  # every timed command under `perf record -a`
#                                   # (or PROFILE=heaptrack); its numbers then mean nothing
#
# Needs (as root, Debian): openssh-server, openssh-client, rsync, GNU time (/usr/bin/time), git,
# python3 with venv. Builds bosun in release mode and installs ansible-core into
# target/bench/ansible. Every host is a real sshd on 127.0.0.1 with its own host key, HOME and
# deploy roots; all are stopped (with their session children) when the script exits.
#
# The app is a git repository with three commits: `a0` (one small file), `a` (2,000 files,
# 30 MB) and `b` (`a` with 3 files changed, 1 added, 1 removed).
#
# Every measured run starts from the same template state: before it, the deploy root of the
# tool being measured is reset on every host (its releases hard-linked from one template tree:
# three releases present, the same one live, so that every tool's clean-up removes exactly
# one), and bosun's journal is put back to the copy taken when the template was made. No tool
# inherits another's releases, clean-up or page cache; the order of tools cycles over four runs.
# Then the machine is quiesced (see `quiesce`): dirty pages written back, the page cache
# dropped and every tool's inputs read back, so that every measured deploy meets the same memory.
#
# Phases:
#   full    N in SIZES: from `a0` live, deploy `a` (the whole app): bosun deploy (to "is live"
#           and to the process's end), raw floor (one ssh per host: tar -x, switch, clean up),
#           Ansible (unarchive, link, clean up); bosun rollback as its own process (cold); the
#           warm-master rollback inside one bot (`deploy!` of `b`, then `!rollback`); the raw
#           rollback floor (a symlink switch over open masters); N bare handshakes.
#   small   N = SMALL_N: from `a` live, deploy `b`: bosun; the full-upload raw floor; per host
#           in parallel `rsync -a --link-dest=<live release>` over ssh then the switch and
#           clean-up over the same connection; Ansible (`cp -al` of the live release, `copy`
#           of the changed and added files, `file` absent of the removed one, link, clean up).
#   scale   N in 1 + SCALE: bosun alone, from `a` live: deploy `b`, then `bosun rollback`;
#           wall time per host and bosun's peak RSS.
# Wall time is measured around each command; bosun's peak RSS and CPU (user+sys, its children
# included: the ssh handshakes) come from /usr/bin/time -v; "machine CPU" is the whole
# machine's CPU time during the command (/proc/stat), sshd and ssh masters included.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1 8 32"}
SMALL_N=${SMALL_N:-32}
SCALE=${SCALE:-"64 128 256"}
SCALE_RUNS=${SCALE_RUNS:-$RUNS}
PHASES=${PHASES:-"full small scale"}
TOOLS=${TOOLS:-"bosun raw rsync ansible"}
BOSUN_B=${BOSUN_B:-}
if [ -n "$BOSUN_B" ]; then TOOLS="$TOOLS bosun_b"; fi
PY=/usr/bin/python3
BOSUN=${BOSUN:-$ROOT/target/release/bosun}   # an absolute path; any other build for a smoke run

# report RESULTS: medians, ranges, ratios with their spread (markdown) from a results file
report() {
"$PY" - "$1" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
data = defaultdict(dict)        # (what, n) -> run -> (wall, mcpu, rss, pcpu)
loads = []
for row in rows:
    if row[0] == "load":
        loads.append((row[1], row[2]))
        continue
    what, n, run, wall, mcpu, rss, pcpu = row
    data[(what, int(n))][run] = (float(wall), float(mcpu) if mcpu else None,
                                 int(rss) if rss else None, float(pcpu) if pcpu else None)
def vals(what, n, i=0):
    return [r[i] for r in data.get((what, n), {}).values() if r[i] is not None]
def med(what, n, i=0):
    v = vals(what, n, i)
    return statistics.median(v) if v else None
def ratio(a, b, n, target=None, worse_above=True, name=None):
    """The ratio of medians a/b at n, and the range of the per-round ratios (same run)."""
    ra, rb = data.get((a, n), {}), data.get((b, n), {})
    per = [ra[k][0] / rb[k][0] for k in ra if k in rb and rb[k][0] > 0]
    if not per:
        return
    r = med(a, n) / med(b, n)
    line = f"{name} N={n}: {r:.2f} (rounds {min(per):.2f}–{max(per):.2f}, {len(per)} rounds)"
    if target is not None:
        met = all(p <= target for p in per) if worse_above else all(p >= target for p in per)
        med_met = r <= target if worse_above else r >= target
        line += f"; target {'≤' if worse_above else '≥'} {target}: " + (
            "met in every round" if met else ("met by the median, not every round" if med_met else "missed"))
    print(line)
labels = [("deploy_live", "bosun deploy, to \"is live\""),
          ("deploy", "bosun deploy, the whole process (clean-up included)"),
          ("raw", "raw ssh+tar deploy"), ("ansible", "Ansible deploy"),
          ("rollback", "bosun rollback (own process, cold)"),
          ("warm_rollback", "bosun !rollback (warm masters)"),
          ("warm_rollback_journal", "  the same, as the journal times the rollback"),
          ("raw_rollback", "raw rollback floor (open masters)"),
          ("handshake", "N fresh ssh connections running `true` (handshakes only)"),
          ("small_live", "small change: bosun, to \"is live\""),
          ("small", "small change: bosun, the whole process"),
          ("small_raw", "small change: raw floor (full upload)"),
          ("small_rsync", "small change: parallel rsync --link-dest"),
          ("small_ansible", "small change: Ansible cp -al + copy"),
          ("small_warm", "small change: bosun bot with open masters, to \"is live\""),
          ("scale_live", "scale: bosun small change, to \"is live\""),
          ("scale", "scale: bosun small change, the whole process"),
          ("scale_rollback", "scale: bosun rollback (own process, cold)")]
ns = sorted({n for (_, n) in data})
print("Medians over the runs, seconds (min–max); machine CPU = all processes, sshd included.\n")
print("| N | what | runs | wall s | min–max | machine CPU s | bosun peak RSS MB |")
print("|---|---|---|---|---|---|---|")
for n in ns:
    for key, label in labels:
        w = vals(key, n)
        if not w: continue
        cpu = med(key, n, 1)
        rss = med(key, n, 2)
        print(f"| {n} | {label} | {len(w)} | {statistics.median(w):.2f} | {min(w):.2f}–{max(w):.2f} | "
              f"{'—' if cpu is None else f'{cpu:.2f}'} | {'—' if rss is None else f'{rss / 1024:.1f}'} |")
    for key, label in labels:
        w = vals(key + "_b", n)
        if not w: continue
        print(f"| {n} | B: {label.strip()} | {len(w)} | {statistics.median(w):.2f} | {min(w):.2f}–{max(w):.2f} | — | — |")
print()
sc = [n for n in ns if vals("scale", n)]
if sc:
    print("Scale, bosun alone (small change, then a cold rollback), per host:\n")
    print("| N | deploy s per host | to \"is live\" s per host | rollback s per host | peak RSS MB (deploy) | peak RSS MB (rollback) |")
    print("|---|---|---|---|---|---|")
    for n in sc:
        live = med("scale_live", n)
        rb = med("scale_rollback", n)
        rrss = med("scale_rollback", n, 2)
        drss = med("scale", n, 2)
        print(f"| {n} | {med('scale', n) / n:.3f} | {'—' if live is None else f'{live / n:.3f}'} | "
              f"{'—' if rb is None else f'{rb / n:.3f}'} | {'—' if drss is None else f'{drss / 1024:.1f}'} | "
              f"{'—' if rrss is None else f'{rrss / 1024:.1f}'} |")
    print()
if loads:
    print("Load average (1, 5, 15 min) during the run: " +
          "; ".join(f"{when}: {la}" for when, la in loads) + "\n")
for n in ns:
    ratio("deploy_live", "raw", n, 1.10, name="deploy_vs_raw")
    ratio("deploy", "raw", n, name="deploy_total_vs_raw")
fulls = [n for n in ns if vals("ansible", n) and vals("deploy", n)]
if fulls:
    big = max(fulls)
    ratio("ansible", "deploy", big, name="ansible_vs_bosun")
rbs = [n for n in ns if vals("warm_rollback", n) and vals("raw_rollback", n)]
if rbs:
    ratio("warm_rollback", "raw_rollback", max(rbs), 1.2, name="rollback_vs_floor")
for n in ns:
    ratio("small_live", "small_raw", n, 0.3, name="small_change_vs_floor")
    ratio("small_live", "small_rsync", n, 1.0, name="small_change_vs_rsync")
    ratio("small_ansible", "small_live", n, 10, worse_above=False, name="ansible_vs_bosun_small")
    ratio("small_warm", "small_raw", n, name="small_change_warm_bot_vs_floor")
for n in ns:
    for key, _ in labels:
        ratio(key, key + "_b", n, name=f"a_vs_b {key}")
if sc and max(sc) > 1 and vals("scale", 1, 2) and vals("scale", max(sc), 2):
    big = max(sc)
    r = med("scale", big, 2) / med("scale", 1, 2)
    print(f"rss_ratio N={big}/N=1: {r:.2f} (peak RSS {med('scale', big, 2) / 1024:.1f} MB against "
          f"{med('scale', 1, 2) / 1024:.1f} MB); target ≤ 1.2: {'met' if r <= 1.2 else 'missed'}")
EOF
}
if [ -n "${REPORT_ONLY:-}" ]; then report "$REPORT_ONLY"; exit 0; fi
has_phase() { case " $PHASES " in *" $1 "*) return 0;; esac; return 1; }
has_tool() { case " $TOOLS " in *" $1 "*) return 0;; esac; return 1; }
W=$(mktemp -d /tmp/bosun-bench.XXXXXX)
MAXN=1
for n in $(has_phase full && echo "$SIZES") $(has_phase small && echo "$SMALL_N") \
         $(has_phase scale && echo "$SCALE"); do
  [ "$n" -gt "$MAXN" ] && MAXN=$n
done
PIDS=()
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cleanup() {
  if [ ${#PIDS[@]} -gt 0 ]; then
    # every descendant of every listener, from one snapshot (session children call setsid)
    local all
    all=$(ps -e -o pid=,ppid= | awk -v roots="${PIDS[*]}" '
      { kids[$2] = kids[$2] " " $1 }
      END { n = split(roots, q, " "); for (i = 1; i <= n; i++) { print q[i]
              m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] } }')
    kill -KILL $all 2>/dev/null || true
  fi
  for s in "$W"/cp/*; do [ -S "$s" ] && ssh -S "$s" -O exit x 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "[bench] kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

log() { echo "[bench] $(date -u +%H:%M:%S) $*" >&2; }

# ---- tools -------------------------------------------------------------------------------
if [ "${BUILD:-1}" = 1 ]; then   # BUILD=0: measure the release binary already built
  log "building bosun (release)"
  (cd "$ROOT" && cargo build --release -q -p bosun --bin bosun)
fi
if has_tool ansible && [ ! -x "$ROOT/target/bench/ansible/bin/ansible-playbook" ]; then
  log "installing ansible-core into target/bench/ansible"
  "$PY" -m venv "$ROOT/target/bench/ansible"
  "$ROOT/target/bench/ansible/bin/pip" install -q ansible-core
fi
ANSIBLE=$ROOT/target/bench/ansible/bin/ansible-playbook
mkdir -p -m 755 /run/sshd

# ---- the app: a0 (one file), a (2,000 files, 30 MB), b (3 changed, 1 added, 1 removed) --------
log "making the app repository"
mkdir -p "$W/origin"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
gitc() { git -C "$W/origin" -c user.name=bench -c user.email=bench@example.org "$@"; }
git -C "$W/origin" init -q -b main
echo "the app, before it had files" > "$W/origin/README"
gitc add -A; gitc commit -q -m "The empty app"; gitc tag a0
"$PY" - "$W/origin" <<'EOF'
import base64, os, random, sys
root = sys.argv[1]
rng = random.Random(42)
for i in range(2000):
    d = os.path.join(root, f"dir{i // 100:02d}")
    os.makedirs(d, exist_ok=True)
    raw = rng.randbytes(11_250)             # base64: 15,000 bytes of text per file
    with open(os.path.join(d, f"file{i:04d}.txt"), "wb") as f:
        f.write(base64.b64encode(raw))
EOF
gitc add -A; gitc commit -q -m "The artifact"; gitc tag a
for f in dir03/file0300.txt dir10/file1000.txt dir19/file1999.txt; do   # 3 changed (longer)
  echo "a change" >> "$W/origin/$f"
done
echo "a new file" > "$W/origin/dir05/new.txt"                          # 1 added
gitc rm -q dir07/file0700.txt                                         # 1 removed
gitc add -A; gitc commit -q -m "A small change"; gitc tag b
git -C "$W/origin" archive -o "$W/a.tar" a
git -C "$W/origin" archive -o "$W/b.tar" b

# ---- hosts ---------------------------------------------------------------------------------
log "starting $MAXN sshd hosts"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/client_key"
cp "$W/client_key.pub" "$W/authorized_keys"
mkdir -p "$W/cp"
ports=($("$PY" -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$MAXN"))
: > "$W/known_hosts"
for i in $(seq 1 "$MAXN"); do
  h=$W/host$i; mkdir -p "$h"
  ssh-keygen -q -t ed25519 -N '' -C "h$i" -f "$h/key"
  cat > "$h/sshd_config" <<EOF
Port ${ports[$((i-1))]}
ListenAddress 127.0.0.1
HostKey $h/key
PidFile none
AuthorizedKeysFile $W/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 64
SetEnv HOME=$h
EOF
  /usr/sbin/sshd -D -e -f "$h/sshd_config" > "$h/sshd.log" 2>&1 &
  PIDS+=($!); disown $!
  echo "[127.0.0.1]:${ports[$((i-1))]} $(cut -d' ' -f1,2 "$h/key.pub")" >> "$W/known_hosts"
done
for i in $(seq 1 "$MAXN"); do
  t=0
  until grep -q "Server listening on" "$W/host$i/sshd.log"; do
    sleep 0.05; t=$((t+1))
    [ $t -lt 1200 ] || { echo "sshd h$i did not start:" >&2; cat "$W/host$i/sshd.log" >&2; exit 1; }
  done
done
port() { echo "${ports[$(($1-1))]}"; }

# The ssh options bosun uses (its client config, key, strict known_hosts), for the other tools.
cat > "$W/ssh_config" <<EOF
UpdateHostKeys no
HashKnownHosts no
ServerAliveCountMax 3
PasswordAuthentication no
KbdInteractiveAuthentication no
GlobalKnownHostsFile /dev/null
EOF
SSH=(ssh -F "$W/ssh_config" -o BatchMode=yes -o StrictHostKeyChecking=yes
     -o UserKnownHostsFile="$W/known_hosts" -o IdentitiesOnly=yes -i "$W/client_key"
     -o ConnectTimeout=30 -o ServerAliveInterval=15 -o Compression=no)

# ---- bosun's config: one environment, `fleet`, of the first N hosts ---------------------------
write_bosun() {   # $1 = N
  local n=$1 hosts=() i
  for i in $(seq 1 "$n"); do hosts+=("\"h$i\""); done
  mkdir -p "$W/bosun/playbooks"
  cat > "$W/bosun/bosun.toml" <<EOF
[bot]
state_dir = "var"
playbooks = ["playbooks/bench.toml"]
[chat.console]
user = "bench"
[[people]]
name = "bench"
console = "*"
roles = ["all"]
[roles.all]
deploy = ["*:*"]
rollback = ["*:*"]
force = ["*:*"]
EOF
  {
    cat <<EOF
[app]
name = "bench"
repo = "$W/origin"
deploy_to = "/srv/bench"
keep_releases = 3
max_parallel = ${MAX_PARALLEL:-32}
[ssh]
identity = "$W/client_key"
known_hosts = "$W/known_hosts"
[environments.fleet]
default_ref = "main"
hosts = [$(IFS=,; echo "${hosts[*]}")]
EOF
    for i in $(seq 1 "$n"); do
      printf '[hosts.h%s]\naddress = "127.0.0.1"\nport = %s\ndeploy_to = "%s"\n' \
        "$i" "$(port "$i")" "$W/host$i/bosun"
    done
  } > "$W/bosun/playbooks/bench.toml"
}
bosun_cli() { "$BOSUN" "$@" --config "$W/bosun/bosun.toml"; }

# ---- templates: the state every measured run starts from --------------------------------------
# make_template NAME REF: bosun deploys REF to h1 alone; h1's deploy root (two older releases
# added, hard links of the live one) and bosun's journal are kept as template NAME. The live
# release is kept as hard links of what bosun staged, so its stat record (`.bosun/stat`) still
# describes it, as it would on a host that bosun deployed to.
make_template() {
  local name=$1 ref=$2 t=$W/tpl/$1 base
  write_bosun 1
  bosun_cli deploy "bench/$ref" --to fleet --force > "$W/out.log" 2>&1 || { cat "$W/out.log" >&2; exit 1; }
  mkdir -p "$t/root/releases" "$t/journal"
  base=$(basename "$(readlink "$W/host1/bosun/current")")
  (cd "$W/host1/bosun" && for f in .[!.]* *; do
     case $f in releases|current|'*'|'.[!.]*') ;; *) cp -a "$f" "$t/root/";; esac
   done)
  cp -al "$W/host1/bosun/releases/$base" "$t/root/releases/"
  cp -al "$t/root/releases/$base" "$t/root/releases/20000101T000000Z-old1"
  cp -al "$t/root/releases/$base" "$t/root/releases/20000102T000000Z-old2"
  echo "$base" > "$t/base"
  cp -a "$W/bosun/var/"journal* "$t/journal/"
}
# quiesce: the machine's memory in one state before every measured deploy. On this VM, memory
# freed by the guest is handed back to the host (free page reporting) and costs a host fault when
# it is used again, so a tool that ran after one that had just freed a lot (Ansible's forks, the
# reset's removals) wrote its releases into warm pages and one that ran after a quiet spell into
# cold ones: up to 5x apart for the same `tar -x`. So: write back everything, drop the page cache,
# wait for the reporting to settle (every free page cold alike), then read back what the tools
# read (archives, the app's tree, bosun's state and binary, Ansible and its Python), so that
# nobody's input comes from disk. QUIESCE=0 leaves the machine alone (only `sync`).
QUIESCE=${QUIESCE:-1}
quiesce() {
  sync
  [ "$QUIESCE" = 1 ] && [ -w /proc/sys/vm/drop_caches ] || return 0
  echo 1 > /proc/sys/vm/drop_caches
  local f=/sys/module/page_reporting/parameters/reported_kib a b i=0
  if [ -r "$f" ]; then
    a=$(cat "$f")
    while [ $i -lt 12 ]; do sleep 2.5; b=$(cat "$f"); [ "$a" = "$b" ] && break; a=$b; i=$((i+1)); done
  fi
  cat "$W/a.tar" "$W/b.tar" "$BOSUN" ${BOSUN_B:+"$BOSUN_B"} /usr/bin/ssh /usr/sbin/sshd /usr/bin/tar /usr/bin/rsync > /dev/null
  find "$W/src_b" "$W/bosun/var" "$W/origin/.git" "$ROOT/target/bench/ansible" /usr/lib/python3* \
    -type f -exec cat {} + > /dev/null 2>&1 || true
}
# reset TOOL TEMPLATE N: the TOOL's deploy root on hosts 1..N becomes the template's (releases
# hard-linked, the rest copied, `current` at its live release); bosun's journal too. Then the
# machine is quiesced: a measured deploy follows every reset.
reset() {
  local tool=$1 t=$W/tpl/$2 n=$3
  seq 1 "$n" | xargs -P 4 -I{} sh -c '
    d=$1/host$2/$3; rm -rf "$d"; mkdir -p "$d/releases"
    cp -al "$4"/root/releases/* "$d/releases/"
    if [ "$3" = bosun ]; then for f in "$4"/root/.[!.]* "$4"/root/*; do
      case ${f##*/} in releases|"*"|".[!.]*") ;; *) cp -a "$f" "$d/";; esac; done; fi
    ln -s "$d/releases/$(cat "$4/base")" "$d/current"' _ "$W" {} "$tool" "$t"
  if [ "$tool" = bosun ]; then
    rm -f "$W/bosun/var/"journal*
    cp -a "$t/journal/"* "$W/bosun/var/"
  fi
  quiesce
}

# ---- measuring -------------------------------------------------------------------------------
RESULTS=$W/results.tsv
: > "$RESULTS"
mkdir -p "$ROOT/target/bench"
trap 'cp "$RESULTS" "$ROOT/target/bench/results-last.tsv" 2>/dev/null; cleanup' EXIT
cpu_now() { awk '/^cpu /{print ($2+$3+$4+$7+$8)/100; exit}' /proc/stat; }
now() { date +%s.%N; }
record() {  # what n run wall machine_cpu rss_kb proc_cpu
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"
}
load() { printf 'load\t%s\t%s\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS"; }
# The seconds from T0 to the first output line holding TEXT (written to FILE at the end).
cat > "$W/stamp.py" <<'EOF'
import sys, time
t0, text, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
seen = None
for line in sys.stdin:
    if seen is None and text in line:
        seen = time.time() - t0
    sys.stdout.write(line)
open(out, "w").write("" if seen is None else f"{seen:.4f}")
EOF
# timed WHAT N RUN CMD...: runs CMD under /usr/bin/time -v, records wall, machine CPU, RSS, CPU;
# with LIVE=WHAT2 set, also WHAT2: the time to the first "is live" line CMD prints.
timed() {
  local what=$1 n=$2 run=$3; shift 3
  local c0 c1 t0 t1 before
  before=$(pgrep -c -x ssh || true)
  c0=$(cpu_now); t0=$(now)
  local profile=()
  case ${PROFILE:-} in
    perf) profile=(perf record -a -F 499 -q -o "$PROFILE_DIR/$what-$n-$run.data" --);;
    heaptrack) profile=(heaptrack -o "$PROFILE_DIR/$what-$n-$run");;
  esac
  if ! /usr/bin/time -v -o "$W/time.out" "${profile[@]}" "$@" 2>&1 | "$PY" "$W/stamp.py" "$t0" "is live" "$W/live.out" > "$W/out.log"; then
    echo "$what failed (N=$n, run $run):" >&2; tail -20 "$W/out.log" >&2; exit 1
  fi
  t1=$(now); c1=$(cpu_now)
  log "$what N=$n run $run: $(echo "$t1 - $t0" | bc -l | cut -c1-6) s (ssh processes: $before before, $(pgrep -c -x ssh || true) after)"
  local rss user sys
  rss=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  user=$(awk -F: '/User time/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  sys=$(awk -F: '/System time/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  record "$what" "$n" "$run" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$c1 - $c0" | bc -l)" \
    "$rss" "$(echo "$user + $sys" | bc -l)"
  if [ -n "${LIVE:-}" ]; then
    [ -s "$W/live.out" ] || { echo "$what: no \"is live\" line:" >&2; tail -20 "$W/out.log" >&2; exit 1; }
    record "$LIVE" "$n" "$run" "$(cat "$W/live.out")" "" "" ""
  fi
}

echo "${ports[*]}" > "$W/ports"
printf '%q ' "${SSH[@]}" > "$W/ssh_cmd"

# The raw floor as scripts (so that /usr/bin/time can run them): one ssh per host, in parallel.
cat > "$W/raw_deploy.sh" <<'EOF_RAW'
#!/usr/bin/env bash
# raw_deploy.sh W N REL ARCHIVE
W=$1 N=$2 REL=$3 ARCHIVE=$4
read -r -a ports < "$W/ports"; eval "SSH=($(cat "$W/ssh_cmd"))"
for i in $(seq 1 "$N"); do
  d=$W/host$i/raw
  "${SSH[@]}" -p "${ports[$((i-1))]}" 127.0.0.1 \
    "mkdir -p $d/releases/$REL && tar -x -f - -C $d/releases/$REL && ln -sfn $d/releases/$REL $d/.current.tmp && mv -T $d/.current.tmp $d/current && cd $d/releases && ls -1 | head -n -3 | xargs -r rm -rf" \
    < "$ARCHIVE" &
done
wait
EOF_RAW
# The rsync a user would pick: per host in parallel, the new release made from the local tree
# with --link-dest=<live release> (unchanged files become hard links), then the switch and the
# same clean-up over the same connection (a control master).
cat > "$W/rsync_deploy.sh" <<'EOF_RAW'
#!/usr/bin/env bash
# rsync_deploy.sh W N REL SRC BASE
W=$1 N=$2 REL=$3 SRC=$4 BASE=$5
read -r -a ports < "$W/ports"; eval "SSH=($(cat "$W/ssh_cmd"))"
for i in $(seq 1 "$N"); do
  (
    d=$W/host$i/rsync p=${ports[$((i-1))]} cp=$W/cp/rs$i
    ssh_cmd="$(printf '%q ' "${SSH[@]}") -p $p -o ControlMaster=auto -o ControlPath=$cp -o ControlPersist=10"
    rsync -a --link-dest="$d/releases/$BASE" -e "$ssh_cmd" "$SRC/" "127.0.0.1:$d/releases/$REL/" &&
    "${SSH[@]}" -p "$p" -o ControlMaster=auto -o ControlPath="$cp" 127.0.0.1 \
      "ln -sfn $d/releases/$REL $d/.current.tmp && mv -T $d/.current.tmp $d/current && cd $d/releases && ls -1 | head -n -3 | xargs -r rm -rf"
    rc=$?
    "${SSH[@]}" -o ControlPath="$cp" -O exit 127.0.0.1 2>/dev/null
    exit $rc
  ) &
done
fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done
exit $fail
EOF_RAW
cat > "$W/raw_rollback.sh" <<'EOF_RAW'
#!/usr/bin/env bash
# raw_rollback.sh W N: current → the release before the newest, over the open masters
W=$1 N=$2
read -r -a ports < "$W/ports"; eval "SSH=($(cat "$W/ssh_cmd"))"
for i in $(seq 1 "$N"); do
  d=$W/host$i/raw
  "${SSH[@]}" -S "$W/cp/h$i" -p "${ports[$((i-1))]}" 127.0.0.1 \
    "cd $d/releases && prev=\$(ls -1 | tail -n 2 | head -n 1) && ln -sfn $d/releases/\$prev $d/.current.tmp && mv -T $d/.current.tmp $d/current" &
done
wait
EOF_RAW
cat > "$W/raw_connect.sh" <<'EOF_RAW'
#!/usr/bin/env bash
# raw_connect.sh W N: only the handshakes: one fresh connection per host running `true`
W=$1 N=$2
read -r -a ports < "$W/ports"; eval "SSH=($(cat "$W/ssh_cmd"))"
for i in $(seq 1 "$N"); do "${SSH[@]}" -p "${ports[$((i-1))]}" 127.0.0.1 true & done
wait
EOF_RAW
chmod +x "$W"/*.sh

open_masters() {  # N
  local i
  for i in $(seq 1 "$1"); do
    "${SSH[@]}" -p "$(port "$i")" -M -S "$W/cp/h$i" -f -N -o ControlPersist=yes 127.0.0.1
  done
}
close_masters() {
  local i
  for i in $(seq 1 "$1"); do "${SSH[@]}" -S "$W/cp/h$i" -O exit 127.0.0.1 2>/dev/null || true; done
}

# The small change as files: what changed or was added (copied), what was removed.
CHANGED=$(git -C "$W/origin" diff --name-only --diff-filter=AM a b | tr '\n' ' ')
REMOVED=$(git -C "$W/origin" diff --name-only --diff-filter=D a b | tr '\n' ' ')
mkdir -p "$W/src_b"
git -C "$W/origin" archive b | tar -x -C "$W/src_b"

write_ansible() {  # N
  local n=$1 i f
  mkdir -p "$W/ansible"
  {
    echo "[fleet]"
    for i in $(seq 1 "$n"); do
      echo "h$i ansible_host=127.0.0.1 ansible_port=$(port "$i") root=$W/host$i/ansible"
    done
    echo "[fleet:vars]"
    echo "ansible_user=root"
    echo "ansible_python_interpreter=/usr/bin/python3"
    echo "ansible_ssh_private_key_file=$W/client_key"
  } > "$W/ansible/hosts"
  cat > "$W/ansible/ansible.cfg" <<EOF
[defaults]
forks = $n
gathering = explicit
host_key_checking = True
interpreter_python = /usr/bin/python3
stdout_callback = default
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -F $W/ssh_config -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$W/known_hosts -o StrictHostKeyChecking=yes
EOF
  cat > "$W/ansible/deploy.yml" <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - file: { path: "{{ root }}/releases/{{ rel }}", state: directory }
    - unarchive: { src: "$W/a.tar", dest: "{{ root }}/releases/{{ rel }}" }
    - file: { src: "{{ root }}/releases/{{ rel }}", dest: "{{ root }}/current", state: link, force: true }
    - shell: cd {{ root }}/releases && ls -1 | head -n -3 | xargs -r rm -rf
EOF
  {
    cat <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - command: cp -al {{ root }}/releases/{{ base }} {{ root }}/releases/{{ rel }}
    - copy: { src: "$W/src_b/{{ item }}", dest: "{{ root }}/releases/{{ rel }}/{{ item }}" }
      loop:
EOF
    for f in $CHANGED; do echo "        - $f"; done
    echo '    - file: { path: "{{ root }}/releases/{{ rel }}/{{ item }}", state: absent }'
    echo '      loop:'
    for f in $REMOVED; do echo "        - $f"; done
    cat <<EOF
    - file: { src: "{{ root }}/releases/{{ rel }}", dest: "{{ root }}/current", state: link, force: true }
    - shell: cd {{ root }}/releases && ls -1 | head -n -3 | xargs -r rm -rf
EOF
  } > "$W/ansible/small.yml"
}
ansible_run() {  # WHAT N RUN PLAYBOOK EXTRA...
  local what=$1 n=$2 run=$3 book=$4; shift 4
  # a fresh control path per run: no master is carried over from the previous run
  timed "$what" "$n" "$run" env ANSIBLE_CONFIG="$W/ansible/ansible.cfg" \
    ANSIBLE_SSH_CONTROL_PATH_DIR="$W/ansible/cp-$what-$run" "$ANSIBLE" -i "$W/ansible/hosts" \
    "$W/ansible/$book" -e "rel=ans-$run-$(date +%s%N)" "$@"
}

# The driver both warm measurements share: a bot on the console adapter, fed lines on stdin.
cat > "$W/warm_bot.py" <<'EOF_PY'
import sqlite3, subprocess, sys, time
def start(bosun, config):
    # The room's lines only (stdout): the log (stderr) repeats them.
    return subprocess.Popen([bosun, "run", "--config", config], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
def say(bot, line):
    bot.stdin.write(line + "\n"); bot.stdin.flush()
def until(bot, text):
    for line in bot.stdout:
        if text in line:
            return
        if "failed" in line or "cannot" in line or "is busy" in line:
            sys.exit(f"bot: {line}")
    sys.exit(f"the bot ended before {text!r}")
def finished(journal, kind):
    """Waits until the journal's last deploy of KIND has ended (its clean-up included)."""
    db = sqlite3.connect(journal)
    query = "SELECT finished_at FROM deploys WHERE kind = ? ORDER BY id DESC LIMIT 1"
    while db.execute(query, (kind,)).fetchone()[0] is None:
        time.sleep(0.01)
def stop(bot):
    bot.stdin.close(); bot.wait(timeout=300)
EOF_PY

bosun_warm_small() {  # N: in one bot, `deploy! bench/a` (the same commit again: the masters
  # open, a release staged by delta), then once it has ended, `deploy bench/b`; prints the
  # seconds from that line written to "is live" read (the chat-ops case: a bot that deployed
  # before still holds its connections)
  "$PY" - "$W" "${BIN:-$BOSUN}" "$W/bosun/bosun.toml" "$W/bosun/var/journal.sqlite" <<'EOF_PY'
import sys, time
sys.path.insert(0, sys.argv[1])
from warm_bot import start, say, until, finished, stop
bosun, config, journal = sys.argv[2:5]
bot = start(bosun, config)
say(bot, "deploy! bench/a to fleet")
until(bot, "is live on")
finished(journal, "deploy")
t0 = time.monotonic()
say(bot, "deploy bench/b to fleet")
until(bot, "is live on")
wall = time.monotonic() - t0
finished(journal, "deploy")
stop(bot)
print(f"{wall:.4f}")
EOF_PY
}

bosun_warm() {  # N: `deploy! bench/b …` then, once it has ended, `!rollback` typed into one bot;
  # prints the seconds from the rollback line written to "is back on" read, and the journal's
  # own duration of the rollback
  "$PY" - "$W" "${BIN:-$BOSUN}" "$W/bosun/bosun.toml" "$W/bosun/var/journal.sqlite" <<'EOF_PY'
import sqlite3, sys, time
sys.path.insert(0, sys.argv[1])
from warm_bot import start, say, until, finished, stop
bosun, config, journal = sys.argv[2:5]
bot = start(bosun, config)
say(bot, "deploy! bench/b to fleet")
until(bot, "is live on")
# "is live" comes before the clean-up of old releases, and a rollback asked during it waits
# for its end (never "busy"): the rollback is timed from the end of that deploy in the journal,
# so that it measures the rollback, not what is left of the clean-up.
finished(journal, "deploy")
t0 = time.monotonic()
say(bot, "!rollback")
until(bot, "is back on")
wall = time.monotonic() - t0
stop(bot)
row = sqlite3.connect(journal).execute(
    "SELECT started_at, finished_at FROM deploys WHERE kind = 'rollback' ORDER BY id DESC LIMIT 1").fetchone()
print(f"{wall:.4f}\t{(row[1] - row[0]) / 1000:.4f}")
EOF_PY
}

# The order of the tools cycles over four rounds: what ran just before a tool moves what it
# costs, even after the quiescing (the floor ran up to a third faster right after Ansible), so
# bosun and the floor each run right after Ansible once in four rounds, and each goes first
# or last in turn. pair RUN: the order of the two builds (BOSUN_B) in round RUN; over four
# rounds each goes first once right after the raw floor and once after the other tools.
pair() { case $(($1 % 4)) in 1|2) echo "bosun_b bosun";; *) echo "bosun bosun_b";; esac; }

# ---- templates ----------------------------------------------------------------------------------
log "making the templates (a0 live; a live)"
make_template a0 a0
make_template a a
BASE_A=$(cat "$W/tpl/a/base")
load start

# ---- full deploy: from a0 live, deploy a --------------------------------------------------------
if has_phase full; then
  for n in $SIZES; do
    log "full deploy, N=$n"
    write_bosun "$n"; write_ansible "$n"
    for run in $(seq 1 "$RUNS"); do
      P=$(pair "$run")
      case $((run % 4)) in
        1) order="ansible raw $P";; 2) order="$P raw ansible";;
        3) order="ansible $P raw";; 0) order="raw $P ansible";;
      esac
      for tool in $order; do
        has_tool "$tool" || continue
        case $tool in
          bosun|bosun_b)
            BIN=$BOSUN B=; [ "$tool" = bosun ] || BIN=$BOSUN_B B=_b
            reset bosun a0 "$n"
            LIVE=deploy_live$B timed deploy$B "$n" "$run" "$BIN" deploy bench/a --to fleet --force --config "$W/bosun/bosun.toml"
            timed rollback$B "$n" "$run" "$BIN" rollback bench --in fleet --config "$W/bosun/bosun.toml"
            reset bosun a "$n"
            read -r warm journaled < <(BIN=$BIN bosun_warm "$n")
            record warm_rollback$B "$n" "$run" "$warm" "" "" ""
            record warm_rollback_journal$B "$n" "$run" "$journaled" "" "" ""
            ;;
          raw)
            reset raw a0 "$n"
            timed raw "$n" "$run" "$W/raw_deploy.sh" "$W" "$n" "r$run-$(date +%s%N)" "$W/a.tar"
            open_masters "$n"
            timed raw_rollback "$n" "$run" "$W/raw_rollback.sh" "$W" "$n"
            close_masters "$n"
            timed handshake "$n" "$run" "$W/raw_connect.sh" "$W" "$n"
            ;;
          ansible)
            reset ansible a0 "$n"
            ansible_run ansible "$n" "$run" deploy.yml
            ;;
        esac
      done
    done
    load "full N=$n"
  done
fi

# ---- small change: from a live, deploy b --------------------------------------------------------
if has_phase small; then
  n=$SMALL_N
  log "small change, N=$n"
  write_bosun "$n"; write_ansible "$n"
  for run in $(seq 1 "$RUNS"); do
    P=$(pair "$run")
    case $((run % 4)) in
      1) order="ansible raw rsync $P";; 2) order="$P rsync raw ansible";;
      3) order="ansible $P raw rsync";; 0) order="rsync raw $P ansible";;
    esac
    for tool in $order; do
      has_tool "$tool" || continue
      case $tool in
        bosun|bosun_b)
          BIN=$BOSUN B=; [ "$tool" = bosun ] || BIN=$BOSUN_B B=_b
          reset bosun a "$n"
          LIVE=small_live$B timed small$B "$n" "$run" "$BIN" deploy bench/b --to fleet --config "$W/bosun/bosun.toml"
          reset bosun a "$n"
          record small_warm$B "$n" "$run" "$(BIN=$BIN bosun_warm_small "$n")" "" "" ""
          ;;
        raw)
          reset raw a "$n"
          timed small_raw "$n" "$run" "$W/raw_deploy.sh" "$W" "$n" "r$run-$(date +%s%N)" "$W/b.tar"
          ;;
        rsync)
          reset rsync a "$n"
          timed small_rsync "$n" "$run" "$W/rsync_deploy.sh" "$W" "$n" "rs-$run-$(date +%s%N)" "$W/src_b" "$BASE_A"
          ;;
        ansible)
          reset ansible a "$n"
          ansible_run small_ansible "$n" "$run" small.yml -e "base=$BASE_A"
          ;;
      esac
    done
  done
  load "small N=$n"
fi

# ---- scale: bosun alone, a small change and a rollback ------------------------------------------
if has_phase scale; then
  # Unmeasured: bosun's archive and delta of `b` are written here once, so that every measured
  # run (N = 1 included) finds them cached, as a small change's second and later hosts do.
  write_bosun 1
  reset bosun a 1
  "$BOSUN" deploy bench/b --to fleet --config "$W/bosun/bosun.toml" > /dev/null 2>&1
  for n in 1 $SCALE; do
    log "scale, N=$n"
    write_bosun "$n"
    for run in $(seq 1 "$SCALE_RUNS"); do
      reset bosun a "$n"
      LIVE=scale_live timed scale "$n" "$run" "$BOSUN" deploy bench/b --to fleet --config "$W/bosun/bosun.toml"
      timed scale_rollback "$n" "$run" "$BOSUN" rollback bench --in fleet --config "$W/bosun/bosun.toml"
    done
    load "scale N=$n"
  done
fi

# ---- the report --------------------------------------------------------------------------------
report "$RESULTS"
