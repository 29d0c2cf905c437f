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
