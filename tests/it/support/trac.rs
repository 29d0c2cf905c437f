//! A real Trac 1.6 (`tracd`) serving a test's git repository on a free loopback port, killed
//! (with everything it started) when dropped.
//!
//! Trac lives in a virtual environment at `target/peers/trac`, which `scripts/test.sh` creates.
//! Each `Trac` gets its own environment in a temporary directory: the git connector enabled and
//! showing authors (not committers), the repository as `(default)`, `EMAIL_VIEW` granted, and
//! optionally basic auth on `/login` with anonymous locked out. tracd's access log (its stderr)
//! is kept, so a test can count the requests a client made.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How a `Trac` is set up.
#[derive(Clone, Debug)]
pub struct TracOptions {
    /// `tracd --basic-auth` with this one user (and password) allowed to log in at `/login`.
    pub basic_auth: Option<(String, String)>,
    /// Whether anonymous may view tickets, the log and changesets. When off, those view
    /// permissions go to `authenticated` instead.
    pub anonymous: bool,
}

impl Default for TracOptions {
    fn default() -> Self {
        TracOptions {
            basic_auth: None,
            anonymous: true,
        }
    }
}

/// A running tracd. Dropping it kills it.
pub struct Trac {
    dir: TempDir,
    env: PathBuf,
    venv: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// The longest tracd may take to answer its first request (it loads Trac then).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The permissions that make a Trac readable, for `authenticated` when anonymous is locked out.
const VIEW: &str = "BROWSER_VIEW CHANGESET_VIEW FILE_VIEW LOG_VIEW TICKET_VIEW TIMELINE_VIEW \
                    REPORT_VIEW EMAIL_VIEW";

impl Trac {
    /// Creates a Trac environment for the git repository at `repo_path` (a working tree or a
    /// bare repository) and starts tracd on it. Panics, saying why, if anything fails.
    pub fn start(repo_path: &Path, options: TracOptions) -> Trac {
        let venv = venv();
        let dir = tempfile::Builder::new()
            .prefix("bosun-trac.")
            .tempdir()
            .expect("temp dir");
        let env = dir.path().join("env");
        let git_dir = match repo_path.join(".git") {
            dot_git if dot_git.is_dir() => dot_git,
            _ => repo_path.to_path_buf(),
        };
        let ini = dir.path().join("init.ini");
        std::fs::write(&ini, init_ini(&git_dir)).expect("write init.ini");
        run(
            Command::new(venv.join("bin/trac-admin"))
                .arg(&env)
                .arg("initenv")
                .arg(format!("--config={}", ini.display())),
            "trac-admin initenv",
        );
        let htpasswd = dir.path().join("htpasswd");
        let setup = serde_json::json!({
            "anonymous": options.anonymous,
            "view": VIEW,
            "htpasswd": htpasswd,
            "user": options.basic_auth.as_ref().map(|(user, password)| [user, password]),
        });
        python(&venv, SETUP_PY, &env, &setup.to_string());

        let mut trac = Trac {
            dir,
            env,
            venv,
            port: 0,
            child: None,
        };
        let auth = options.basic_auth.as_ref().map(|_| htpasswd);
        trac.launch(auth.as_deref());
        trac
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates one ticket (reporter bob, owner alice) and returns its number.
    pub fn create_ticket(&self, summary: &str, status: &str, resolution: &str) -> u32 {
        self.create_tickets(&[(summary, status, resolution)])[0]
    }

    /// Creates tickets `(summary, status, resolution)` in one go and returns their numbers.
    pub fn create_tickets(&self, tickets: &[(&str, &str, &str)]) -> Vec<u32> {
        let out = python(
            &self.venv,
            TICKETS_PY,
            &self.env,
            &serde_json::json!(tickets).to_string(),
        );
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("ticket numbers from {out:?}: {e}"))
    }

    /// Makes Trac forget every login, as it does with old ones: the next request carrying a
    /// `trac_auth` cookie is anonymous again.
    pub fn forget_logins(&self) {
        python(&self.venv, FORGET_PY, &self.env, "");
    }

