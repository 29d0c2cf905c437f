//! The `[web]` section (the bot's read-only page: where it listens, its public URL, who may read
//! it) and the `[redact]` section (secrets kept out of stored and shown output).

use std::net::SocketAddr;
use std::path::Path;

use super::keys;
use super::model::{RedactSection, Secret, WebSection};
use super::paths::resolve;
use super::reader::{Item, Reader, Table};

/// `[web]`: a listen address is required; a non-loopback one needs a token or basic auth.
pub(super) fn read(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path) -> WebSection {
    reader.known_keys(table, keys::WEB);
    let listen = reader.req(
        table,
        "listen",
        "an address like \"127.0.0.1:8080\"",
        address,
    );
    let public_url = reader.opt(table, "public_url", public_url);
    let token = one_secret(reader, table, dir, "token");
    let user = reader.opt(table, "user", Reader::text);
    let password = one_secret(reader, table, dir, "password");
    if password.is_some() != user.is_some() {
        let key = if user.is_some() {
            "user"
        } else {
            "password_env"
        };
        let item = table.get(key).or_else(|| table.get("password_file"));
        if let Some(item) = item {
            reader.report(
                item.key_at,
                item.key,
                "basic auth needs both user = \"…\" and password_env or password_file",
            );
        }
    }
    if token.is_some()
        && user.is_some()
        && let Some(item) = table.get("user")
    {
        reader.report(
            item.key_at,
            item.key,
            "give a token or basic auth (user and password), not both",
        );
    }
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if !listen.ip().is_loopback()
        && token.is_none()
        && password.is_none()
        && let Some(item) = table.get("listen")
    {
        reader.report(
            item.at,
            item.key,
            "a page on an address other than loopback needs access control: token_env, token_file, or user with password_env/password_file",
        );
    }
    WebSection {
        listen,
        public_url,
        token,
        user,
        password,
    }
}

/// `[redact]`: `env = [NAMES]` and `files = [PATHS]` whose values are never stored or shown.
pub(super) fn redact(reader: &mut Reader<'_>, table: &Table<'_, '_>, dir: &Path) -> RedactSection {
    reader.known_keys(table, keys::REDACT);
    let mut secrets: Vec<Secret> = reader
        .opt(table, "env", Reader::strings)
        .unwrap_or_default()
        .into_iter()
        .map(Secret::Env)
        .collect();
    secrets.extend(
        reader
            .opt(table, "files", Reader::strings)
            .unwrap_or_default()
            .into_iter()
            .map(|p| Secret::File(resolve(dir, p))),
    );
    RedactSection { secrets }
}

/// `NAME_env` or `NAME_file`, not both.
fn one_secret(
    reader: &mut Reader<'_>,
    table: &Table<'_, '_>,
    dir: &Path,
    name: &str,
) -> Option<Secret> {
    let env_key = format!("{name}_env");
    let file_key = format!("{name}_file");
    let env = reader.opt(table, &env_key, Reader::text).map(Secret::Env);
    let file = reader
        .opt(table, &file_key, Reader::text)
        .map(|p| Secret::File(resolve(dir, p)));
    if env.is_some()
        && file.is_some()
        && let Some(item) = table.get(&file_key)
    {
        reader.report(
            item.key_at,
            item.key,
            format!("give {env_key} or {file_key}, not both"),
        );
    }
    env.or(file)
}

fn address(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<SocketAddr> {
    let text = reader.string(item.clone())?;
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            reader.invalid(&item, r#"an IP address and port like "127.0.0.1:8080""#);
            None
        }
    }
}

/// The URL people reach the page at, without a trailing `/`.
fn public_url(reader: &mut Reader<'_>, item: Item<'_, '_>) -> Option<String> {
    let url = reader.string(item.clone())?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
    {
        reader.invalid(&item, r#"a URL like "https://bosun.example.org""#);
        return None;
    }
    Some(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use crate::config::{Secret, load};

    const PLAYBOOK: &str = "[app]\nname = \"blog\"\nrepo = \"origin\"\ndeploy_to = \"/srv/blog\"\n\n[environments.live]\nhosts = [\"w1\"]\n";

    fn load_with(web: &str) -> Result<crate::config::Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blog.toml"), PLAYBOOK).unwrap();
        let path = dir.path().join("bosun.toml");
        std::fs::write(
            &path,
            format!("[bot]\nplaybooks = [\"blog.toml\"]\n\n{web}"),
        )
        .unwrap();
        load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn the_page_is_off_unless_configured_and_loopback_unless_guarded() {
        let config = load_with("").unwrap();
        assert!(config.web.is_none());
        assert!(config.redact.secrets.is_empty());

        let config = load_with(
            "[web]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://bosun.example.org/\"\n\n[redact]\nenv = [\"DB_PASSWORD\"]\nfiles = [\"api-key\"]\n",
        )
        .unwrap();
        let web = config.web.unwrap();
        assert_eq!(web.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(web.public_url.as_deref(), Some("https://bosun.example.org"));
        assert_eq!(config.redact.secrets[0], Secret::Env("DB_PASSWORD".into()));
        assert!(matches!(&config.redact.secrets[1], Secret::File(p) if p.ends_with("api-key")));

        let refused = load_with("[web]\nlisten = \"0.0.0.0:8080\"\n").unwrap_err();
        assert!(
            refused.contains("bosun.toml:5:10: web.listen: a page on an address other than loopback needs access control"),
            "{refused}"
        );
        assert!(load_with("[web]\nlisten = \"0.0.0.0:8080\"\ntoken_env = \"T\"\n").is_ok());
        assert!(
            load_with("[web]\nlisten = \"[::]:8080\"\nuser = \"ops\"\npassword_file = \"pw\"\n")
                .is_ok()
        );
        let both =
            load_with("[web]\nlisten = \"127.0.0.1:1\"\ntoken_env = \"T\"\ntoken_file = \"t\"\n")
                .unwrap_err();
        assert!(
            both.contains("give token_env or token_file, not both"),
            "{both}"
        );
        let half = load_with("[web]\nlisten = \"127.0.0.1:1\"\nuser = \"ops\"\n").unwrap_err();
        assert!(half.contains("basic auth needs both"), "{half}");
        let bad =
            load_with("[web]\nlisten = \"localhost\"\npublic_url = \"ftp://x\"\n").unwrap_err();
        assert!(
            bad.contains("web.listen: expected an IP address and port"),
            "{bad}"
        );
        assert!(bad.contains("web.public_url: expected a URL"), "{bad}");
        let missing = load_with("[web]\npublic_url = \"http://x\"\n").unwrap_err();
        assert!(missing.contains("web.listen"), "{missing}");
    }
}
