#!/usr/bin/env bash
# The fleet benchmark: bosun against the raw floor (plain parallel ssh + tar) and Ansible,
# deploying one artifact (2,000 files, 30 MB) to N loopback sshd hosts, N = 1, 8, 32.
#
#   benches/fleet.sh                 # RUNS=5 SIZES="1 8 32"; prints a markdown report
#   RUNS=7 SIZES="32" benches/fleet.sh
#   BUILD=0 KEEP=1 benches/fleet.sh  # use target/release/bosun as it is; keep the work dir
#   TOOLS="bosun raw" benches/fleet.sh  # only these of bosun, raw, ansible
#   REPORT_ONLY=results.tsv SIZES="1 8 32" RUNS=5 benches/fleet.sh   # the report of kept results
#
# Needs (as root, Debian): openssh-server, openssh-client, GNU time (/usr/bin/time), git,
# python3 with venv. Builds bosun in release mode and installs ansible-core into
# target/bench/ansible. Every host is a real sshd on 127.0.0.1 with its own host key, HOME and
# deploy roots; all are stopped (with their session children) when the script exits. At N = 32
# the hosts hold about 9 GB of releases (3 kept per tool and host) until the script removes them.
#
# Per N and per run, in alternating order (bosun first on even runs, last on odd ones):
#   bosun deploy     `bosun deploy --force` (one process: connect, probe, stage, switch, clean up)
#   raw deploy       per host in parallel: one ssh connection, same options, `tar -x` of the same
#                    archive into a new release dir, atomic switch, the same clean-up
#   ansible deploy   ansible-playbook, forks = N, pipelining, no facts: unarchive + link + clean up
#   bosun rollback   `bosun rollback` as its own process (cold: it must connect first)
#   warm rollback    `deploy! …` then `!rollback` piped into one `bosun run`; the rollback's time
#                    is read from the journal (its start and finish timestamps): masters are warm
#   raw rollback     the floor: a symlink switch per host over an already open ssh master
# Wall time is measured around each command; bosun's peak RSS and CPU (user+sys, its children
# included: the ssh handshakes) come from /usr/bin/time -v; "machine CPU" is the whole
# machine's CPU time during the command (/proc/stat), sshd and ssh masters included.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
SIZES=${SIZES:-"1 8 32"}
PY=/usr/bin/python3
BOSUN=$ROOT/target/release/bosun
# report RESULTS: medians, ranges, ratios (markdown) from a results file
report() {
"$PY" - "$1" "$SIZES" "$RUNS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
sizes = [int(s) for s in sys.argv[2].split()]
runs = sys.argv[3]
data = defaultdict(list)
for tool, n, run, wall, mcpu, rss, pcpu in rows:
    data[(tool, int(n))].append((float(wall), float(mcpu) if mcpu else None,
                                 int(rss) if rss else None, float(pcpu) if pcpu else None))
def med(tool, n, i=0):
    return statistics.median(r[i] for r in data[(tool, n)])
def rng(tool, n, i=0):
    v = [r[i] for r in data[(tool, n)]]
    return f"{min(v):.2f}–{max(v):.2f}"
names = [("deploy", "bosun deploy"), ("raw", "raw ssh+tar deploy"), ("ansible", "Ansible deploy"),
         ("rollback", "bosun rollback (own process, cold)"), ("warm_rollback", "bosun !rollback (warm masters)"),
         ("warm_rollback_journal", "  the same, as the journal times the rollback"),
         ("raw_rollback", "raw rollback floor (open masters)"),
         ("handshake", "N fresh ssh connections running `true` (handshakes only)")]
print(f"Medians of {runs} runs each, seconds (min–max); machine CPU = all processes, sshd included.\n")
print("| N | what | wall s | min–max | machine CPU s |")
print("|---|---|---|---|---|")
for n in sizes:
    for key, label in names:
        if (key, n) not in data: continue
        cpu = [r[1] for r in data[(key, n)] if r[1] is not None]
        cpu_s = f"{statistics.median(cpu):.2f}" if cpu else "—"
        print(f"| {n} | {label} | {med(key, n):.2f} | {rng(key, n)} | {cpu_s} |")
print()
print("bosun deploy, its own process (children included: the `ssh` that opens each master and")
print("does its handshake; the masters' later work, like sshd's, shows only in machine CPU):\n")
print("| N | peak RSS MB | CPU s (user+sys) | CPU s per host | of which ssh handshake per host | bosun without handshakes, per host |")
print("|---|---|---|---|---|---|")
for n in sizes:
    rss = med("deploy", n, 2) / 1024
    cpu = med("deploy", n, 3)
    hs = med("handshake", n, 3) / n
    print(f"| {n} | {rss:.1f} | {cpu:.3f} | {cpu / n:.4f} | {hs:.4f} | {cpu / n - hs:.4f} |")
print()
for n in sizes:
    print(f"deploy_vs_raw N={n}: {med('deploy', n) / med('raw', n):.2f}")
big = max(sizes)
print(f"ansible_vs_bosun N={big}: {med('ansible', big) / med('deploy', big):.2f}")
print(f"rollback_vs_floor N={big}: {med('warm_rollback', big) / med('raw_rollback', big):.2f}")
EOF
}
if [ -n "${REPORT_ONLY:-}" ]; then report "$REPORT_ONLY"; exit 0; fi
W=$(mktemp -d /tmp/bosun-bench.XXXXXX)
MAXN=0; for n in $SIZES; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done
PIDS=()

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

