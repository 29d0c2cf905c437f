//! A fleet of real OpenSSH servers on free loopback ports, one per test host, each with its own host key, HOME and deploy root; all stopped (with their session children) on drop.
//!
//! Every sshd runs as `/usr/sbin/sshd -D -e -f CFG` (absolute path: sshd re-executes itself),
//! logs to `hostN/sshd.log`, and is ready when that log says "Server listening on". One client
//! key is made per fleet and a `known_hosts` file lists every host key as `[127.0.0.1]:PORT`.
//! Each host's sessions get `HOME=hostN` (root's real rc files are slow here) and the host's
//! deploy root is `hostN/srv/demo`, so hosts on one machine never share files. A connection's
//! sshd child calls `setsid()`, so stopping a host kills every descendant of its listener found
//! in one `ps` snapshot taken before anything is killed.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";
/// The longest one sshd may take to say it listens.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// One sshd of the fleet.
struct Sshd {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// "Server listening on" lines in the log before the current launch.
    listened_before: usize,
}

/// N running sshd hosts named `h1` … `hN`.
pub struct Fleet {
    dir: TempDir,
    hosts: Vec<Sshd>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn keygen(path: &Path, comment: &str) -> Child {
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-keygen runs (openssh-client is installed by scripts/test.sh)")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Fleet {
    /// Starts `n` sshd hosts and waits until each listens. Panics (the test fails loudly) when
    /// one cannot start.
    pub fn start(n: usize) -> Fleet {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: scripts/test.sh installs openssh-server"
        );
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege separation dir /run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("bosun-fleet-")
            .tempdir_in("/tmp")
            .expect("a temp dir");
        let mut keys = vec![keygen(&dir.path().join("client_key"), "bosun-test-client")];
        let mut hosts = Vec::new();
        for i in 1..=n {
            let host_dir = dir.path().join(format!("host{i}"));
            std::fs::create_dir_all(host_dir.join("srv")).unwrap();
            keys.push(keygen(
                &host_dir.join("ssh_host_ed25519_key"),
                &format!("h{i}"),
            ));
            hosts.push(Sshd {
                port: 0,
                dir: host_dir,
                child: None,
                listened_before: 0,
            });
        }
        for mut k in keys {
            assert!(
                k.wait().expect("ssh-keygen ends").success(),
                "ssh-keygen failed"
            );
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let mut fleet = Fleet { dir, hosts };
        for i in 0..n {
            fleet.launch(i, None);
        }
        for i in 0..n {
            fleet.await_ready(i, true);
        }
        fleet.write_known_hosts(&(0..n).collect::<Vec<_>>());
        fleet
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// `h1` … `hN`.
    pub fn names(&self) -> Vec<String> {
        (1..=self.len()).map(|i| format!("h{i}")).collect()
    }

    fn index(&self, name: &str) -> usize {
        let i: usize = name
            .strip_prefix('h')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no host {name}"));
        assert!((1..=self.len()).contains(&i), "no host {name}");
        i - 1
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self, name: &str) -> u16 {
        self.hosts[self.index(name)].port
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir().join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir().join("known_hosts")
    }

    /// The host's own directory (its HOME).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        self.hosts[self.index(name)].dir.clone()
    }

    /// The host's deploy root, `hostN/srv/demo`.
    pub fn deploy_root(&self, name: &str) -> PathBuf {
        self.host_dir(name).join("srv/demo")
    }

    /// `ED25519 SHA256:…` of the host's key, computed locally.
    pub fn fingerprint(&self, name: &str) -> String {
        let out = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.host_dir(name).join("ssh_host_ed25519_key.pub")));
        let words: Vec<&str> = out.split_whitespace().collect();
        format!(
            "{} {}",
            words[words.len() - 1].trim_matches(['(', ')']),
            words[1]
        )
    }

    /// How many logins the host's sshd accepted so far (one per SSH connection).
    pub fn logins(&self, name: &str) -> usize {
        std::fs::read_to_string(self.host_dir(name).join("sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    /// The host's sshd log so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.host_dir(name).join("sshd.log")).unwrap_or_default()
    }

    /// The `[hosts.NAME]` entry that reaches this host.
    pub fn host_entry(&self, name: &str) -> String {
        format!(
            "[hosts.{name}]\naddress = \"127.0.0.1\"\nport = {}\ndeploy_to = {:?}\n\n",
            self.port(name),
            self.deploy_root(name).display().to_string()
        )
    }

    /// The `[ssh]` table for this fleet's client key and known_hosts.
    pub fn ssh_table(&self) -> String {
        format!(
            "[ssh]\nidentity = {:?}\nknown_hosts = {:?}\nconnect_timeout = \"5s\"\nidle = \"120s\"\n\n",
            self.client_key().display().to_string(),
            self.known_hosts().display().to_string()
        )
    }

    /// Rewrites known_hosts with only the given hosts' keys.
    pub fn write_known_hosts(&self, indices: &[usize]) {
        let mut text = String::new();
        for &i in indices {
            let h = &self.hosts[i];
            let key = std::fs::read_to_string(h.dir.join("ssh_host_ed25519_key.pub")).unwrap();
            let mut words = key.split_whitespace();
            let (kind, blob) = (words.next().unwrap(), words.next().unwrap());
            text.push_str(&format!("[127.0.0.1]:{} {kind} {blob}\n", h.port));
        }
        std::fs::write(self.known_hosts(), text).unwrap();
    }

    /// known_hosts without `name`'s key.
    pub fn forget_host_key(&self, name: &str) {
        let skip = self.index(name);
        let keep: Vec<usize> = (0..self.len()).filter(|i| *i != skip).collect();
        self.write_known_hosts(&keep);
    }

    /// Gives `name` a new host key (known_hosts keeps the old one) and restarts it.
    pub fn change_host_key(&mut self, name: &str) {
        let i = self.index(name);
        self.stop(name);
        let dir = self.hosts[i].dir.clone();
        for f in ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"] {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
        let mut k = keygen(&dir.join("ssh_host_ed25519_key"), "changed");
        assert!(k.wait().unwrap().success());
        self.restart(name);
    }

    /// Stops one host's sshd and every session it serves.
    pub fn stop(&mut self, name: &str) {
        let i = self.index(name);
        if let Some(child) = self.hosts[i].child.take() {
            kill_trees(vec![child]);
        }
    }

    /// Starts a stopped host again on the same port, with the same key.
    pub fn restart(&mut self, name: &str) {
        let i = self.index(name);
        let port = self.hosts[i].port;
        self.launch(i, Some(port));
        self.await_ready(i, false);
    }

    fn launch(&mut self, i: usize, port: Option<u16>) {
        let port = port.unwrap_or_else(free_port);
        let h = &mut self.hosts[i];
        h.port = port;
        let config = h.dir.join("sshd_config");
        std::fs::write(&config, sshd_config(self.dir.path(), &h.dir, port)).unwrap();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.dir.join("sshd.log"))
            .unwrap();
        h.listened_before = listening_lines(&h.dir.join("sshd.log"));
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
        h.child = Some(child);
    }

    /// Waits for "Server listening on"; a first start that lost its port race tries others.
    fn await_ready(&mut self, i: usize, may_move: bool) {
        for _ in 1..=5 {
            let h = &mut self.hosts[i];
            let log_path = h.dir.join("sshd.log");
            let already = h.listened_before;
            let deadline = Instant::now() + READY_WITHIN;
            let mut exited = None;
            while Instant::now() < deadline {
                if listening_lines(&log_path) > already {
                    return;
                }
                if let Some(status) = h.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    exited = Some(status);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10)); // allow-sleep: polling, with a deadline, for sshd to say it listens
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(child) = h.child.take() {
                kill_trees(vec![child]);
            }
            assert!(
                may_move && exited.is_some(),
                "sshd h{} did not start on port {} (exited: {exited:?}); its log:\n{log}",
                i + 1,
                h.port
            );
            self.launch(i, None);
        }
        panic!("sshd h{} could not start after 5 tries", i + 1);
    }
}

