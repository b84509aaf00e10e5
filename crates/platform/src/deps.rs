//! Connections to the three dependencies. When one cannot be reached the
//! error says which, where, and what to do, instead of a stack of library
//! text; the cause is kept for the log.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// A dependency that could not be reached or used.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {what} at {address}: {reason}. {hint}")]
pub struct DependencyError {
    pub what: &'static str,
    pub address: String,
    pub reason: String,
    pub hint: String,
}

fn hint(var: &str) -> String {
    format!(
        "Is it running? `syncchain dev` starts one locally; otherwise set {var} to a reachable server"
    )
}

fn reason(e: &dyn std::error::Error) -> String {
    // The innermost cause is the one a person can act on ("connection refused").
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// `host:port/database` of a Postgres URL, without credentials.
pub fn postgres_address(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// Parses a Postgres URL; the error names the variable it came from.
pub fn postgres_options(
    url: &str,
    var: &str,
) -> Result<PgConnectOptions, crate::config::ConfigError> {
    PgConnectOptions::from_str(url).map_err(|e| {
        crate::config::ConfigError::new(var, format!("not a valid postgres:// URL: {}", reason(&e)))
    })
}

/// Creates the database named in `options` when it does not exist yet, by
/// connecting to the server's `postgres` database.
pub async fn ensure_database(options: &PgConnectOptions, var: &str) -> Result<(), DependencyError> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let admin = options.clone().database("postgres");
    let unreachable = |e: sqlx::Error| DependencyError {
        what: "PostgreSQL",
        address: postgres_address(options),
        reason: reason(&e),
        hint: hint(var),
    };
    let mut conn =
        tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&admin))
            .await
            .map_err(|_| DependencyError {
                what: "PostgreSQL",
                address: postgres_address(options),
                reason: "no answer within 10 s".into(),
                hint: hint(var),
            })?
            .map_err(unreachable)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .map_err(unreachable)?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(unreachable(e)),
        }
    }
    let _ = conn.close().await;
    Ok(())
}

/// A connection pool, checked by opening one connection now.
pub async fn connect_postgres(
    options: &PgConnectOptions,
    max_connections: u32,
    var: &str,
) -> Result<PgPool, DependencyError> {
    let options = options
        .clone()
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await
        .map_err(|e| DependencyError {
            what: "PostgreSQL",
            address: postgres_address(&options),
            reason: reason(&e),
            hint: hint(var),
        })
}

/// How every syncchain process connects to NATS: a first connection
/// retried in the background (connecting returns at once), and reconnects
/// for as long as the process runs.
pub fn nats_options() -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect()
        .max_reconnects(None)
}

/// Connects to NATS. Later disconnections are retried by the client forever.
pub async fn connect_nats(url: &str, var: &str) -> Result<async_nats::Client, DependencyError> {
    let unreachable = |reason: String| DependencyError {
        what: "NATS",
        address: url.to_owned(),
        reason,
        hint: hint(var),
    };
    let options = nats_options();
    // With `retry_on_initial_connect` connect returns at once; wait for the
    // first connection with a deadline so a wrong address fails clearly.
    let client = options
        .connect(url)
        .await
        .map_err(|e| unreachable(reason(&e)))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while client.connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() > deadline {
            return Err(unreachable("no connection within 10 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(client)
}

/// Connects to Redis. The manager reconnects on its own after failures.
pub async fn connect_redis(
    url: &str,
    var: &str,
) -> Result<redis::aio::ConnectionManager, DependencyError> {
    let unreachable = |e: redis::RedisError| DependencyError {
        what: "Redis",
        address: redis_address(url),
        reason: reason(&e),
        hint: hint(var),
    };
    let client = redis::Client::open(url).map_err(unreachable)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1);
    tokio::time::timeout(
        Duration::from_secs(10),
        redis::aio::ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| DependencyError {
        what: "Redis",
        address: redis_address(url),
        reason: "no answer within 10 s".into(),
        hint: hint(var),
    })?
    .map_err(unreachable)
}

/// `host:port` of a Redis URL, without credentials.
pub fn redis_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_never_show_credentials() {
        assert_eq!(redis_address("redis://:pw@cache:6380/2"), "cache:6380");
        let pg = postgres_options("postgres://u:secret@db:5433/users", "V").unwrap();
        assert_eq!(postgres_address(&pg), "db:5433/users");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_is_named_with_its_address_and_a_hint() {
        let pg = postgres_options("postgres://postgres@127.0.0.1:1/x", "SYNCCHAIN_X_URL").unwrap();
        let err = connect_postgres(&pg, 1, "SYNCCHAIN_X_URL")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot reach PostgreSQL at 127.0.0.1:1/x"),
            "{text}"
        );
        assert!(text.contains("SYNCCHAIN_X_URL"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_named_with_its_address() {
        let err = connect_redis("redis://127.0.0.1:1", "SYNCCHAIN_REDIS_URL")
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("cannot reach Redis at 127.0.0.1:1")
        );
    }
}
