//! Operator commands (`syncchain admin promote|demote <email>`): admins are
//! made through the service's own code path, with the role change and its
//! event in one transaction, never by editing the database by hand.

use syncchain_platform::auth::Role;

use crate::{
    accounts::{self, RoleChange},
    config::{Config, DatabaseConfig, UsersDatabase},
    domain::Email,
    error::UsersError,
};

/// Why an operator command could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0:?} is not a valid email address: {1}")]
    InvalidEmail(String, String),
    #[error("no account has the email {0:?}; the person must register first")]
    NoSuchUser(String),
}

/// Gives the account with this email (compared case-insensitively) `role`.
/// Returns the change; `from == to` when the account already had it.
pub async fn set_role_by_email(
    config: &Config,
    email: &str,
    role: Role,
) -> anyhow::Result<RoleChange> {
    set_role_by_email_in(&config.database, email, role).await
}

/// Like [`set_role_by_email`], needing only the database settings (no JWT
/// secret), for commands that run without the rest of the configuration.
pub async fn set_role_by_email_in(
    database: &DatabaseConfig,
    email: &str,
    role: Role,
) -> anyhow::Result<RoleChange> {
    let parsed =
        Email::parse(email).map_err(|e| AdminError::InvalidEmail(email.to_owned(), e.message))?;
    let pool = database.connect().await?;
    let result = async {
        syncchain_host::database::migrate::<UsersDatabase>(&pool).await?;
        match accounts::set_role_by_email(&pool, &parsed, role).await {
            Ok(change) => Ok(change),
            Err(UsersError::NotFound) => Err(AdminError::NoSuchUser(email.to_owned()).into()),
            Err(e) => Err(anyhow::Error::new(e).context("cannot change the role")),
        }
    }
    .await;
    pool.close().await;
    result
}
