//! An optional bearer token for both servers. `/init` installs code that `/run` executes, so a
//! server reachable by others must not answer them: with a token configured, every route but
//! `/health` (the readiness probe, which reveals nothing) answers 401 unless the request carries
//! `Authorization: Bearer <token>`. Without one, nothing changes.
//!
//! The token comes from the environment (`WOW_AUTH_TOKEN`) or from a file (`--auth-token-file`,
//! `WOW_AUTH_TOKEN_FILE`), never from the command line, which every local user can read in
//! `/proc`. Only its SHA-256 digest is kept, and a presented token is compared digest to digest in
//! constant time, so the answer's timing tells nothing about the token, not even its length.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error_body;

/// Environment variable holding the token itself.
pub const TOKEN_ENV: &str = "WOW_AUTH_TOKEN";
/// Environment variable naming a file that holds the token (the `--auth-token-file` option).
pub const TOKEN_FILE_ENV: &str = "WOW_AUTH_TOKEN_FILE";
/// The one route answered without the token.
pub const OPEN_ROUTE: &str = "/health";

/// Answer to a request without a bearer token (the words of OpenWhisk's controller).
pub const MISSING: &str =
    "The resource requires authentication, which was not supplied with the request.";
/// Answer to a request with a wrong bearer token (the words of OpenWhisk's controller).
pub const INVALID: &str = "The supplied authentication is invalid.";

/// The command-line side of the token, flattened into both servers' options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// File holding a bearer token that every route but /health then requires
    /// (`Authorization: Bearer <token>`). The token may instead be given in WOW_AUTH_TOKEN.
    #[arg(long, env = TOKEN_FILE_ENV, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,
}

impl AuthArgs {
    /// The configured token, if any: from the file, or from `WOW_AUTH_TOKEN`. Both at once, an
    /// unreadable file or an empty token are errors: a server meant to be protected must not
    /// start open.
    pub fn token(&self) -> Result<Option<Token>, String> {
        Token::from_sources(std::env::var_os(TOKEN_ENV), self.auth_token_file.as_deref())
    }
}

/// A configured token, kept as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token from its text; surrounding whitespace (a file's final newline) is not part of it.
    pub fn new(secret: &str) -> Result<Token, String> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err("the token is empty".to_string());
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the token must be printable ASCII without spaces (it travels in a header)"
                    .to_string(),
            );
        }
        Ok(Token {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// The token from the environment variable's value or from a file, at most one of them.
    pub fn from_sources(
        env: Option<OsString>,
        file: Option<&Path>,
    ) -> Result<Option<Token>, String> {
        match (env, file) {
            (None, None) => Ok(None),
            (Some(_), Some(file)) => Err(format!(
                "{TOKEN_ENV} and a token file ({}) are both set; give one",
                file.display()
            )),
            (Some(value), None) => {
                let value = value
                    .into_string()
                    .map_err(|_| format!("{TOKEN_ENV} is not UTF-8"))?;
                Token::new(&value)
                    .map(Some)
                    .map_err(|e| format!("{TOKEN_ENV}: {e}"))
            }
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
                Token::new(&text)
                    .map(Some)
                    .map_err(|e| format!("the token file {}: {e}", file.display()))
            }
        }
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn admits(&self, authorization: &[u8]) -> bool {
        let Some(presented) = bearer(authorization) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        constant_time_eq::constant_time_eq_32(&digest, &self.digest)
    }
}

/// The credentials of `Bearer <credentials>` (the scheme's name is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    Some(rest.trim_ascii())
}

/// `router` behind the token when there is one; `router` itself when not.
pub fn protect(router: Router, token: Option<Token>) -> Router {
    match token {
        Some(token) => router.layer(middleware::from_fn_with_state(Arc::new(token), require)),
        None => router,
    }
}

async fn require(State(token): State<Arc<Token>>, request: Request, next: Next) -> Response {
    if request.uri().path() == OPEN_ROUTE {
        return next.run(request).await;
    }
    match request.headers().get(AUTHORIZATION) {
        Some(value) if token.admits(value.as_bytes()) => next.run(request).await,
        Some(_) => unauthorized(INVALID),
        None => unauthorized(MISSING),
    }
}

/// The refusal. The request's body is left unread (a stranger gets no say in what the server
/// reads), so the connection cannot carry another request: the client is told so.
fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
            (CONNECTION, HeaderValue::from_static("close")),
        ],
        error_body(message),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn app(token: Option<Token>) -> Router {
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/run", post(|| async { "ran" }))
            .fallback(|| async { (StatusCode::NOT_FOUND, "nothing here") });
        protect(router, token)
    }

    async fn status(app: &Router, method: &str, path: &str, auth: Option<&str>) -> u16 {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn every_route_but_health_needs_the_token() {
        let open = app(None);
        assert_eq!(status(&open, "POST", "/run", None).await, 200);
        assert_eq!(status(&open, "POST", "/run", Some("Bearer x")).await, 200);

        let closed = app(Some(Token::new("s3cret").unwrap()));
        assert_eq!(status(&closed, "GET", "/health", None).await, 200);
        assert_eq!(status(&closed, "POST", "/run", None).await, 401);
        assert_eq!(
            status(&closed, "POST", "/run", Some("Bearer nope")).await,
            401
        );
        assert_eq!(status(&closed, "POST", "/run", Some("s3cret")).await, 401);
        assert_eq!(
            status(&closed, "POST", "/run", Some("Basic s3cret")).await,
            401
        );
        assert_eq!(
            status(&closed, "POST", "/run", Some("Bearer s3cret")).await,
            200
        );
        assert_eq!(
            status(&closed, "POST", "/run", Some("bearer  s3cret ")).await,
            200
        );
        assert_eq!(status(&closed, "GET", "/other", None).await, 401);
        assert_eq!(status(&closed, "GET", "/health/", None).await, 401);
    }

    #[tokio::test]
    async fn the_refusal_is_openwhisks_json() {
        let closed = app(Some(Token::new("t").unwrap()));
        let request = Request::post("/run").body(Body::empty()).unwrap();
        let response = closed.oneshot(request).await.unwrap();
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[CONNECTION], "close");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, error_body(MISSING).as_bytes());
    }

    #[test]
    fn sources() {
        let dir = std::env::temp_dir().join(format!("wow-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();

        assert!(Token::from_sources(None, None).unwrap().is_none());
        let t = Token::from_sources(None, Some(&file)).unwrap().unwrap();
        assert!(t.admits(b"Bearer from-file"));
        let t = Token::from_sources(Some("from-env".into()), None)
            .unwrap()
            .unwrap();
        assert!(t.admits(b"Bearer from-env") && !t.admits(b"Bearer from-file"));
        assert!(Token::from_sources(Some("a".into()), Some(&file)).is_err());
        assert!(Token::from_sources(Some(" \n".into()), None).is_err());
        assert!(Token::from_sources(Some("two words".into()), None).is_err());
        assert!(Token::from_sources(None, Some(&dir.join("missing"))).is_err());
        assert_eq!(format!("{t:?}"), "Token(…)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
