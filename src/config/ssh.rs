//! SSH in playbooks: the `[ssh]` defaults table and the SSH keys of a `[hosts.NAME]` entry (one with `address`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::DeValue;

use super::model::{HostSpec, SshSpec};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};
use super::{keys, values};

/// `[ssh]`: what every SSH host of the playbook gets unless its own entry says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SshDefaults {
    pub port: u16,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    pub idle: Duration,
    pub compression: bool,
}

impl Default for SshDefaults {
    fn default() -> Self {
        SshDefaults {
            port: 22,
            user: None,
            identity: None,
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            idle: Duration::from_secs(600),
            compression: false,
        }
    }
}

/// Reads `[ssh]` (absent: the defaults).
pub(super) fn defaults(reader: &mut Reader<'_>, root: &Table<'_, '_>, dir: &Path) -> SshDefaults {
    let mut d = SshDefaults::default();
    let Some(table) = reader.opt(root, "ssh", Reader::table) else {
        return d;
    };
    reader.known_keys(&table, keys::SSH);
    overlay(reader, &table, dir, &mut d);
    d
}

/// Applies the SSH keys present in `table` over `d`.
fn overlay(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path, d: &mut SshDefaults) {
    if let Some(port) = reader.opt(table, "port", port) {
        d.port = port;
    }
    if let Some(user) = reader.opt(table, "user", user) {
        d.user = Some(user);
    }
    if let Some(identity) = reader.opt(table, "identity", Reader::text) {
        d.identity = Some(resolve(dir, identity));
    }
    if let Some(known) = reader.opt(table, "known_hosts", Reader::text) {
        d.known_hosts = Some(resolve(dir, known));
    }
    if let Some(t) = reader.opt(table, "connect_timeout", whole_seconds) {
        d.connect_timeout = t;
    }
    if let Some(t) = reader.opt(table, "keepalive", whole_seconds) {
        d.keepalive = t;
    }
    if let Some(t) = reader.opt(table, "idle", whole_seconds) {
        d.idle = t;
    }
    if let Some(c) = reader.opt(table, "compression", Reader::boolean) {
        d.compression = c;
    }
}

/// A `[hosts.NAME]` entry with `address`: an SSH host over the playbook's defaults.
pub(super) fn host(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    defaults: &SshDefaults,
) -> Option<HostSpec> {
    let address = reader.req(table, "address", "a host name or address", address);
    let mut d = defaults.clone();
    overlay(reader, table, dir, &mut d);
    let deploy_to = reader.opt(table, "deploy_to", values::absolute_path);
    Some(HostSpec::Ssh(SshSpec {
        address: address?,
        port: d.port,
        user: d.user,
        identity: d.identity,
        known_hosts: d.known_hosts,
        connect_timeout: d.connect_timeout,
        keepalive: d.keepalive,
        idle: d.idle,
        compression: d.compression,
        deploy_to,
    }))
}

/// A host name or IP address as ssh takes it: letters, digits, `.`, `-`, `_`, `:` (IPv6), not
/// starting with `-` (ssh would read it as an option).
fn address(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    };
    match item.value {
        DeValue::String(s) if ok(s) => Some(s.to_string()),
        DeValue::String(_) => {
            reader.invalid(
                &item,
                r#"a host name or IP address like "web1.example.org" or "10.0.0.5""#,
            );
            None
        }
        _ => reader.string(item),
    }
}

