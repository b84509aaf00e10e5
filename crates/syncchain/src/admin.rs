//! `syncchain admin promote|demote <email>`: the only way to make an admin
//! besides the first-admin variables. It goes through the users service's
//! own code (role change and its event in one transaction) and needs only
//! the users database settings: no JWT secret, no running service. With no
//! settings at all it reaches the database `syncchain dev` uses.
//!
//! A change also ends the user's sessions, since tokens carry the role: a
//! demoted admin must not stay an admin until their token expires. The
//! users database records that with the change (the truth the gateway falls
//! back on); the command then updates the gateway's fast path in Redis. If
//! Redis cannot be reached the change and the ended sessions still stand,
//! and the command says for how long the fast path may lag.

use syncchain_gateway::auth::session_cache::TRUST_FOR;
use syncchain_platform::{auth::Role, config::Env, deps};

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
            "{email} is now {} (was {}); their current sessions have ended, so they sign in again",
            change.to, change.from
        );
        if let Err(error) = end_sessions(&env, change.user_id.as_uuid()).await {
            eprintln!(
                "warning: could not tell the gateways' Redis ({error:#}); the change is recorded, but gateways may accept their old tokens for up to {} s more",
                TRUST_FOR.as_secs()
            );
        }
    } else {
        println!("{email} already is {}; nothing changed", change.to);
    }
    Ok(())
}

async fn end_sessions(env: &Env, user_id: uuid::Uuid) -> anyhow::Result<()> {
    let url = env.string("SYNCCHAIN_REDIS_URL", "redis://127.0.0.1:6379");
    let prefix = env.string("SYNCCHAIN_REDIS_PREFIX", "syncchain");
    let redis = deps::connect_redis(&url, "SYNCCHAIN_REDIS_URL").await?;
    syncchain_gateway::auth::end_sessions(&redis, &prefix, user_id).await?;
    Ok(())
}
