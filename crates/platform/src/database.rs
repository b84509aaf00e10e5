//! A service's own Postgres database, as configured: the URL (from the
//! service's variable, with a local default) and the pool size. Every
//! service reads the same two settings under its own names, so the names
//! are a type parameter ([`DatabaseVars`]) and the reading, the redacted
//! `Debug` and the connecting are written once, here.

use std::{fmt, marker::PhantomData};

use sqlx::{PgPool, postgres::PgConnectOptions};

use crate::{
    config::{ConfigError, Env},
    deps::{
        DependencyError, connect_postgres, ensure_database, postgres_address, postgres_options,
    },
};

/// The variables one service's database is configured by.
pub trait DatabaseVars {
    /// The URL variable, e.g. `SYNCCHAIN_USERS_DATABASE_URL`.
    const URL_VAR: &'static str;
    /// The URL used when the variable is unset.
    const DEFAULT_URL: &'static str;
    /// The pool size variable (default 10).
    const MAX_CONNECTIONS_VAR: &'static str;
}

/// Where a service's database is and how many connections it may hold; all
/// that `migrate` and `admin` commands need.
pub struct DatabaseConfig<V> {
    /// From [`DatabaseVars::URL_VAR`]; the database is created if missing.
    pub options: PgConnectOptions,
    /// From [`DatabaseVars::MAX_CONNECTIONS_VAR`] (10).
    pub max_connections: u32,
    vars: PhantomData<fn() -> V>,
}

impl<V: DatabaseVars> DatabaseConfig<V> {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.string(V::URL_VAR, V::DEFAULT_URL);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::new(V::URL_VAR, "must be a postgres:// URL"));
        }
        let max_connections: u32 = env.get(V::MAX_CONNECTIONS_VAR, 10)?;
        if max_connections == 0 {
            return Err(ConfigError::new(
                V::MAX_CONNECTIONS_VAR,
                "must be at least 1",
            ));
        }
        Ok(Self {
            options: postgres_options(&url, V::URL_VAR)?,
            max_connections,
            vars: PhantomData,
        })
    }

    /// Creates the database if needed and opens a pool to it; the error
    /// names the variable to fix.
    pub async fn connect(&self) -> Result<PgPool, DependencyError> {
        ensure_database(&self.options, V::URL_VAR).await?;
        connect_postgres(&self.options, self.max_connections, V::URL_VAR).await
    }
}

impl<V> Clone for DatabaseConfig<V> {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            max_connections: self.max_connections,
            vars: PhantomData,
        }
    }
}

// The URL may carry a password: show only where the database is.
impl<V> fmt::Debug for DatabaseConfig<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("address", &postgres_address(&self.options))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shop;
    impl DatabaseVars for Shop {
        const URL_VAR: &'static str = "SYNCCHAIN_SHOP_DATABASE_URL";
        const DEFAULT_URL: &'static str = "postgres://postgres@127.0.0.1:5432/syncchain_shop";
        const MAX_CONNECTIONS_VAR: &'static str = "SYNCCHAIN_SHOP_DB_MAX_CONNECTIONS";
    }

    #[test]
    fn the_defaults_name_the_services_own_database() {
        let config = DatabaseConfig::<Shop>::from_env(&Env::default()).unwrap();
        assert_eq!(config.options.get_database(), Some("syncchain_shop"));
        assert_eq!(config.max_connections, 10);
    }

    #[test]
    fn a_bad_url_or_an_empty_pool_is_named() {
        let env = Env::from_pairs([(Shop::URL_VAR, "mysql://nope")]);
        let err = DatabaseConfig::<Shop>::from_env(&env).unwrap_err();
        assert_eq!(err.var, Shop::URL_VAR);
        let env = Env::from_pairs([(Shop::MAX_CONNECTIONS_VAR, "0")]);
        let err = DatabaseConfig::<Shop>::from_env(&env).unwrap_err();
        assert_eq!(err.var, Shop::MAX_CONNECTIONS_VAR);
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let env = Env::from_pairs([(Shop::URL_VAR, "postgres://u:dbsecret@db:5432/shop")]);
        let shown = format!("{:?}", DatabaseConfig::<Shop>::from_env(&env).unwrap());
        assert!(shown.contains("db:5432/shop"), "{shown}");
        assert!(!shown.contains("dbsecret"), "{shown}");
    }
}
