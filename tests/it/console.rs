//! The terminal as scripts use it, with the real binary and the shipped `config.example.toml`: bad bytes on stdin are refused and the bot goes on; piped lines run one after another.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bosun::source::testing::TestRepo;

/// A copy of the repository's layout in a temp dir, itself a git repository (the demo playbook
/// deploys `..`, the repository it is in): `config.example.toml` and `playbooks/demo.toml` as
/// shipped, and `.gitignore` keeping bosun's `var/` out of it.
fn example_layout() -> (tempfile::TempDir, TestRepo) {
    let dir = tempfile::Builder::new()
        .prefix("bosun-console-")
        .tempdir()
        .unwrap();
    let repo = TestRepo::new(dir.path());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| std::fs::read_to_string(shipped.join(file)).unwrap();
    let (config, playbook, ignore) = (
        read("config.example.toml"),
        read("playbooks/demo.toml"),
        read(".gitignore"),
    );
    repo.commit(
        "Alice Liddell",
        "alice@example.org",
        "First",
        &[
            ("index.html", "one\n"),
            ("config.example.toml", &config),
            ("playbooks/demo.toml", &playbook),
            (".gitignore", &ignore),
        ],
    );
    (dir, repo)
}

/// `bosun run --config config.example.toml` in `dir` with `input` piped to its stdin.
fn run_piped(dir: &Path, input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["run", "--config", "config.example.toml", "--as", "alice"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bosun runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().expect("bosun ends by itself");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Where `current` points on a host of the example's staging environment.
fn current(dir: &Path, host: &str) -> Option<String> {
    let link = dir.join("var/hosts").join(host).join("srv/demo/current");
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

#[test]
fn a_byte_that_is_not_text_is_refused_and_both_status_lines_are_answered() {
    let (dir, _repo) = example_layout();
    let (ok, out, err) = run_piped(dir.path(), b"status\n\xff\nstatus\n");
    assert!(ok, "the bot ends cleanly:\n{out}{err}");
    assert_eq!(
        out.matches("nothing is running").count(),
        2,
        "both status lines answered:\n{out}{err}"
    );
    assert!(
        out.contains(
            "refused line 2: it is not UTF-8 text (byte 0xff at position 1); nothing was run"
        ),
        "{out}"
    );
    let (ok, out, err) = run_piped(dir.path(), b"st\x00atus\nstatus\n");
    assert!(ok, "{out}{err}");
    assert!(out.contains("refused line 1: it holds a control character (U+0000 at column 3)"));
    assert_eq!(out.matches("nothing is running").count(), 1, "{out}");
}

#[test]
fn the_readmes_pipe_example_deploys_and_then_rolls_back() {
    let (dir, repo) = example_layout();
    let (ok, out, err) = run_piped(dir.path(), b"deploy demo to staging\n");
    assert!(ok && out.contains("is live on 2 hosts"), "{out}{err}");
    let first = current(dir.path(), "staging1").expect("the first release");
    repo.commit(
        "Bob Builder",
        "bob@example.org",
        "Second",
        &[("index.html", "two\n")],
    );

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains(
            "`printf 'deploy demo to staging\\n!rollback\\n' | cargo run --release -- run --config config.example.toml`"
        ),
        "the README still gives this example"
    );
    let (ok, out, err) = run_piped(dir.path(), b"deploy demo to staging\n!rollback\n");
    assert!(ok, "{out}{err}");
    assert!(
        !out.contains("busy"),
        "the rollback waited for the deploy:\n{out}"
    );
    let live = out
        .find("is live on 2 hosts")
        .expect("the deploy went live");
    let back = out
        .find("demo is back on")
        .expect("then it was rolled back");
    assert!(live < back, "{out}");
    assert_eq!(current(dir.path(), "staging1"), Some(first.clone()));
    assert_eq!(current(dir.path(), "staging2"), Some(first));
}
