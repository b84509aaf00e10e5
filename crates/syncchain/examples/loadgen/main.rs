//! The load generator. By default it starts the whole system in this
//! process on the Postgres, NATS and Redis that `syncchain dev` would use
//! (fresh databases and a fresh event namespace each run); with `--url` it
//! drives a deployment that is already running instead (the compose stack,
//! `./scripts/dev`, or any server answering the predecessor's operations,
//! with `--requests predecessor`). Either way it talks HTTP as clients do,
//! runs each scenario at each number of requests in flight, and reports
//! throughput, latency percentiles, errors and the peak resident memory of
//! the processes it watches, next to a ceiling: the same gateway answering
//! `{ __typename }`, which touches no service.
//!
//! ```sh
//! cargo run --release -p syncchain --example loadgen -- --duration 10 --concurrency 1,8,32,64 --limits
//! cargo run --release -p syncchain --example loadgen -- --url http://localhost:8000/graphql \
//!     --admin-email admin@example.com --admin-password '…' --pid "$(pgrep -d, -x syncchain)"
//! ```
//!
//! Each run writes `<out>/<time>.json` (every figure) and `<out>/<time>.svg`
//! (throughput and p99 by concurrency, per scenario); `--out` defaults to
//! the git-ignored `bench-results`.

mod client;
mod limits;
mod plot;
mod system;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use client::{Client, Requests};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
struct Args {
    /// Scenarios to run, in order: ceiling, product, products, signin,
    /// place-order, fragment-bomb, mix.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,product,products,signin,place-order,mix"
    )]
    scenarios: Vec<String>,
    /// Seconds each scenario runs at each concurrency.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Requests in flight at once; several (`1,8,32`) make a sweep.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    concurrency: Vec<usize>,
    /// Customers registered, signed in and placing orders.
    #[arg(long, default_value_t = 32)]
    customers: usize,
    /// Drive the deployment at this GraphQL URL instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// Which documents to send.
    #[arg(long, value_enum, default_value_t = Requests::Native)]
    requests: Requests,
    /// With `--url`: an admin account, to create the products ordered.
    /// Without one the products the deployment lists first are used (they
    /// need the stock for the whole run).
    #[arg(long, requires = "admin_password")]
    admin_email: Option<String>,
    #[arg(long, env = "SYNCCHAIN_BENCH_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// The status a placed order must come back with to count as done
    /// (`PLACED` for the predecessor, which answers before any stock check).
    #[arg(long, default_value = "CONFIRMED")]
    order_status: String,
    /// With `--url`: processes whose peak resident memory is reported per
    /// scenario (in process, the load generator's own, which holds every
    /// role).
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
    /// Also measure the machine's limits (Postgres commits, JetStream
    /// publishes, Redis round trips) at the highest concurrency, once the
    /// scenarios are done (and the system, when in process, stopped).
    #[arg(long)]
    limits: bool,
    /// The PostgreSQL server the system's databases (and pgbench's) are
    /// made on.
    #[arg(
        long,
        env = "SYNCCHAIN_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    database_url: String,
    #[arg(
        long,
        env = "SYNCCHAIN_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    #[arg(
        long,
        env = "SYNCCHAIN_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Where the JSON and SVG of the run are written.
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
}

