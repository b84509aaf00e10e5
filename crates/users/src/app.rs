//! What the users service runs on the service host: its gRPC service over
//! the accounts, its password-hashing pool, the start-up admin, and its
//! database's migrations with the canonical-email backfill. Everything
//! else (pool, NATS, relay, health, serving, drain) is the host's.

use anyhow::Context;
use sqlx::{PgPool, migrate::Migrator};
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::roles::{self, RoleSpec};
use tonic::service::Routes;

use crate::{
    accounts::Accounts,
    config::{Config, UsersDatabase},
    grpc::{UsersApi, UsersServer},
    password::PasswordHasher,
    storage::canonical,
};

impl Service for Config {
    const ROLE: RoleSpec = roles::USERS;
    type Database = UsersDatabase;

    async fn declare(self, host: &mut Host) -> anyhow::Result<Routes> {
        let hasher = PasswordHasher::new(self.password_hash_concurrency, self.password_hash_queue)
            .await?
            .with_metrics(host.metrics());
        let accounts = Accounts::new(host.pool().clone(), hasher);
        if let Some(admin) = &self.bootstrap_admin {
            accounts
                .ensure_admin(&admin.email, &admin.password)
                .await
                .context("cannot create or promote the start-up admin (SYNCCHAIN_ADMIN_EMAIL)")?;
        }
        let api = UsersApi::new(accounts, self.tokens.keys());
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