/// A user name as ssh takes it (POSIX portable names), not starting with `-`.
fn user(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let ok = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    match item.value {
        DeValue::String(s) if ok(s) => Some(s.to_string()),
        DeValue::String(_) => {
            reader.invalid(&item, r#"a user name like "deploy""#);
            None
        }
        _ => reader.string(item),
    }
}

/// A TCP port, 1 to 65535.
fn port(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<u16> {
    let parsed = match item.value {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|p| *p > 0),
        _ => None,
    };
    if parsed.is_none() {
        reader.invalid(&item, "a port number from 1 to 65535");
    }
    parsed
}

/// A duration of at least one second, in whole seconds (what ssh's options take).
fn whole_seconds(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<Duration> {
    match item.value {
        DeValue::String(s)
            if values::parse_duration(s)
                .is_some_and(|d| d < Duration::from_secs(1) || d.subsec_nanos() != 0) =>
        {
            reader.invalid(&item, r#"a whole number of seconds like "10s" or "5m""#);
            None
        }
        _ => values::time_limit(reader, item),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, HostSpec, SshSpec, load_playbook};
    use std::path::Path;
    use std::time::Duration;

    const BLOG: &str = r#"[app]
name = "blog"
repo = "/srv/git/blog.git"
deploy_to = "/srv/blog"

[environments.live]
hosts = ["web1", "web2", "web3"]
"#;

    fn load(
        text: &str,
    ) -> (
        tempfile::TempDir,
        Result<crate::config::Playbook, ConfigError>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blog.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = load_playbook(&path, &dir.path().join("var"));
        (dir, loaded)
    }

    fn errors(text: &str) -> String {
        let (dir, loaded) = load(text);
        let error = loaded.expect_err("the playbook is refused");
        error
            .to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    }

    #[test]
    fn ssh_hosts_take_the_defaults_and_override_them() {
        let text = format!(
            r#"{BLOG}
[ssh]
user = "deploy"
identity = "keys/id"
known_hosts = "/etc/bosun/known_hosts"
connect_timeout = "5s"
idle = "30m"

[hosts.web1]
address = "10.0.0.1"

[hosts.web2]
address = "web2.example.org"
port = 2222
user = "other"
compression = true
keepalive = "1m"
deploy_to = "/home/other/blog"

[hosts.web3]
root = "hosts/web3"
"#
        );
        let (dir, loaded) = load(&text);
        let playbook = loaded.unwrap_or_else(|e| panic!("{e}"));
        let web1 = SshSpec {
            address: "10.0.0.1".into(),
            port: 22,
            user: Some("deploy".into()),
            identity: Some(dir.path().join("keys/id")),
            known_hosts: Some("/etc/bosun/known_hosts".into()),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(15),
            idle: Duration::from_secs(1800),
            compression: false,
            deploy_to: None,
        };
        assert_eq!(playbook.hosts["web1"], HostSpec::Ssh(web1.clone()));
        assert_eq!(
            playbook.hosts["web2"],
            HostSpec::Ssh(SshSpec {
                address: "web2.example.org".into(),
                port: 2222,
                user: Some("other".into()),
                compression: true,
                keepalive: Duration::from_secs(60),
                deploy_to: Some("/home/other/blog".into()),
                ..web1
            })
        );
        assert_eq!(
            playbook.hosts["web3"],
            HostSpec::Local {
                root: dir.path().join("hosts/web3")
            }
        );
        assert_eq!(playbook.hosts["web2"].address(), "web2.example.org");
        assert!(Path::new(&dir.path().join("blog.toml")).exists());
    }

    #[test]
    fn bad_ssh_entries_are_reported_at_their_keys() {
        let text = format!(
            r#"{BLOG}
[ssh]
port = 0
user = "-oProxyCommand=x"
connect_timeout = "500ms"
idle = "0s"
compresion = true

[hosts.web1]
address = "-oProxyCommand=touch /tmp/x"

[hosts.web2]
root = "x"
address = "10.0.0.2"

[hosts.web3]
root = "x"
port = 22
"#
        );
        assert_eq!(
            errors(&text),
            "DIR/blog.toml:10:8: ssh.port: expected a port number from 1 to 65535, found 0\n\
             DIR/blog.toml:11:8: ssh.user: expected a user name like \"deploy\", found \"-oProxyCommand=x\"\n\
             DIR/blog.toml:12:19: ssh.connect_timeout: expected a whole number of seconds like \"10s\" or \"5m\", found \"500ms\"\n\
             DIR/blog.toml:13:8: ssh.idle: expected a whole number of seconds like \"10s\" or \"5m\", found \"0s\"\n\
             DIR/blog.toml:14:1: ssh.compresion: unknown key \"compresion\"; did you mean \"compression\"?\n\
             DIR/blog.toml:17:11: hosts.web1.address: expected a host name or IP address like \"web1.example.org\" or \"10.0.0.5\", found \"-oProxyCommand=touch /tmp/x\"\n\
             DIR/blog.toml:20:1: hosts.web2.root: give root (a local host) or address (an SSH host), not both\n\
             DIR/blog.toml:25:1: hosts.web3.port: only an SSH host (one with address) takes this key"
        );
    }

    #[test]
    fn a_host_entry_needs_root_or_address() {
        let text = format!("{BLOG}\n[hosts.web1]\nuser = \"deploy\"\n");
        assert_eq!(
            errors(&text),
            "DIR/blog.toml:9:1: hosts.web1: give root = \"…\" (a local host's directory) or address = \"…\" (an SSH host)"
        );
    }
}
