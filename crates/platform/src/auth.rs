//! Access tokens: HS256 JWTs with the algorithm pinned, an issuer, an expiry
//! and a unique id (so one token can be revoked). The gateway issues them;
//! the gateway and the services verify them with the same secret, so a
//! service can trust the caller identity it receives without trusting the
//! network it came over.

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{ConfigError, Env};

const ISSUER: &str = "syncchain";
/// The shortest secret accepted: 256 bits, the size of the HMAC-SHA256 key.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CUSTOMER",
            Role::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "CUSTOMER" => Ok(Role::Customer),
            "ADMIN" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// The signing secret; never printed.
#[derive(Clone)]
pub struct JwtSecret(SecretSlice<u8>);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret([redacted])")
    }
}

impl JwtSecret {
    /// Accepts a secret of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret is {} bytes long; at least {MIN_SECRET_BYTES} are required",
                bytes.len()
            ));
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// `SYNCCHAIN_JWT_SECRET`, or the contents of the file named by
    /// `SYNCCHAIN_JWT_SECRET_FILE`; `None` when neither is set.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        if let Some(secret) = env.secret("SYNCCHAIN_JWT_SECRET") {
            let bytes = secret.expose_secret().as_bytes().to_vec();
            return Self::new(bytes)
                .map(Some)
                .map_err(|m| ConfigError::new("SYNCCHAIN_JWT_SECRET", m));
        }
        if let Some(path) = env.raw("SYNCCHAIN_JWT_SECRET_FILE") {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "SYNCCHAIN_JWT_SECRET_FILE",
                    format!("cannot read {path}: {e}"),
                )
            })?;
            return Self::new(text.trim().as_bytes().to_vec())
                .map(Some)
                .map_err(|m| ConfigError::new("SYNCCHAIN_JWT_SECRET_FILE", m));
        }
        Ok(None)
    }

    /// Like [`Self::from_env`], for a process that cannot run without one.
    pub fn require_from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env)?.ok_or_else(|| {
            ConfigError::new(
                "SYNCCHAIN_JWT_SECRET",
                "is required (at least 32 bytes), or SYNCCHAIN_JWT_SECRET_FILE naming a file that holds it",
            )
        })
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

/// `SYNCCHAIN_TOKEN_TTL` (1 hour): how long a token lives. The gateway
/// issues tokens with it; the services need it too, to know how long a
/// session cut-off must be remembered.
pub fn token_ttl(env: &Env) -> Result<Duration, ConfigError> {
    let ttl = env.duration("SYNCCHAIN_TOKEN_TTL", Duration::from_secs(3600))?;
    if ttl.is_zero() {
        return Err(ConfigError::new("SYNCCHAIN_TOKEN_TTL", "must be positive"));
    }
    Ok(ttl)
}

/// What a service needs to verify the gateway's tokens: the shared secret,
/// and the lifetime the gateway issues them with (a session cut-off must be
/// remembered that long). Services never issue tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// From `SYNCCHAIN_JWT_SECRET` or `SYNCCHAIN_JWT_SECRET_FILE`; required.
    pub secret: JwtSecret,
    /// `SYNCCHAIN_TOKEN_TTL`, as [`token_ttl`].
    pub ttl: Duration,
}

impl TokenSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            secret: JwtSecret::require_from_env(env)?,
            ttl: token_ttl(env)?,
        })
    }

    /// The keys that verify callers' tokens.
    pub fn keys(&self) -> TokenKeys {
        TokenKeys::new(&self.secret, self.ttl)
    }
}

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    /// `iat` in milliseconds, so a session cut-off (after a role change)
    /// can tell a token issued just before it from one issued just after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    pub exp: i64,
    pub jti: Uuid,
}

/// The verified identity behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub role: Role,
    pub token_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller may act on data owned by `owner`.
    pub fn may_access(&self, owner: Uuid) -> bool {
        self.is_admin() || self.user_id == owner
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub caller: Caller,
}

/// Issues and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &JwtSecret, ttl: Duration) -> Self {
        // Only HS256 is accepted: a token naming any other algorithm,
        // `none` included, fails verification.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.bytes()),
            decoding: DecodingKey::from_secret(secret.bytes()),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(1));
        let claims = Claims {
            sub: user_id,
            role,
            iss: ISSUER.to_owned(),
            iat: now.timestamp(),
            iat_ms: Some(now.timestamp_millis()),
            exp: expires_at.timestamp(),
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            caller: caller_of(&claims),
        })
    }

    /// Signs arbitrary claims; for tests that need expired or odd tokens.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| caller_of(&data.claims))
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

fn caller_of(claims: &Claims) -> Caller {
    Caller {
        user_id: claims.sub,
        role: claims.role,
        token_id: claims.jti,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
        issued_at: claims
            .iat_ms
            .and_then(DateTime::from_timestamp_millis)
            .or_else(|| DateTime::from_timestamp(claims.iat, 0))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            &JwtSecret::new(vec![7; 32]).unwrap(),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(JwtSecret::new(vec![1; 31]).is_err());
        assert!(JwtSecret::new(vec![1; 32]).is_ok());
    }

    #[test]
    fn an_issued_token_verifies_to_its_caller() {
        let keys = keys();
        let id = Uuid::new_v4();
        let issued = keys.issue(id, Role::Admin).unwrap();
        let caller = keys.verify(&issued.token).unwrap();
        assert_eq!(caller.user_id, id);
        assert_eq!(caller.role, Role::Admin);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = TokenKeys::new(
            &JwtSecret::new(vec![8; 32]).unwrap(),
            Duration::from_secs(60),
        );
        let token = other.issue(Uuid::new_v4(), Role::Customer).unwrap().token;
        assert_eq!(keys().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: Uuid::new_v4(),
            role: Role::Customer,
            iss: ISSUER.into(),
            iat: now - 120,
            iat_ms: None,
            exp: now - 60,
            jti: Uuid::new_v4(),
        };
        let token = keys.sign(&claims).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }
}
