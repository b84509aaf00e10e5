//! The machine's own limits, measured in the same run as the scenarios so
//! the distance to them shows: PostgreSQL commits a second (pgbench, one
//! single-row insert per transaction), JetStream publishes a second (each
//! with a `Nats-Msg-Id` and its acknowledgement awaited, as the relays
//! publish), and Redis round trips a second (`GET` on one multiplexed
//! connection, as the gateway and products use it).

use std::{
    future::Future,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

pub struct Targets {
    pub database: String,
    pub nats: String,
    pub redis: String,
}

/// Runs `step` from `concurrency` tasks for `duration`; returns completed
/// steps a second and the failures.
async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, step: F) -> (f64, u64)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let step = Arc::new(step);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let step = step.clone();
            tokio::spawn(async move {
                let (mut done, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    match step().await {
                        Ok(()) => done += 1,
                        Err(_) => failed += 1,
                    }
                }
                (done, failed)
            })
        })
        .collect();
    let (mut done, mut failed) = (0, 0);
    for task in tasks {
        if let Ok((d, f)) = task.await {
            done += d;
            failed += f;
        }
    }
    (done as f64 / started.elapsed().as_secs_f64(), failed)
}

pub async fn measure(
    targets: &Targets,
    run_id: &str,
    concurrency: usize,
    duration: Duration,
) -> Value {
    let mut limits = serde_json::Map::new();
    let results = [
        (
            "postgres_commits_per_second",
            postgres(targets, run_id, concurrency, duration).await,
        ),
        (
            "jetstream_publishes_per_second",
            jetstream(targets, run_id, concurrency, duration).await,
        ),
        (
            "redis_round_trips_per_second",
            redis(targets, run_id, concurrency, duration).await,
        ),
    ];
    for (name, result) in results {
        let value = match result {
            Ok(rate) => {
                println!("{name:>32}: {rate:>9.0} ({concurrency} in flight)");
                json!(rate)
            }
            Err(e) => {
                println!("{name:>32}: not measured: {e:#}");
                json!({ "error": format!("{e:#}") })
            }
        };
        limits.insert(name.to_owned(), value);
    }
    limits.insert("concurrency".into(), json!(concurrency));
    Value::Object(limits)
}

/// pgbench on the `PATH`, or the newest under /usr/lib/postgresql.
fn pgbench() -> Option<std::path::PathBuf> {
    if Command::new("pgbench").arg("--version").output().is_ok() {
        return Some("pgbench".into());
    }
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("bin/pgbench");
            path.exists().then_some(path)
        })
        .collect();
    found.sort();
    found.pop()
}

async fn postgres(
    targets: &Targets,
    run_id: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let pgbench = pgbench().ok_or_else(|| {
        anyhow::anyhow!("pgbench not found (Debian: postgresql-contrib or postgresql-15)")
    })?;
    let database = format!("{run_id}_pgbench");
    crate::admin_statement(
        &targets.database,
        &format!("CREATE DATABASE \"{database}\""),
    )
    .await?;
    let url = format!("{}/{database}", targets.database);
    let measured = async {
        let pool = sqlx::PgPool::connect(&url).await?;
        sqlx::query("CREATE TABLE commits (id bigserial PRIMARY KEY, at timestamptz NOT NULL)")
            .execute(&pool)
            .await?;
        pool.close().await;
        let script = std::env::temp_dir().join(format!("{run_id}-commit.sql"));
        std::fs::write(&script, "INSERT INTO commits (at) VALUES (now());\n")?;
        let output = tokio::process::Command::new(&pgbench)
            .args(["--no-vacuum", "--client"])
            .arg(clients.to_string())
            .args(["--jobs", "2", "--time"])
            .arg(duration.as_secs().max(1).to_string())
            .arg("--file")
            .arg(&script)
            .arg(&url)
            .output()
            .await?;
        let _ = std::fs::remove_file(&script);
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // "tps = 4321.5 (without initial connection time)"
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output: {stdout}"))
    }
    .await;
    crate::admin_statement(
        &targets.database,
        &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
    )
    .await?;
    measured
}

async fn jetstream(
    targets: &Targets,
    run_id: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    use async_nats::jetstream::{self, stream};
    let nats = async_nats::connect(&targets.nats).await?;
    let context = jetstream::new(nats);
    let name = format!("{run_id}_limit");
    let subject = format!("{run_id}.limit");
    context
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await?;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let publisher = context.clone();
    let (rate, failed) = closed_loop(concurrency, duration, move || {
        let (context, subject, counter) = (publisher.clone(), subject.clone(), counter.clone());
        async move {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("limit-{n}").as_str());
            // About the size of an event envelope.
            let payload = vec![b'x'; 320];
            context
                .publish_with_headers(subject, headers, payload.into())
                .await?
                .await?;
            Ok(())
        }
    })
    .await;
    context.delete_stream(&name).await?;
    anyhow::ensure!(failed == 0 || rate > 0.0, "every publish failed");
    Ok(rate)
}

async fn redis(
    targets: &Targets,
    run_id: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let client = redis::Client::open(targets.redis.as_str())?;
    let connection = client.get_multiplexed_async_connection().await?;
    let key = format!("{run_id}:limit");
    let (rate, failed) = closed_loop(concurrency, duration, move || {
        let (mut connection, key) = (connection.clone(), key.clone());
        async move {
            let _: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await?;
            Ok(())
        }
    })
    .await;
    anyhow::ensure!(failed == 0 || rate > 0.0, "every round trip failed");
    Ok(rate)
}
