//! The `ci` check: a command run on this machine, or a GET of a status URL, says whether CI
//! passed for the commit, within a time limit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::CheckInput;
use crate::config::{CiProbe, CommandSpec};
use crate::transport::{LocalHost, RemoteCommand, TransportError};

pub(super) async fn check(input: &CheckInput<'_>) -> Result<(), String> {
    let Some(ci) = &input.env.checks.ci else {
        return Err("no ci = { … } in the playbook for this environment".into());
    };
    match &ci.probe {
        CiProbe::Command(spec) => command(input, spec, ci.timeout).await,
        CiProbe::Url(url) => status_url(input, url, ci.timeout).await,
    }
}

/// `{revision}`, `{short}`, `{tag}`, `{app}` and `{env}` for templates.
pub(super) fn variables(input: &CheckInput<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("revision".to_string(), input.revision.sha.to_string()),
        ("short".to_string(), input.revision.short.to_string()),
        (
            "tag".to_string(),
            input.revision.tag.unwrap_or_default().to_string(),
        ),
        ("app".to_string(), input.app().to_string()),
        ("env".to_string(), input.env.name.clone()),
    ])
}

/// The command's words with the variables substituted; the full sha is appended when no word
/// names the revision.
fn argv(input: &CheckInput<'_>, spec: &CommandSpec) -> Vec<String> {
    let mut argv = spec.render(&variables(input));
    let names_revision = spec
        .argv
        .iter()
        .any(|w| w.contains("{revision}") || w.contains("{short}"));
    if !names_revision {
        argv.push(input.revision.sha.to_string());
    }
    argv
}

async fn command(
    input: &CheckInput<'_>,
    spec: &CommandSpec,
    timeout: Duration,
) -> Result<(), String> {
    let dir = input
        .playbook
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let command = RemoteCommand::new(argv(input, spec))
        .in_dir(dir.to_string_lossy())
        .with_timeout(timeout);
    let shown = command.display();
    let short = input.revision.short;
    match LocalHost::new("ci", dir).run(&command, None).await {
        Ok(out) if out.success() => Ok(()),
        Ok(out) => {
            let status = match out.code {
                Some(code) => format!("exited with {code}"),
                None => "was killed".to_string(),
            };
            let said = match out.last_line() {
                "" => String::new(),
                line => format!(": {line}"),
            };
            Err(format!(
                "{short} is not green ({shown} {status}{said}); wait for CI to pass, or deploy a revision that did"
            ))
        }
        Err(TransportError::Timeout(limit)) => Err(format!(
            "CI did not answer for {short} within {} ({shown}); try again when it does",
            crate::clock::human_duration(limit)
        )),
        Err(e) => Err(format!("cannot ask CI about {short}: {shown}: {e}")),
    }
}

/// The HTTP client the checks share (rustls; no proxy: CI is asked directly).
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("bosun/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls")
    })
}

/// A URL for the room: scheme, host and path only, so that a token in the query or the user
/// part is never shown.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            match parsed.port() {
                Some(port) => format!(":{port}{}", parsed.path()),
                None => parsed.path().to_string(),
            }
        ),
        Err(_) => "the configured URL".to_string(),
    }
}

async fn status_url(
    input: &CheckInput<'_>,
    template: &str,
    timeout: Duration,
) -> Result<(), String> {
    let url = CommandSpec::new([template])
        .render(&variables(input))
        .remove(0);
    let (short, shown) = (input.revision.short, shown_url(&url));
    let answer = client().get(&url).timeout(timeout).send().await;
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!(
            "CI says {short} is not green (GET {shown} answered {}); wait for CI to pass, or deploy a revision that did",
            response.status()
        )),
        Err(e) if e.is_timeout() => Err(format!(
            "CI did not answer for {short} within {} (GET {shown}); try again when it does",
            crate::clock::human_duration(timeout)
        )),
        Err(e) => {
            let why = if e.is_connect() {
                "connection refused or unreachable".to_string()
            } else {
                e.without_url().to_string()
            };
            Err(format!("cannot ask CI about {short} (GET {shown}: {why})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            shown_url("https://bot:s3cret@ci.example.org:8443/status/abc?token=s3cret"),
            "https://ci.example.org:8443/status/abc"
        );
        assert_eq!(shown_url("http://127.0.0.1/x"), "http://127.0.0.1/x");
        assert_eq!(shown_url("not a url"), "the configured URL");
    }
}
