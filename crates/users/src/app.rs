//! What the users service runs on the service host: its gRPC service over
//! the accounts, its password-hashing pool, the start-up admin, and its
//! database's migrations with the canonical-email backfill. Everything
//! else (pool, NATS, relay, health, serving, drain) is the host's.

use anyhow::Context;
use sqlx::{PgPool, migrate::Migrator};
use syncchain_events::EventsConfig;
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::{
    config::{ConfigError, Env},
    roles::{self, RoleSpec},
};
use tonic::service::Routes;

use crate::{
    accounts::Accounts,
    config::{Config, DatabaseConfig, UsersDatabase},
    grpc::{UsersApi, UsersServer},
    password::PasswordHasher,
    storage::canonical,
};

/// The users service, as the host starts it.
pub struct UsersService;

/// The users service built on its listener.
pub type Application = syncchain_host::Application<UsersService>;

impl Service for UsersService {
    const ROLE: RoleSpec = roles::USERS;
    type Config = Config;
    type Database = UsersDatabase;

    fn settings(env: &Env) -> Result<Config, ConfigError> {
        Config::from_env(env)
    }

    fn database(config: &Config) -> &DatabaseConfig {
        &config.database
    }

    fn events(config: &Config) -> &EventsConfig {
        &config.events
    }

    async fn declare(config: Config, host: &mut Host) -> anyhow::Result<Routes> {
        let hasher =
            PasswordHasher::new(config.password_hash_concurrency, config.password_hash_queue)
                .await?;
        let accounts = Accounts::new(host.pool().clone(), hasher);
        if let Some(admin) = &config.bootstrap_admin {
            accounts
                .ensure_admin(&admin.email, &admin.password)
                .await
                .context("cannot create or promote the start-up admin (SYNCCHAIN_ADMIN_EMAIL)")?;
        }
        let api = UsersApi::new(accounts, config.tokens.keys());
        Ok(Routes::new(UsersServer::new(api)))
    }
}

impl ServiceDatabase for UsersDatabase {
    const SERVICE: &'static str = "users";

    fn migrations() -> Migrator {
        sqlx::migrate!("./migrations")
    }

    async fn after_migrations(pool: &PgPool) -> anyhow::Result<()> {
        Ok(canonical::recanonicalise(pool).await?)
    }
}
