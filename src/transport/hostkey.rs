//! Refused host keys: tells an unknown key from a changed one in ssh's message and finds the fingerprint the server presents, to name it in the refusal.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Why ssh refused a host's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// No key for this host in the known_hosts file.
    Unknown,
    /// The known_hosts file has another key for this host.
    Changed,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyProblem::Unknown => "is not in",
            KeyProblem::Changed => "differs from the one in",
        })
    }
}

/// Whether ssh's stderr says it refused the host key, and why.
pub fn refused(stderr: &str) -> Option<KeyProblem> {
    if !stderr.contains("Host key verification failed") {
        return None;
    }
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        Some(KeyProblem::Changed)
    } else {
        Some(KeyProblem::Unknown)
    }
}

/// The fingerprint ssh printed for a changed key ("The fingerprint for the ED25519 key sent by
/// the remote host is\nSHA256:…"), as `ED25519 SHA256:…`.
pub fn fingerprints_in(stderr: &str) -> Vec<String> {
    let kind = stderr
        .split("fingerprint for the ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("key");
    let mut found: Vec<String> = stderr
        .split_whitespace()
        .filter_map(|word| {
            let fp = word.trim_end_matches(['.', ',']);
            (fp.starts_with("SHA256:") && fp.len() > 7).then(|| format!("{kind} {fp}"))
        })
        .collect();
    found.dedup();
    found
}

/// The fingerprints of the keys the server at `address:port` presents, asked with
/// `ssh-keyscan` and computed locally with `ssh-keygen -l`; each as `ED25519 SHA256:…`.
/// Nothing is written anywhere and nothing is trusted.
pub async fn scan(address: &str, port: u16, timeout: Duration) -> Result<Vec<String>, String> {
    let secs = timeout.as_secs().max(1).to_string();
    let scan = Command::new("ssh-keyscan")
        .args(["-T", &secs, "-p", &port.to_string(), address])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let scan = tokio::time::timeout(timeout + Duration::from_secs(2), scan)
        .await
        .map_err(|_| "ssh-keyscan did not answer in time".to_string())?
        .map_err(|e| format!("cannot run ssh-keyscan: {e}"))?;
    if scan.stdout.is_empty() {
        return Err("ssh-keyscan got no key".into());
    }
    let mut keygen = Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run ssh-keygen: {e}"))?;
    let mut input = keygen.stdin.take().expect("stdin is piped");
    input
        .write_all(&scan.stdout)
        .await
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    drop(input);
    let out = keygen
        .wait_with_output()
        .await
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    // "256 SHA256:abc… [127.0.0.1]:2222 (ED25519)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut prints: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let fp = words.iter().find(|w| w.starts_with("SHA256:"))?;
            let kind = words.last()?.trim_matches(['(', ')']);
            Some(format!("{kind} {fp}"))
        })
        .collect();
    prints.sort();
    prints.dedup();
    if prints.is_empty() {
        Err("ssh-keygen found no key in what ssh-keyscan got".into())
    } else {
        Ok(prints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_apart() {
        let unknown = "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.";
        assert_eq!(refused(unknown), Some(KeyProblem::Unknown));
        let changed = "@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:AbCd+/12.\r\nHost key verification failed.";
        assert_eq!(refused(changed), Some(KeyProblem::Changed));
        assert_eq!(fingerprints_in(changed), ["ED25519 SHA256:AbCd+/12"]);
        assert_eq!(refused("Connection refused"), None);
    }
}
