//! `syncchain migrate [users|all]`: creates each service's database when
//! missing and applies its embedded migrations, then exits. Services also
//! migrate as they start; this command lets a deployment do it once, ahead
//! of rolling out new instances. It needs only the database settings.

use anyhow::Context;
use syncchain_platform::config::Env;

use crate::cli::MigrateTarget;

pub async fn run(target: MigrateTarget, env: Env) -> anyhow::Result<()> {
    match target {
        MigrateTarget::Users | MigrateTarget::All => users(&env).await,
    }
}

async fn users(env: &Env) -> anyhow::Result<()> {
    let database = syncchain_users::DatabaseConfig::from_env(env)?;
    let pool = syncchain_users::connect(&database).await?;
    let result = syncchain_users::migrate(&pool)
        .await
        .context("cannot migrate the users database");
    pool.close().await;
    result?;
    tracing::info!(service = "users", "database migrated");
    println!("users database migrated");
    Ok(())
}
