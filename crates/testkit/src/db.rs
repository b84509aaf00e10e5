//! A database of its own for every test, on the shared Postgres server, so
//! tests run in parallel and never see each other's rows.
//!
//! Databases are named `sctest_<uuid v7>`. Each is dropped when its test
//! process ends, or by a later process when that one was killed (see
//! [`crate::ledger`]). As a fallback for databases no ledger lists (made on
//! another machine, or with the ledger folder wiped), the first call in a
//! test process also drops those older than a few hours, by the UUID's
//! timestamp.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The variable naming the server (any database on it) tests create
/// databases on.
pub const DATABASE_URL_VAR: &str = "SYNCCHAIN_TEST_DATABASE_URL";

const PREFIX: &str = "sctest_";
const STALE_AFTER: Duration = Duration::from_secs(3 * 60 * 60);

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// The server URL: `SYNCCHAIN_TEST_DATABASE_URL` or the local `postgres`.
pub fn server_url() -> String {
    crate::env_or(
        DATABASE_URL_VAR,
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// Creates an empty database and returns a small pool on it with its URL.
pub async fn fresh_database() -> (PgPool, String) {
    let server = server_url();
    let options = PgConnectOptions::from_str(&server)
        .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR} is not a postgres:// URL: {e}"));
    let mut admin = PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to Postgres at {server} (set {DATABASE_URL_VAR}): {e}")
        });
    SWEPT.get_or_init(|| drop_stale(&mut admin)).await;

    let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
    crate::ledger::record(&crate::ledger::Entry::Database {
        server: server.clone(),
        name: name.clone(),
    });
    create(&mut admin, &name).await;
    let _ = admin.close().await;

    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.database(&name))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the new database {name}: {e}"));
    (pool, with_database(&server, &name))
}

async fn create(admin: &mut PgConnection, name: &str) {
    // CREATE DATABASE fails while another session uses the template; that
    // is brief, so try a few times.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut *admin)
            .await
        {
            Ok(_) => return,
            Err(_) if attempts < 5 => {
                tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
            }
            Err(e) => panic!("cannot create database {name}: {e}"),
        }
    }
}

/// Drops test databases older than [`STALE_AFTER`]; best effort.
async fn drop_stale(admin: &mut PgConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
    )
    .bind(PREFIX)
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|id| Uuid::try_parse(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| Duration::from_secs(ts.to_unix().0));
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_AFTER) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// `url` with its database path replaced by `database`, query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_options_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
