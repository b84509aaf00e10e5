//! The users service's settings, read once from the environment and
//! validated before anything starts. Secrets (the JWT secret, the first
//! admin's password) are wrapped so they never appear in `Debug` output.

use secrecy::{ExposeSecret, SecretString};
use syncchain_platform::{
    auth::TokenSettings,
    config::{ConfigError, Env, FromEnv},
    database::DatabaseVars,
};

use crate::domain::{Email, Password};

pub const DATABASE_URL_VAR: &str = "SYNCCHAIN_USERS_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/syncchain_users";

/// The users service's own settings; the service host reads the NATS settings
/// (`SYNCCHAIN_NATS_URL`, `SYNCCHAIN_EVENTS_NAMESPACE`) itself.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    /// The secret and lifetime of the gateway's tokens, to verify callers.
    pub tokens: TokenSettings,
    /// `SYNCCHAIN_PASSWORD_HASH_CONCURRENCY`: Argon2 hashes at once (default: CPUs).
    pub password_hash_concurrency: usize,
    /// `SYNCCHAIN_PASSWORD_HASH_QUEUE`: hashes that may wait for a turn
    /// before more are refused with RESOURCE_EXHAUSTED (default: 4 × concurrency).
    pub password_hash_queue: usize,
    /// `SYNCCHAIN_ADMIN_EMAIL` + `SYNCCHAIN_ADMIN_PASSWORD`: an admin ensured at start.
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

/// The variables naming the users database.
#[derive(Debug, Clone, Copy)]
pub struct UsersDatabase;

impl DatabaseVars for UsersDatabase {
    const URL_VAR: &'static str = DATABASE_URL_VAR;
    const DEFAULT_URL: &'static str = DEFAULT_DATABASE_URL;
    const MAX_CONNECTIONS_VAR: &'static str = "SYNCCHAIN_USERS_DB_MAX_CONNECTIONS";
}

/// The service's own database; all that `migrate` and `admin` commands need.
pub type DatabaseConfig = syncchain_platform::database::DatabaseConfig<UsersDatabase>;

/// The first admin, created (or promoted) when the service starts.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: Email,
    pub password: Password,
}

impl FromEnv for Config {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let tokens = TokenSettings::from_env(env)?;
        let default_concurrency = std::thread::available_parallelism().map_or(1, usize::from);
        let password_hash_concurrency =
            env.get("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", default_concurrency)?;
        if password_hash_concurrency == 0 {
            return Err(ConfigError::new(
                "SYNCCHAIN_PASSWORD_HASH_CONCURRENCY",
                "must be at least 1",
            ));
        }
        let password_hash_queue = env.get(
            "SYNCCHAIN_PASSWORD_HASH_QUEUE",
            password_hash_concurrency.saturating_mul(4),
        )?;
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            tokens,
            password_hash_concurrency,
            password_hash_queue,
            bootstrap_admin: BootstrapAdmin::from_env(env)?,
        })
    }
}

impl BootstrapAdmin {
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        const EMAIL: &str = "SYNCCHAIN_ADMIN_EMAIL";
        const PASSWORD: &str = "SYNCCHAIN_ADMIN_PASSWORD";
        let email = env.raw(EMAIL);
        let password: Option<SecretString> = env.secret(PASSWORD);
        match (email, password) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                PASSWORD,
                "is required when SYNCCHAIN_ADMIN_EMAIL is set",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                EMAIL,
                "is required when SYNCCHAIN_ADMIN_PASSWORD is set",
            )),
            (Some(email), Some(password)) => Ok(Some(Self {
                email: Email::parse(email).map_err(|e| ConfigError::new(EMAIL, e.to_string()))?,
                password: Password::parse(password.expose_secret())
                    .map_err(|e| ConfigError::new(PASSWORD, e.to_string()))?,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_need_only_a_jwt_secret() {
        let config =
            Config::from_env(&Env::from_pairs([("SYNCCHAIN_JWT_SECRET", SECRET)])).unwrap();
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(
            config.database.options.get_database(),
            Some("syncchain_users")
        );
        assert!(config.password_hash_concurrency >= 1);
        assert!(config.bootstrap_admin.is_none());
    }

    #[test]
    fn a_missing_jwt_secret_is_named() {
        let err = Config::from_env(&Env::default()).unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_JWT_SECRET");
    }

    #[test]
    fn a_short_jwt_secret_is_named() {
        let err =
            Config::from_env(&Env::from_pairs([("SYNCCHAIN_JWT_SECRET", "short")])).unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_JWT_SECRET");
    }

    #[test]
    fn a_bad_database_url_is_named() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            (DATABASE_URL_VAR, "mysql://nope"),
        ]);
        assert_eq!(Config::from_env(&env).unwrap_err().var, DATABASE_URL_VAR);
    }

    #[test]
    fn zero_hashing_concurrency_is_refused() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "0"),
        ]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().var,
            "SYNCCHAIN_PASSWORD_HASH_CONCURRENCY"
        );
    }

    #[test]
    fn the_hashing_queue_defaults_to_four_times_the_concurrency_and_can_be_set() {
        let base = [
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "3"),
        ];
        let default = Config::from_env(&Env::from_pairs(base)).unwrap();
        let mut env = Env::from_pairs(base);
        env.set("SYNCCHAIN_PASSWORD_HASH_QUEUE", "0");
        let set = Config::from_env(&env).unwrap();
        env.set("SYNCCHAIN_PASSWORD_HASH_QUEUE", "many");
        let bad = Config::from_env(&env).unwrap_err();

        assert_eq!(default.password_hash_queue, 12);
        assert_eq!(set.password_hash_queue, 0);
        assert_eq!(bad.var, "SYNCCHAIN_PASSWORD_HASH_QUEUE");
    }

    #[test]
    fn an_admin_email_without_a_password_is_refused() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            ("SYNCCHAIN_ADMIN_EMAIL", "root@example.com"),
        ]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().var,
            "SYNCCHAIN_ADMIN_PASSWORD"
        );
    }

    #[test]
    fn an_invalid_admin_email_is_named() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            ("SYNCCHAIN_ADMIN_EMAIL", "root"),
            ("SYNCCHAIN_ADMIN_PASSWORD", "long enough password"),
        ]);
        assert_eq!(
            Config::from_env(&env).unwrap_err().var,
            "SYNCCHAIN_ADMIN_EMAIL"
        );
    }

    #[test]
    fn a_complete_bootstrap_admin_is_read_and_its_password_never_shown() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_JWT_SECRET", SECRET),
            ("SYNCCHAIN_ADMIN_EMAIL", "root@example.com"),
            ("SYNCCHAIN_ADMIN_PASSWORD", "long enough password"),
            (DATABASE_URL_VAR, "postgres://u:dbsecret@db:5432/users"),
        ]);
        let config = Config::from_env(&env).unwrap();
        let admin = config.bootstrap_admin.as_ref().unwrap();
        assert_eq!(admin.email.as_str(), "root@example.com");
        let shown = format!("{config:?}");
        assert!(!shown.contains("long enough password"));
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains("dbsecret"));
    }
}