log() { echo "[bench] $*" >&2; }

# ---- tools -------------------------------------------------------------------------------
if [ "${BUILD:-1}" = 1 ]; then   # BUILD=0: measure the release binary already built
  log "building bosun (release)"
  (cd "$ROOT" && cargo build --release -q -p bosun --bin bosun)
fi
if [ ! -x "$ROOT/target/bench/ansible/bin/ansible-playbook" ]; then
  log "installing ansible-core into target/bench/ansible"
  "$PY" -m venv "$ROOT/target/bench/ansible"
  "$ROOT/target/bench/ansible/bin/pip" install -q ansible-core
fi
ANSIBLE=$ROOT/target/bench/ansible/bin/ansible-playbook
mkdir -p -m 755 /run/sshd

# ---- the artifact: 2,000 files, 30 MB, in a git repository ---------------------------------
log "making the artifact repository"
mkdir -p "$W/origin"
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
git -C "$W/origin" init -q -b main
git -C "$W/origin" add -A
git -C "$W/origin" -c user.name=bench -c user.email=bench@example.org commit -q -m "The artifact"

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
    [ $t -lt 400 ] || { echo "sshd h$i did not start:" >&2; cat "$W/host$i/sshd.log" >&2; exit 1; }
  done
done
port() { echo "${ports[$(($1-1))]}"; }

# The ssh options bosun uses (its client config, key, strict known_hosts), for the raw floor.
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
     -o ConnectTimeout=10 -o ServerAliveInterval=15 -o Compression=no)

# ---- bosun's config --------------------------------------------------------------------------
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
max_parallel = 32
[ssh]
identity = "$W/client_key"
known_hosts = "$W/known_hosts"
[environments.n$n]
default_ref = "main"
hosts = [$(IFS=,; echo "${hosts[*]}")]
EOF
    for i in $(seq 1 "$n"); do
      printf '[hosts.h%s]\naddress = "127.0.0.1"\nport = %s\ndeploy_to = "%s"\n' \
        "$i" "$(port "$i")" "$W/host$i/bosun"
    done
  } > "$W/bosun/playbooks/bench.toml"
}

