//! Who may read the page: anyone who reaches it (the default, loopback only), or whoever
//! presents the configured token (`Authorization: Bearer`, the `bosun_token` cookie, or
//! `?token=` once, which sets that cookie), or basic auth. Comparisons take constant time.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::config::{SecretValue, WebSection};

const COOKIE: &str = "bosun_token";

/// The page's access rule.
#[derive(Clone, Debug, Default)]
pub enum Access {
    /// Anyone who can reach the address (which is then loopback: the config refuses otherwise).
    #[default]
    Open,
    Token {
        token: SecretValue,
        /// Mark the cookie `Secure`: the page is reached over https.
        secure: bool,
    },
    Basic {
        user: String,
        password: SecretValue,
    },
}

impl Access {
    pub fn from_config(web: &WebSection) -> Result<Access, crate::config::SecretError> {
        if let Some(token) = &web.token {
            let secure = web
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
            return Ok(Access::Token {
                token: token.read()?,
                secure,
            });
        }
        if let (Some(user), Some(password)) = (&web.user, &web.password) {
            return Ok(Access::Basic {
                user: user.clone(),
                password: password.read()?,
            });
        }
        Ok(Access::Open)
    }

    /// `Ok` lets the request through; `Err` is the answer instead.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, request: &Request) -> Result<(), Response> {
        match self {
            Access::Open => Ok(()),
            Access::Token { token, secure } => check_token(token.expose(), *secure, request),
            Access::Basic { user, password } => {
                let given = header_value(request, header::AUTHORIZATION.as_str())
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|b64| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.trim())
                            .ok()
                    })
                    .and_then(|raw| String::from_utf8(raw).ok());
                let ok = given
                    .as_deref()
                    .and_then(|g| g.split_once(':'))
                    .is_some_and(|(u, p)| {
                        same(u.as_bytes(), user.as_bytes())
                            & same(p.as_bytes(), password.expose().as_bytes())
                    });
                if ok {
                    return Ok(());
                }
                let mut refusal = refused("basic authentication is needed");
                refusal.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"bosun\", charset=\"UTF-8\""),
                );
                Err(refusal)
            }
        }
    }
}

#[allow(clippy::result_large_err)]
fn check_token(token: &str, secure: bool, request: &Request) -> Result<(), Response> {
    let bearer = header_value(request, header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()));
    let cookie = header_value(request, header::COOKIE.as_str()).is_some_and(|cookies| {
        cookies.split(';').any(|c| {
            c.trim()
                .strip_prefix(COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
                .is_some_and(|t| same(t.as_bytes(), token.as_bytes()))
        })
    });
    if bearer || cookie {
        return Ok(());
    }
    // `?token=…` once: remember it in a cookie and send the reader on without it in the URL.
    let query = request.uri().query().unwrap_or("");
    let mut given = None;
    let mut rest = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "token" {
            given = Some(value.into_owned());
        } else {
            rest.push((key.into_owned(), value.into_owned()));
        }
    }
    if given.is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
        let mut to = request.uri().path().to_string();
        if !rest.is_empty() {
            to.push('?');
            to.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(rest)
                    .finish(),
            );
        }
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        let secure = if secure { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return Err(response);
    }
    Err(refused(
        "a token is needed: open this page once with ?token=… or send Authorization: Bearer …",
    ))
}

fn header_value<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name)?.to_str().ok()
}

fn refused(why: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// Equal, in a time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_exact() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