/// Runs one statement against the server's `postgres` database.
async fn admin_statement(server_url: &str, sql: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(&format!("{server_url}/postgres")).await?;
    sqlx::query(sql).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

/// Resident memory of `pid` in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

/// Samples the resident memory of `pids` every 50 ms until `stop`; returns
/// the peak of each.
fn watch_memory(
    pids: Vec<u32>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeMap<u32, f64>> {
    tokio::spawn(async move {
        let mut peaks = BTreeMap::new();
        loop {
            for &pid in &pids {
                if let Some(mib) = rss_mib(pid) {
                    let peak = peaks.entry(pid).or_insert(0.0f64);
                    *peak = peak.max(mib);
                }
            }
            if stop.load(Ordering::Relaxed) {
                return peaks;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn run(
    client: Arc<Client>,
    scenario: &str,
    concurrency: usize,
    args: &Args,
    pids: &[u32],
) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let memory = watch_memory(pids.to_vec(), stop.clone());
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, stop, counter) = (client.clone(), stop.clone(), counter.clone());
            let scenario = scenario.to_owned();
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while !stop.load(Ordering::Relaxed) {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let begun = Instant::now();
                    match client.once(&scenario, i).await {
                        Ok(()) => outcome.latencies.push(begun.elapsed()),
                        Err(e) => *outcome.errors.entry(e).or_default() += 1,
                    }
                }
                outcome
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome::default();
    for worker in workers {
        if let Ok(part) = worker.await {
            outcome.latencies.extend(part.latencies);
            for (error, n) in part.errors {
                *outcome.errors.entry(error).or_default() += n;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peaks = memory.await.unwrap_or_default();
    outcome.latencies.sort_unstable();
    let n = outcome.latencies.len();
    let percentile = |p: f64| {
        if n == 0 {
            return 0.0;
        }
        let index = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        outcome.latencies[index].as_secs_f64() * 1000.0
    };
    let memory: Vec<Value> = peaks
        .iter()
        .map(|(pid, mib)| json!({ "pid": pid, "process": process_name(*pid), "peak_rss_mib": mib }))
        .collect();
    let result = json!({
        "scenario": scenario,
        "concurrency": concurrency,
        "seconds": elapsed,
        "ok": n,
        "per_second": n as f64 / elapsed,
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": percentile(1.0),
        "errors": outcome.errors,
        "memory": memory,
    });
    let peak = match peaks.values().copied().reduce(f64::max) {
        Some(mib) => format!("  peak rss {mib:.0} MiB"),
        None => String::new(),
    };
    println!(
        "{scenario:>13} x{concurrency:<3} {:>9.1}/s ok  p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2} ms  errors {:?}{peak}",
        n as f64 / elapsed,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        outcome.errors,
    );
    result
}

/// Registers and signs in the customers, and finds or creates the products
/// they order.
async fn prepare(
    client: &mut Client,
    run_id: &str,
    args: &Args,
    admin: Option<(String, String)>,
) -> anyhow::Result<()> {
    let admin_token = match &admin {
        Some((email, password)) => {
            let input = json!({ "input": { "email": email, "password": password } });
            let document = match client.requests {
                Requests::Native => {
                    "mutation($input: SigninInput!) { signIn(input: $input) { token } }"
                }
                Requests::Predecessor => syncchain_testkit::predecessor::SIGN_IN,
            };
            let data = client
                .post(document, input, None)
                .await
                .map_err(|e| anyhow::anyhow!("the admin's sign-in failed: {e}"))?;
            let field = if client.requests == Requests::Native {
                "signIn"
            } else {
                "signin"
            };
            data[field]["token"].as_str().map(str::to_owned)
        }
        None => None,
    };
    if let Some(admin) = admin_token {
        for i in 0..10 {
            let id = client
                .create_product(&admin, i)
                .await
                .map_err(|e| anyhow::anyhow!("creating a product failed: {e}"))?;
            client.products.push(id);
        }
    } else {
        client.products = client
            .listed_products()
            .await
            .map_err(|e| anyhow::anyhow!("listing products failed: {e}"))?;
        client.products.truncate(10);
        anyhow::ensure!(
            !client.products.is_empty(),
            "the deployment lists no products: pass --admin-email and --admin-password to create them"
        );
    }
    for i in 0..args.customers {
        let email = format!("customer{i}@{run_id}.example.com");
        client
            .register(&email)
            .await
            .map_err(|e| anyhow::anyhow!("registering {email} failed: {e}"))?;
        let token = client
            .sign_in(&email)
            .await
            .map_err(|e| anyhow::anyhow!("signing {email} in failed: {e}"))?;
        client.tokens.push(token);
        client.emails.push(email);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run_id = format!(
        "bench{}",
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..10)
            .unwrap_or("0")
    );
    let (in_process, url, admin, pids) = match &args.url {
        Some(url) => {
            let admin = args.admin_email.clone().zip(args.admin_password.clone());
            (None, url.clone(), admin, args.pid.clone())
        }
        None => {
            let system = system::InProcess::start(&args.database_url, &run_id).await?;
            let url = format!("http://{}/graphql", system.gateway);
            let admin = Some((system.admin_email.clone(), client::PASSWORD.to_owned()));
            (Some(system), url, admin, vec![std::process::id()])
        }
    };
    let most = args.concurrency.iter().copied().max().unwrap_or(1).max(1);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(most * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut client = Client {
        url: url.clone(),
        http,
        requests: args.requests,
        order_status: args.order_status.clone(),
        tokens: Vec::new(),
        emails: Vec::new(),
        products: Vec::new(),
    };
    let prepared = prepare(&mut client, &run_id, &args, admin).await;
    let client = Arc::new(client);
    let mut results = Vec::new();
    let mut limits = Value::Null;
    if prepared.is_ok() {
        println!(
            "syncchain load generator: {url}, {:?} requests, {} s per scenario, {:?} in flight, {} cores",
            args.requests,
            args.duration,
            args.concurrency,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        for &concurrency in &args.concurrency {
            for scenario in &args.scenarios {
                results.push(run(client.clone(), scenario, concurrency.max(1), &args, &pids).await);
            }
        }
    }
    // The system stops first, so the limits are the machine's alone (and
    // pgbench's clients fit beside nothing else's pools).
    if let Some(system) = in_process {
        system.stop().await?;
    }
    prepared?;
    if args.limits {
        let targets = limits::Targets {
            database: args.database_url.clone(),
            nats: args.nats_url.clone(),
            redis: args.redis_url.clone(),
        };
        limits = limits::measure(&targets, &run_id, most, Duration::from_secs(args.duration)).await;
    }
    std::fs::create_dir_all(&args.out)?;
    let stem = args
        .out
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
    let report = json!({
        "run": run_id,
        "url": url,
        "in_process": args.url.is_none(),
        "requests": format!("{:?}", args.requests),
        "duration_s": args.duration,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "results": results,
        "limits": limits,
    });
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let title = format!(
        "syncchain, {} s per point, {}",
        args.duration,
        if args.url.is_none() {
            "whole system and load generator in one process"
        } else {
            url.as_str()
        }
    );
    std::fs::write(stem.with_extension("svg"), plot::svg(&title, &results))?;
    println!("results written to {}.json and .svg", stem.display());
    Ok(())
}
