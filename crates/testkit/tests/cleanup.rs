//! A test process's databases, streams and Redis keys are removed when it
//! ends, and a killed one's by the next sweep. Each case runs a child: this
//! test binary again, running only the ignored `make_resources`.

#![allow(clippy::unwrap_used)]

use std::{process::Stdio, time::Duration};

use redis::AsyncCommands;
use syncchain_testkit::{db, ledger, namespace};
use tokio::io::{AsyncBufReadExt, BufReader};

const MODE_VAR: &str = "SYNCCHAIN_TEST_CLEANUP_MODE";

/// Run by the cases below as a child: makes a database, a namespace with
/// a stream and a Redis key, says their names, then exits or waits to be
/// killed.
#[tokio::test]
#[ignore = "run as a child process by the other tests here"]
async fn make_resources() {
    let (_pool, url) = db::fresh_database().await;
    let database = url.rsplit('/').next().unwrap().to_owned();
    let ns = namespace();
    let jetstream = syncchain_testkit::jetstream(&syncchain_testkit::nats_url()).await;
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("{}_USERS", ns.to_ascii_uppercase()),
            subjects: vec![format!("{ns}.users.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut redis = redis_connection().await;
    let _: () = redis.set(format!("{ns}:probe"), "1").await.unwrap();
    println!("MADE {database} {ns}");
    if std::env::var(MODE_VAR).as_deref() == Ok("hang") {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}

#[tokio::test]
async fn what_a_test_process_made_is_gone_when_it_ends() {
    let (mut child, database, ns) = start_child("exit").await;
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the child failed: {status}");

    assert!(!database_exists(&database).await, "{database} is left");
    assert!(!stream_exists(&ns).await, "the stream of {ns} is left");
    assert!(!key_exists(&ns).await, "the key of {ns} is left");
}

#[tokio::test]
async fn what_a_killed_process_left_is_swept_later() {
    let (mut child, database, ns) = start_child("hang").await;
    child.start_kill().unwrap();
    let _ = child.wait().await;

    // SIGKILL runs no exit handler: everything is still there...
    assert!(
        database_exists(&database).await,
        "{database} went at SIGKILL?"
    );
    assert!(stream_exists(&ns).await);
    assert!(key_exists(&ns).await);

    // ...until a later process sweeps the ledger its owner left. In a full
    // run another test process starting now may claim that ledger first and
    // still be removing what it lists when this sweep finds nothing left to
    // claim, so the removal is awaited, bounded, whoever does it.
    tokio::task::spawn_blocking(ledger::sweep_abandoned)
        .await
        .unwrap();
    let swept = syncchain_testkit::eventually(Duration::from_secs(15), || async {
        !database_exists(&database).await && !stream_exists(&ns).await && !key_exists(&ns).await
    })
    .await;
    assert!(!database_exists(&database).await, "{database} is left");
    assert!(!stream_exists(&ns).await, "the stream of {ns} is left");
    assert!(!key_exists(&ns).await, "the key of {ns} is left");
    assert!(swept);
}

/// Starts `make_resources` in a child and reads the names it made.
async fn start_child(mode: &str) -> (tokio::process::Child, String, String) {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["make_resources", "--exact", "--ignored", "--nocapture"])
        .env(MODE_VAR, mode)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let made = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("MADE ") {
                return Some(rest.to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the child says what it made");
    // Keep reading, so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (database, ns) = made.split_once(' ').unwrap();
    (child, database.to_owned(), ns.to_owned())
}

async fn database_exists(name: &str) -> bool {
    let pool = sqlx::PgPool::connect(&db::server_url()).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count == 1
}

async fn stream_exists(ns: &str) -> bool {
    let jetstream = syncchain_testkit::jetstream(&syncchain_testkit::nats_url()).await;
    jetstream
        .get_stream(format!("{}_USERS", ns.to_ascii_uppercase()))
        .await
        .is_ok()
}

async fn key_exists(ns: &str) -> bool {
    let mut redis = redis_connection().await;
    redis.exists(format!("{ns}:probe")).await.unwrap()
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(syncchain_testkit::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}