# ---- measuring -------------------------------------------------------------------------------
RESULTS=$W/results.tsv
: > "$RESULTS"
trap 'cp "$RESULTS" "$ROOT/target/bench/results-last.tsv" 2>/dev/null; cleanup' EXIT
cpu_now() { awk '/^cpu /{print ($2+$3+$4+$7+$8)/100; exit}' /proc/stat; }
now() { date +%s.%N; }
record() {  # tool n run wall machine_cpu rss_kb proc_cpu
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"
}
# timed TOOL N RUN CMD...: runs CMD under /usr/bin/time -v, records wall, machine CPU, RSS, CPU.
timed() {
  local tool=$1 n=$2 run=$3; shift 3
  local c0 c1 t0 t1
  c0=$(cpu_now); t0=$(now)
  if ! /usr/bin/time -v -o "$W/time.out" "$@" > "$W/out.log" 2>&1; then
    echo "$tool failed (N=$n, run $run):" >&2; tail -20 "$W/out.log" >&2; exit 1
  fi
  t1=$(now); c1=$(cpu_now)
  local rss user sys
  rss=$(awk -F: '/Maximum resident set size/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  user=$(awk -F: '/User time/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  sys=$(awk -F: '/System time/{gsub(/ /,"",$2); print $2}' "$W/time.out")
  record "$tool" "$n" "$run" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$c1 - $c0" | bc -l)" \
    "$rss" "$(echo "$user + $sys" | bc -l)"
}

ARCHIVE=""
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
chmod +x "$W/raw_deploy.sh" "$W/raw_rollback.sh" "$W/raw_connect.sh"

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

write_ansible() {  # N
  local n=$1 i
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
    - unarchive: { src: "$ARCHIVE", dest: "{{ root }}/releases/{{ rel }}" }
    - file: { src: "{{ root }}/releases/{{ rel }}", dest: "{{ root }}/current", state: link, force: true }
    - shell: cd {{ root }}/releases && ls -1 | head -n -3 | xargs -r rm -rf
EOF
}
ansible_deploy() {  # N RUN
  # a fresh control path per run: no master is carried over from the previous run
  env ANSIBLE_CONFIG="$W/ansible/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$W/ansible/cp-$2" \
    "$ANSIBLE" -i "$W/ansible/hosts" "$W/ansible/deploy.yml" -e "rel=ans-$2-$(date +%s%N)"
}

bosun_warm() {  # N: `deploy! …` then, once it is live, `!rollback` typed into one bot; prints the
  # seconds from the rollback line written to "is back on" read, and the journal's own duration
  "$PY" - "$BOSUN" "$W/bosun/bosun.toml" "$1" "$W/bosun/var/journal.sqlite" <<'EOF_PY'
import sqlite3, subprocess, sys, time
bosun, config, n, journal = sys.argv[1:5]
bot = subprocess.Popen([bosun, "run", "--config", config], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
def until(texts):
    texts = (texts,) if isinstance(texts, str) else texts
    for line in bot.stdout:
        for text in texts:
            if text in line:
                return text
        if "failed" in line or "cannot" in line:
            sys.exit(f"bot: {line}")
    sys.exit(f"the bot ended before {text!r}")
bot.stdin.write(f"deploy! bench to n{n}\n"); bot.stdin.flush()
until("is live on")
# "is live" is said a moment before the bot's loop lets go of the deploy; a rollback typed in
# that moment is answered "busy" and is typed again (as a person would).
for attempt in range(100):
    t0 = time.monotonic()
    bot.stdin.write("!rollback\n"); bot.stdin.flush()
    if until(("is back on", "is busy")) == "is back on":
        break
    time.sleep(0.02)
else:
    sys.exit("the rollback stayed busy")
wall = time.monotonic() - t0
bot.stdin.close(); bot.wait(timeout=120)
row = sqlite3.connect(journal).execute(
    "SELECT started_at, finished_at FROM deploys WHERE kind = 'rollback' ORDER BY id DESC LIMIT 1").fetchone()
print(f"{wall:.4f}\t{(row[1] - row[0]) / 1000:.4f}")
EOF_PY
}

# ---- the runs ----------------------------------------------------------------------------------
for n in $SIZES; do
  log "N=$n"
  write_bosun "$n"
  # warm-up (not measured): the mirror, the archive, a first release everywhere
  "$BOSUN" deploy bench --to "n$n" --force --config "$W/bosun/bosun.toml" > "$W/out.log" 2>&1 \
    || { cat "$W/out.log" >&2; exit 1; }
  ARCHIVE=$(ls "$W"/bosun/var/artifacts/*.tar | head -1)
  write_ansible "$n"
  "$W/raw_deploy.sh" "$W" "$n" warmup "$ARCHIVE"
  ansible_deploy "$n" warmup > "$W/out.log" 2>&1 || { cat "$W/out.log" >&2; exit 1; }
  for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) -eq 0 ]; then order="bosun raw ansible"; else order="ansible raw bosun"; fi
    for tool in $order; do
      case " ${TOOLS:-bosun raw ansible} " in *" $tool "*) ;; *) continue;; esac
      case $tool in
        bosun)
          timed deploy "$n" "$run" "$BOSUN" deploy bench --to "n$n" --force --config "$W/bosun/bosun.toml"
          timed rollback "$n" "$run" "$BOSUN" rollback bench --in "n$n" --config "$W/bosun/bosun.toml"
          read -r warm journaled < <(bosun_warm "$n")
          record warm_rollback "$n" "$run" "$warm" "" "" ""
          record warm_rollback_journal "$n" "$run" "$journaled" "" "" ""
          ;;
        raw)
          timed raw "$n" "$run" "$W/raw_deploy.sh" "$W" "$n" "r$run-$(date +%s%N)" "$ARCHIVE"
          open_masters "$n"
          timed raw_rollback "$n" "$run" "$W/raw_rollback.sh" "$W" "$n"
          close_masters "$n"
          timed handshake "$n" "$run" "$W/raw_connect.sh" "$W" "$n"
          ;;
        ansible)
          timed ansible "$n" "$run" env ANSIBLE_CONFIG="$W/ansible/ansible.cfg" \
            ANSIBLE_SSH_CONTROL_PATH_DIR="$W/ansible/cp-$run" "$ANSIBLE" -i "$W/ansible/hosts" \
            "$W/ansible/deploy.yml" -e "rel=ans-$run-$(date +%s%N)"
          ;;
      esac
    done
  done
  # nothing of one N carries into the next: every host's sessions end with its bot
done

# ---- the report --------------------------------------------------------------------------------
report "$RESULTS"