fn listening_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("Server listening on")
        .count()
}

fn sshd_config(fleet: &Path, host: &Path, port: u16) -> String {
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {host}/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile {fleet}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
Subsystem sftp internal-sftp
MaxStartups 200
MaxSessions 64
SetEnv HOME={host}
",
        host = host.display(),
        fleet = fleet.display(),
    )
}

/// Kills each child and all its descendants, found in one `ps` snapshot taken before any
/// kill (a killed parent's children are re-parented and would be lost).
fn kill_trees(mut children: Vec<Child>) {
    let roots: Vec<u32> = children.iter().map(Child::id).collect();
    let mut all = descendants(&roots);
    all.retain(|pid| !roots.contains(pid));
    let pids: Vec<String> = all.iter().map(u32::to_string).collect();
    for child in &mut children {
        let _ = child.kill();
    }
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stderr(Stdio::null())
            .status();
    }
    for child in &mut children {
        let _ = child.wait();
    }
}

fn descendants(roots: &[u32]) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-e", "-o", "pid=,ppid="])
        .output()
        .expect("ps runs");
    let mut kids: HashMap<u32, Vec<u32>> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut w = line
            .split_whitespace()
            .filter_map(|w| w.parse::<u32>().ok());
        if let (Some(pid), Some(ppid)) = (w.next(), w.next()) {
            kids.entry(ppid).or_default().push(pid);
        }
    }
    let mut all = roots.to_vec();
    let mut i = 0;
    while i < all.len() {
        if let Some(k) = kids.get(&all[i]) {
            all.extend(k.iter().copied());
        }
        i += 1;
    }
    all
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let children: Vec<Child> = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.child.take())
            .collect();
        kill_trees(children);
    }
}
