//! Delta staging over SSH: a release staged from the live one is byte-identical to a full unpack (files, modes, symlinks, deletions, a file that becomes a directory and back), the live release's files never change (so a rollback puts back exactly what was live), and a host whose live release is gone or damaged gets the full archive while the others still get the delta.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bosun::journal::Journal;
use bosun::source::testing::Entry;

use crate::support::app::{journal_id_in, release_in};
use crate::support::bot::ConsoleBot;
use crate::support::ssh_app::{SshApp, SshOptions};

/// One entry of a tree: its kind (`d`, `f`, `l`), permission bits, and content (a file's bytes,
/// a symlink's target).
type Node = (char, u32, Vec<u8>);

/// Every entry under `root`, by path, leaving out the top-level names in `skip`.
fn tree(root: &Path, skip: &[&str]) -> BTreeMap<String, Node> {
    fn walk(dir: &Path, prefix: &str, skip: &[&str], out: &mut BTreeMap<String, Node>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && skip.contains(&name.as_str()) {
                continue;
            }
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                let target = target.to_string_lossy().as_bytes().to_vec();
                out.insert(path, ('l', 0, target));
            } else if meta.is_dir() {
                out.insert(path.clone(), ('d', mode, Vec::new()));
                walk(&entry.path(), &path, skip, out);
            } else {
                out.insert(path, ('f', mode, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", skip, &mut out);
    out
}

/// What a full unpack of `sha`'s archive holds, unpacked by `tar` as the hosts do.
fn full_unpack(ssh: &SshApp, sha: &str, into: &Path) -> BTreeMap<String, Node> {
    let archive = ssh.app.path().join(format!("var/artifacts/demo-{sha}.tar"));
    std::fs::create_dir_all(into).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-x")
        .arg("-f")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
    tree(into, &[])
}

/// What bosun itself adds to a release, left out of comparisons with a plain unpack.
const ADDED: [&str; 3] = ["REVISION", "log", "BUILT"];

fn release_dir(ssh: &SshApp, host: &str, release: &str) -> PathBuf {
    ssh.deploy_root(host).join("releases").join(release)
}

/// The stage steps' outputs of journal deploy `id`, by host.
async fn staged(ssh: &SshApp, id: i64) -> BTreeMap<String, String> {
    let journal = Journal::open(&ssh.app.journal_path()).await.unwrap();
    journal
        .steps(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.undo_of.is_none() && s.label == "stage")
        .map(|s| (s.host.unwrap_or_default(), s.output.unwrap_or_default()))
        .collect()
}

fn options(hosts: usize, head: &str) -> SshOptions {
    SshOptions {
        hosts,
        groups: vec![("app", hosts, None)],
        head: head.to_string(),
        build: r#"[["sh", "-c", "echo built {revision} > BUILT"]]"#.into(),
        ..SshOptions::default()
    }
}

/// The app's first tree: a big asset that never changes (so that a small change is a small
/// share of the archive), files, an executable, a symlink, a file that will become a directory.
fn base_commit(ssh: &SshApp) -> String {
    let big = "bosun ".repeat(80_000);
    ssh.app.repo.commit_entries(
        "Ann",
        "ann@example.org",
        "Assets and friends",
        &[
            Entry::File("assets/big.txt", &big),
            Entry::File("keep/a.txt", "unchanged\n"),
            Entry::File("edit.txt", "one\n"),
            Entry::File("mode.sh", "echo mode\n"),
            Entry::Executable("bin/run", "#!/bin/sh\necho run\n"),
            Entry::Symlink("link", "edit.txt"),
            Entry::File("flip", "a file for now\n"),
            Entry::File("gone/old.txt", "old\n"),
        ],
    )
}

/// Changes of every kind: content, mode, a symlink's target, deletions (a whole directory),
/// an addition in new directories, and a file that becomes a directory.
fn change_commit(ssh: &SshApp) -> String {
    // A file cannot become a directory in one tree update: two commits, one deploy.
    ssh.app.repo.commit_entries(
        "Ann",
        "ann@example.org",
        "Drop flip",
        &[Entry::Remove("flip")],
    );
    ssh.app.repo.commit_entries(
        "Ann",
        "ann@example.org",
        "Change everything a little",
        &[
            Entry::File("edit.txt", "two\n"),
            Entry::Executable("mode.sh", "echo mode\n"),
            Entry::Symlink("link", "keep/a.txt"),
            Entry::Remove("gone/old.txt"),
            Entry::File("new/deep/x.txt", "new\n"),
            Entry::File("flip/inside.txt", "now a directory\n"),
        ],
    )
}

async fn deploy(bot: &mut ConsoleBot, hosts: usize) -> String {
    bot.say("deploy demo to staging").await;
    bot.expect("alice is deploying demo").await;
    bot.expect(&format!("is live on {hosts} hosts")).await;
    bot.since("alice is deploying demo")
}

/// What a delta-staged host's stage output says of how the new release was checked.
const BY_STAT: &str = "checked: the shipped entries by content, the linked ones by the stat record";
const BY_CONTENT: &str = "checked: every entry by content";

#[tokio::test]
async fn a_delta_staged_release_is_byte_identical_to_a_full_unpack_over_ssh() {
    // A copy of the live release, checked entry by entry...
    byte_identical("", BY_CONTENT).await;
}

#[tokio::test]
async fn a_delta_staged_release_with_hard_links_is_byte_identical_to_a_full_unpack_over_ssh() {
    // ... and hard links to it, whose unchanged entries the live release's stat record proves.
    byte_identical("delta_copy = \"link\"\n", BY_STAT).await;
}

async fn byte_identical(head: &str, checked: &str) {
    let ssh = SshApp::new(options(2, head));
    let hosts = ssh.fleet.names();
    let scratch = tempfile::tempdir().unwrap();
    base_commit(&ssh);
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    let first = deploy(&mut bot, 2).await;
    assert!(
        !first.contains("delta"),
        "a first deploy ships in full:\n{first}"
    );

    let shas = [change_commit(&ssh), {
        // ... and back: the directory becomes a file again.
        ssh.app.repo.commit_entries(
            "Ann",
            "ann@example.org",
            "Flip back",
            &[Entry::Remove("flip/inside.txt")],
        );
        ssh.app.repo.commit_entries(
            "Ann",
            "ann@example.org",
            "A file again",
            &[Entry::File("flip", "a file again\n")],
        )
    }];
    // Two deploys: the second commit is deployed from the first (the tip is deployed each time,
    // so check out the first one by name).
    for (round, sha) in shas.iter().enumerate() {
        bot.say(&format!("deploy demo/{sha} to staging")).await;
        bot.expect("alice is deploying demo").await;
        let done = bot.expect("is live on 2 hosts").await;
        let text = bot.since("alice is deploying demo");
        assert!(text.contains("staged: 2 delta, 0 full"), "{text}");
        let release = release_in(&text);
        let outputs = staged(&ssh, journal_id_in(&done)).await;
        let expected = full_unpack(&ssh, sha, &scratch.path().join(format!("{round}")));
        assert!(expected.contains_key("assets/big.txt"));
        for h in &hosts {
            assert!(
                outputs[h].contains("staged by delta from") && outputs[h].contains(checked),
                "{h}: {}",
                outputs[h]
            );
            let dir = release_dir(&ssh, h, &release);
            let got = tree(&dir, &ADDED);
            let differs: Vec<&String> = expected
                .keys()
                .chain(got.keys())
                .filter(|p| expected.get(*p) != got.get(*p))
                .collect();
            assert!(
                differs.is_empty(),
                "{h} round {round}: differs at {differs:?}"
            );
            assert_eq!(
                std::fs::read_to_string(dir.join("REVISION")).unwrap(),
                format!("{sha}\n")
            );
            assert!(
                std::fs::symlink_metadata(dir.join("log"))
                    .unwrap()
                    .is_symlink()
            );
        }
        if round == 0 {
            let out = &outputs[&hosts[0]];
            assert!(out.contains("3 changed, 2 added, 2 removed"), "{out}");
            assert_eq!(expected["flip/inside.txt"].0, 'f');
            assert_eq!(expected["mode.sh"].1, 0o755);
            assert!(!expected.contains_key("gone"));
        } else {
            assert_eq!(expected["flip"].2, b"a file again\n");
        }
    }
}

/// Everything about an entry a rollback depends on: kind, mode, content, mtime, inode.
fn inodes(root: &Path) -> BTreeMap<String, (Node, i64, u64)> {
    tree(root, &[])
        .into_iter()
        .map(|(path, node)| {
            let meta = std::fs::symlink_metadata(root.join(&path)).unwrap();
            (path, (node, meta.mtime(), meta.ino()))
        })
        .collect()
}

#[tokio::test]
async fn after_a_delta_deploy_with_hard_links_the_live_release_is_untouched_and_a_rollback_puts_it_back()
 {
    let ssh = SshApp::new(options(2, "delta_copy = \"link\"\n"));
    let hosts = ssh.fleet.names();
    let base = base_commit(&ssh);
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    let first = release_in(&deploy(&mut bot, 2).await);
    let before: BTreeMap<String, _> = hosts
        .iter()
        .map(|h| (h.clone(), inodes(&release_dir(&ssh, h, &first))))
        .collect();

    change_commit(&ssh);
    let text = deploy(&mut bot, 2).await;
    assert!(text.contains("staged: 2 delta, 0 full"), "{text}");
    let second = release_in(&text);
    let outputs = staged(&ssh, journal_id_in(&text)).await;
    assert!(
        outputs.values().all(|o| o.contains(BY_STAT)),
        "{outputs:#?}"
    );
    for h in &hosts {
        let old = release_dir(&ssh, h, &first);
        assert_eq!(inodes(&old), before[h], "{h}: the live release changed");
        let new = release_dir(&ssh, h, &second);
        let ino = |dir: &Path, p: &str| std::fs::symlink_metadata(dir.join(p)).unwrap().ino();
        assert_eq!(
            ino(&old, "assets/big.txt"),
            ino(&new, "assets/big.txt"),
            "{h}: an unchanged file is a hard link"
        );
        for changed in ["edit.txt", "mode.sh", "link", "REVISION", "BUILT"] {
            assert_ne!(ino(&old, changed), ino(&new, changed), "{h}: {changed}");
        }
    }

    bot.say("rollback").await;
    bot.expect("is rolling demo").await;
    bot.expect("is back on").await;
    for h in &hosts {
        assert_eq!(ssh.current(h).as_deref(), Some(first.as_str()), "{h}");
        assert_eq!(ssh.live_revision(h).as_deref(), Some(base.as_str()));
        assert_eq!(
            inodes(&release_dir(&ssh, h, &first)),
            before[h],
            "{h}: the rollback put back exactly what was live"
        );
    }
}

#[tokio::test]
async fn a_host_whose_live_release_is_gone_or_damaged_gets_the_full_archive_and_the_others_the_delta()
 {
    gone_or_damaged("", BY_CONTENT).await;
}

#[tokio::test]
async fn with_hard_links_a_live_release_edited_in_place_is_seen_and_gets_the_full_archive() {
    // The edit is seen although the new release's unchanged entries are not hashed: the edited
    // file's mtime and size are no longer its stat record's.
    gone_or_damaged("delta_copy = \"link\"\n", BY_STAT).await;
}

async fn gone_or_damaged(head: &str, checked: &str) {
    let ssh = SshApp::new(options(3, head));
    let hosts = ssh.fleet.names();
    let scratch = tempfile::tempdir().unwrap();
    base_commit(&ssh);
    let mut bot = ConsoleBot::start(ssh.config(), "alice");
    let first = release_in(&deploy(&mut bot, 3).await);

    // h2: a file of its live release edited in place; h3: its live release removed.
    let damaged = release_dir(&ssh, &hosts[1], &first).join("keep/a.txt");
    std::fs::write(&damaged, "edited on the host\n").unwrap();
    std::fs::remove_dir_all(release_dir(&ssh, &hosts[2], &first)).unwrap();

    let sha = change_commit(&ssh);
    let text = deploy(&mut bot, 3).await;
    assert!(text.contains("staged: 1 delta, 2 full"), "{text}");
    let done_id = journal_id_in(&text);
    let outputs = staged(&ssh, done_id).await;
    assert!(
        outputs[&hosts[0]].contains("staged by delta from") && outputs[&hosts[0]].contains(checked),
        "{outputs:#?}"
    );
    assert!(
        outputs[&hosts[1]].contains("staged in full: the release staged from")
            && outputs[&hosts[1]].contains("keep/a.txt"),
        "{outputs:#?}"
    );
    assert!(
        outputs[&hosts[2]].contains("staged in full: the live release"),
        "{outputs:#?}"
    );
    let release = release_in(&text);
    let expected = full_unpack(&ssh, &sha, scratch.path());
    for h in &hosts {
        let got = tree(&release_dir(&ssh, h, &release), &ADDED);
        assert!(
            got == expected,
            "{h}: the staged release differs from a full unpack"
        );
        assert!(
            !ssh.releases(h).iter().any(|r| r.contains(".partial")),
            "{h}: {:?}",
            ssh.releases(h)
        );
        let leftovers: Vec<_> = std::fs::read_dir(ssh.deploy_root(h).join("releases"))
            .unwrap()
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{h}: {leftovers:?}");
    }
}
