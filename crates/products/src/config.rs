//! The products service's settings, read once from the environment and
//! validated before anything starts. Secrets (the JWT secret, passwords in
//! the database or Redis URLs) never appear in `Debug` output.

use std::time::Duration;

use syncchain_platform::{
    auth::TokenSettings,
    config::{ConfigError, Env, FromEnv},
    database::DatabaseVars,
    deps::redis_address,
};

pub const DATABASE_URL_VAR: &str = "SYNCCHAIN_PRODUCTS_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/syncchain_products";
pub const REDIS_URL_VAR: &str = "SYNCCHAIN_REDIS_URL";
pub const CACHE_REDIS_URL_VAR: &str = "SYNCCHAIN_CACHE_REDIS_URL";
pub const CACHE_TTL_VAR: &str = "SYNCCHAIN_PRODUCT_CACHE_TTL";

/// The variables naming the products database.
#[derive(Debug, Clone, Copy)]
pub struct ProductsDatabase;

impl DatabaseVars for ProductsDatabase {
    const URL_VAR: &'static str = DATABASE_URL_VAR;
    const DEFAULT_URL: &'static str = DEFAULT_DATABASE_URL;
    const MAX_CONNECTIONS_VAR: &'static str = "SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS";
}

/// The service's own database; all that `migrate` needs.
pub type DatabaseConfig = syncchain_platform::database::DatabaseConfig<ProductsDatabase>;

/// The products service's own settings; the service host reads the NATS settings
/// (`SYNCCHAIN_NATS_URL`, `SYNCCHAIN_EVENTS_NAMESPACE`) itself.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    /// The secret and lifetime of the gateway's tokens, to verify callers.
    pub tokens: TokenSettings,
    pub cache: CacheConfig,
}

/// The Redis read cache.
#[derive(Clone)]
pub struct CacheConfig {
    /// `SYNCCHAIN_CACHE_REDIS_URL`, else `SYNCCHAIN_REDIS_URL`
    /// (redis://127.0.0.1:6379). A Redis of its own keeps what reads put
    /// in the cache away from the revocations and limits in the main one.
    pub redis_url: String,
    /// `SYNCCHAIN_REDIS_PREFIX` (syncchain): the first part of every key.
    pub prefix: String,
    /// `SYNCCHAIN_PRODUCT_CACHE_TTL` (300 s): how long an entry may live.
    /// Only a backstop: entries are invalidated by events.
    pub ttl: Duration,
}

// The URL may carry a password: show only where Redis is.
impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("address", &redis_address(&self.redis_url))
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl FromEnv for Config {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let tokens = TokenSettings::from_env(env)?;
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            tokens,
            cache: CacheConfig::from_env(env)?,
        })
    }
}

impl CacheConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let main_url = env.string(REDIS_URL_VAR, "redis://127.0.0.1:6379");
        let (var, redis_url) = match env.raw(CACHE_REDIS_URL_VAR) {
            Some(url) => (CACHE_REDIS_URL_VAR, url.to_owned()),
            None => (REDIS_URL_VAR, main_url),
        };
        if redis::Client::open(redis_url.as_str()).is_err() {
            return Err(ConfigError::new(var, "must be a redis:// URL"));
        }
        let prefix = env.string("SYNCCHAIN_REDIS_PREFIX", "syncchain");
        let ttl = env.duration(CACHE_TTL_VAR, Duration::from_secs(300))?;
        if ttl < Duration::from_secs(1) {
            return Err(ConfigError::new(CACHE_TTL_VAR, "must be at least 1 second"));
        }
        Ok(Self {
            redis_url,
            prefix,
            ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn with_secret(pairs: &[(&str, &str)]) -> Env {
        let mut env = Env::from_pairs([("SYNCCHAIN_JWT_SECRET", SECRET)]);
        for (name, value) in pairs {
            env.set(*name, *value);
        }
        env
    }

    #[test]
    fn defaults_need_only_a_jwt_secret() {
        let config = Config::from_env(&with_secret(&[])).unwrap();
        assert_eq!(
            config.database.options.get_database(),
            Some("syncchain_products")
        );
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(config.cache.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(config.cache.prefix, "syncchain");
        assert_eq!(config.cache.ttl, Duration::from_secs(300));
    }

    #[test]
    fn a_missing_jwt_secret_is_named() {
        let err = Config::from_env(&Env::default()).unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_JWT_SECRET");
    }

    #[test]
    fn bad_database_and_cache_settings_are_named() {
        for (var, value) in [
            (DATABASE_URL_VAR, "mysql://nope"),
            ("SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS", "0"),
            (REDIS_URL_VAR, "http://cache"),
            (CACHE_REDIS_URL_VAR, "http://cache"),
            (CACHE_TTL_VAR, "0"),
            (CACHE_TTL_VAR, "soon"),
        ] {
            let err = Config::from_env(&with_secret(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn the_cache_uses_its_own_redis_when_one_is_named() {
        let main = "redis://127.0.0.1:6379/0";
        let shared = Config::from_env(&with_secret(&[(REDIS_URL_VAR, main)])).unwrap();
        assert_eq!(shared.cache.redis_url, main);
        let own = Config::from_env(&with_secret(&[
            (REDIS_URL_VAR, main),
            (CACHE_REDIS_URL_VAR, "redis://cache:6380/1"),
        ]))
        .unwrap();
        assert_eq!(own.cache.redis_url, "redis://cache:6380/1");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let env = with_secret(&[
            (DATABASE_URL_VAR, "postgres://u:dbsecret@db:5432/products"),
            (REDIS_URL_VAR, "redis://:cachesecret@cache:6379/0"),
        ]);
        let shown = format!("{:?}", Config::from_env(&env).unwrap());
        for secret in [SECRET, "dbsecret", "cachesecret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("cache:6379"), "{shown}");
    }
}
