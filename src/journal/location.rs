//! Where the journal is: a SQLite file, or a PostgreSQL database (URL, password, TLS).

use std::path::PathBuf;

/// Where the journal is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file: the embedded default.
    Sqlite(PathBuf),
    /// A PostgreSQL database, when several bots share one journal.
    Postgres(PgSettings),
}

/// How to reach PostgreSQL (`[journal] url`, `password_env`/`password_file`, `tls`, `ca_file`).
#[derive(Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// `postgres://user@host:port/database` (a password in it is accepted but better kept out).
    pub url: String,
    /// The password, read from `password_env` or `password_file` when the config was loaded.
    pub password: Option<String>,
    pub tls: PgTls,
    /// The CA that signed the server's certificate (PEM); default: the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &without_password(&self.url))
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Whether the connection to PostgreSQL is encrypted (`[journal] tls`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PgTls {
    /// Plain TCP (a database on this machine or a trusted network).
    #[default]
    Disable,
    /// TLS through rustls, the server's certificate checked.
    Require,
}

impl PgTls {
    pub fn parse(s: &str) -> Option<PgTls> {
        match s {
            "disable" => Some(PgTls::Disable),
            "require" => Some(PgTls::Require),
            _ => None,
        }
    }
}

/// `url` with any password in it replaced by `…`, for messages and logs.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:…@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_in_a_url_is_hidden() {
        assert_eq!(
            super::without_password("postgres://bosun:secret@db:5432/bosun"),
            "postgres://bosun:…@db:5432/bosun"
        );
        assert_eq!(
            super::without_password("postgres://bosun@db/bosun"),
            "postgres://bosun@db/bosun"
        );
    }
}
