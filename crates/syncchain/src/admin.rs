//! `syncchain admin promote|demote <email>`: the only way to make an admin
//! besides the first-admin variables. It goes through the users service's
//! own code (role change and its event in one transaction) and needs only
//! the users database settings: no JWT secret, no running service. With no
//! settings at all it reaches the database `syncchain dev` uses.

use syncchain_platform::{auth::Role, config::Env};

use crate::cli::AdminCommand;

pub async fn run(command: AdminCommand, env: Env) -> anyhow::Result<()> {
    let (email, role) = match command {
        AdminCommand::Promote { email } => (email, Role::Admin),
        AdminCommand::Demote { email } => (email, Role::Customer),
    };
    let database = syncchain_users::DatabaseConfig::from_env(&env)?;
    let change = syncchain_users::admin::set_role_by_email_in(&database, &email, role).await?;
    if change.changed() {
        println!(
            "{email} is now {} (was {}); new tokens carry the new role, so sign in again",
            change.to, change.from
        );
    } else {
        println!("{email} already is {}; nothing changed", change.to);
    }
    Ok(())
}