    /// tracd's access log so far, one `METHOD TARGET STATUS` per request, oldest first.
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.log_path()).expect("read tracd log");
        log.lines().filter_map(access_line).collect()
    }

    /// Kills tracd and every process it started, and waits for it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("tracd.log")
    }

    /// Starts tracd on a free port (another if the one picked is taken meanwhile) and waits
    /// until it answers HTTP.
    fn launch(&mut self, htpasswd: Option<&Path>) {
        for _attempt in 0..5 {
            self.port = free_port();
            let log = File::create(self.log_path()).expect("create tracd log");
            let mut command = Command::new(self.venv.join("bin/tracd"));
            command.args([
                "-s",
                "--hostname",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
            ]);
            if let Some(htpasswd) = htpasswd {
                command.arg(format!("--basic-auth=*,{},bosun-test", htpasswd.display()));
            }
            command
                .arg(&self.env)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                // Its own process group, so that stopping it reaches whatever it started.
                .process_group(0);
            let child = command.spawn().expect("spawn tracd");
            self.child = Some(child);
            if self.wait_until_answering() {
                return;
            }
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if !log.contains("Address already in use") {
                self.stop();
                panic!(
                    "tracd exited before answering on port {}:\n{log}",
                    self.port
                );
            }
            self.stop();
        }
        panic!("tracd found no free port in 5 attempts");
    }

    /// True once tracd answers any HTTP status; false if it exits first. Panics at the deadline.
    fn wait_until_answering(&mut self) -> bool {
        let deadline = Instant::now() + READY_WITHIN;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            let child = self.child.as_mut().expect("tracd started");
            if child.try_wait().expect("tracd status").is_some() {
                return false;
            }
            if answers_http(address) {
                return true;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                self.stop();
                panic!(
                    "tracd did not answer on port {} within {READY_WITHIN:?}:\n{log}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50)); // allow-sleep: polling, with a deadline, for tracd to answer
        }
    }
}

impl Drop for Trac {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Trac virtual environment, or a panic saying how to make it.
fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers/trac");
    for tool in ["bin/tracd", "bin/trac-admin", "bin/python"] {
        assert!(
            venv.join(tool).is_file(),
            "Trac is not installed: {} is missing. Run scripts/test.sh once (it creates the \
             virtual environment with `python3 -m venv target/peers/trac && \
             target/peers/trac/bin/pip install 'Trac==1.6' setuptools`).",
            venv.join(tool).display()
        );
    }
    venv
}

fn init_ini(git_dir: &Path) -> String {
    format!(
        "[project]\n\
         name = bosun test\n\
         [trac]\n\
         database = sqlite:db/trac.db\n\
         [components]\n\
         tracopt.versioncontrol.git.* = enabled\n\
         [git]\n\
         use_committer_id = false\n\
         use_committer_time = false\n\
         [repositories]\n\
         .dir = {}\n\
         .type = git\n\
         [logging]\n\
         log_type = file\n\
         log_level = WARNING\n",
        git_dir.display()
    )
}

/// Permissions and the htpasswd file. argv: ENV JSON.
const SETUP_PY: &str = r#"
import base64, hashlib, json, sys
from trac.env import Environment
from trac.perm import PermissionSystem
env = Environment(sys.argv[1])
o = json.loads(sys.argv[2])
perm = PermissionSystem(env)
if o["anonymous"]:
    perm.grant_permission("anonymous", "EMAIL_VIEW")
else:
    for user, action in perm.get_all_permissions():
        if user == "anonymous":
            perm.revoke_permission(user, action)
    have = set(perm.get_user_permissions("authenticated"))
    for action in o["view"].split():
        if action not in have:
            perm.grant_permission("authenticated", action)
if o["user"]:
    user, password = o["user"]
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    with open(o["htpasswd"], "w") as f:
        f.write("%s:{SHA}%s\n" % (user, digest))
"#;

/// Tickets from a JSON list of [summary, status, resolution]; prints their numbers. argv: ENV JSON.
const TICKETS_PY: &str = r#"
import json, sys
from trac.env import Environment
from trac.ticket.model import Ticket
env = Environment(sys.argv[1])
ids = []
for summary, status, resolution in json.loads(sys.argv[2]):
    t = Ticket(env)
    t.populate({"summary": summary, "status": status, "resolution": resolution,
                "reporter": "bob", "owner": "alice", "type": "task",
                "description": "made by a bosun test"})
    ids.append(t.insert())
print(json.dumps(ids))
"#;

/// Forgets every login. argv: ENV.
const FORGET_PY: &str = r#"
import sys
from trac.env import Environment
env = Environment(sys.argv[1])
with env.db_transaction as db:
    db("DELETE FROM auth_cookie")
"#;

/// Runs a Python snippet with the venv's interpreter and returns its stdout.
fn python(venv: &Path, script: &str, env: &Path, arg: &str) -> String {
    run(
        Command::new(venv.join("bin/python"))
            .arg("-c")
            .arg(script)
            .arg(env)
            .arg(arg),
        "a Trac python snippet",
    )
}

/// Runs a command that ends by itself; its stdout, or a panic with its output.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Whether something at `address` answers a GET with an HTTP status line.
fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if stream
        .write_all(b"GET /chrome/common/trac.ico HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// `METHOD TARGET STATUS` from an access line such as
/// `127.0.0.1 - - [23/Nov/2026 07:42:53] "GET /query?x HTTP/1.1" 200 -`.
fn access_line(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let (method, rest_of_request) = request.split_once(' ')?;
    let target = rest_of_request
        .rsplit_once(' ')
        .map_or(rest_of_request, |(t, _)| t);
    let status = rest.split_whitespace().next()?;
    Some(format!("{method} {target} {status}"))
}

/// SIGKILL to tracd's process group (tracd and any git it started).
fn kill_group(child: &Child) {
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        // The group may be gone already; make sure the leader is.
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
    }
}
