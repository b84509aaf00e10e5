//! The load generator: starts the whole system in this process on the
//! Postgres, NATS and Redis that `syncchain dev` would use (fresh databases
//! and a fresh event namespace each run), then drives it over HTTP on
//! loopback, as clients would, and reports throughput, latency percentiles
//! and errors per scenario, next to a ceiling: the same gateway answering a
//! trivial query (`{ __typename }`) that touches no service.
//!
//! ```sh
//! cargo run --release -p syncchain --example loadgen -- --duration 20 --concurrency 32
//! ```
//!
//! Results go to `bench-results/<time>.json` (git-ignored); the summary in
//! `docs/benchmarks.md` is written from them by hand.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use serde_json::{Value, json};
use syncchain_platform::{config::Env, roles, shutdown::Shutdown};
use tokio::sync::Mutex;

#[derive(Parser, Debug)]
struct Args {
    /// Scenarios to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,product,products,signin,place-order,mix"
    )]
    scenarios: Vec<String>,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Customers placing orders.
    #[arg(long, default_value_t = 32)]
    customers: usize,
}

const PASSWORD: &str = "correct horse battery";

struct Fixture {
    url: String,
    http: reqwest::Client,
    admin: String,
    tokens: Vec<String>,
    emails: Vec<String>,
    products: Vec<String>,
}

impl Fixture {
    async fn post(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body: Value = request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["errors"].is_array() {
            return Err(body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("?")
                .to_owned());
        }
        Ok(body["data"].clone())
    }

    /// One request of `scenario`; `Ok` when it did what a client wanted.
    async fn once(&self, scenario: &str, i: usize) -> Result<(), String> {
        let pick = |v: &Vec<String>| v[i % v.len()].clone();
        match scenario {
            "ceiling" => self.post("{ __typename }", json!({}), None).await.map(drop),
            "product" => self
                .post(
                    "query($id: ID!) { product(id: $id) { id name price quantity } }",
                    json!({ "id": pick(&self.products) }),
                    None,
                )
                .await
                .map(drop),
            "products" => self
                .post(
                    "{ products(first: 20) { id name price quantity } }",
                    json!({}),
                    None,
                )
                .await
                .map(drop),
            "signin" => self
                .post(
                    "mutation($input: SigninInput!) { signIn(input: $input) { token } }",
                    json!({ "input": { "email": pick(&self.emails), "password": PASSWORD } }),
                    None,
                )
                .await
                .map(drop),
            "place-order" => {
                let data = self
                    .post(
                        "mutation($input: OrderInput!) { placeOrder(input: $input) { id status } }",
                        json!({ "input": { "productId": pick(&self.products), "quantity": 1 } }),
                        Some(&pick(&self.tokens)),
                    )
                    .await?;
                match data["placeOrder"]["status"].as_str() {
                    Some("CONFIRMED") => Ok(()),
                    other => Err(format!("order {}", other.unwrap_or("?"))),
                }
            }
            // The 611-byte document of a million fields: a success is a
            // refusal (`BAD_USER_INPUT`) before the engine expands it.
            "fragment-bomb" => match self.post(&fragment_bomb(11), json!({}), None).await {
                Err(code) if code == "BAD_USER_INPUT" => Ok(()),
                Err(code) => Err(code),
                Ok(_) => Err("bomb admitted".into()),
            },
            // Mostly reads, some orders, a few sign-ins: a shop's day.
            "mix" => match i % 20 {
                0..=9 => Box::pin(self.once("product", i)).await,
                10..=15 => Box::pin(self.once("products", i)).await,
                16..=18 => Box::pin(self.once("place-order", i)).await,
                _ => Box::pin(self.once("signin", i)).await,
            },
            other => Err(format!("unknown scenario {other}")),
        }
    }
}

/// F1 selects a field; each next fragment spreads the one before four
/// times, so `levels` levels expand to 4^(levels-1) fields.
fn fragment_bomb(levels: usize) -> String {
    let mut query = format!("query {{ ...F{levels} }}\nfragment F1 on Query {{ __typename }}\n");
    for level in 2..=levels {
        let below = level - 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{below} ...F{below} ...F{below} ...F{below} }}\n"
        ));
    }
    query
}

#[derive(Debug, Default)]
struct Outcome {
    latencies: Vec<Duration>,
    errors: std::collections::BTreeMap<String, u64>,
}

async fn run(fixture: Arc<Fixture>, scenario: &str, args: &Args) -> Value {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (fixture, outcome, stop, counter) = (
                fixture.clone(),
                outcome.clone(),
                stop.clone(),
                counter.clone(),
            );
            let scenario = scenario.to_owned();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    let begun = Instant::now();
                    let result = fixture.once(&scenario, i).await;
                    let mut outcome = outcome.lock().await;
                    match result {
                        Ok(()) => outcome.latencies.push(begun.elapsed()),
                        Err(e) => *outcome.errors.entry(e).or_default() += 1,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut outcome = outcome.lock().await;
    outcome.latencies.sort_unstable();
    let percentile = |p: f64| {
        let n = outcome.latencies.len();
        if n == 0 {
            return 0.0;
        }
        let index = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        outcome.latencies[index].as_secs_f64() * 1000.0
    };
    let result = json!({
        "scenario": scenario,
        "concurrency": args.concurrency,
        "seconds": elapsed,
        "ok": outcome.latencies.len(),
        "per_second": outcome.latencies.len() as f64 / elapsed,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": outcome.errors,
        "rss_mib": rss_mib(),
    });
    println!(
        "{scenario:>12}: {:>9.1}/s ok  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:?}  rss {:.0} MiB",
        result["per_second"].as_f64().unwrap_or(0.0),
        result["p50_ms"].as_f64().unwrap_or(0.0),
        result["p99_ms"].as_f64().unwrap_or(0.0),
        outcome.errors,
        rss_mib()
    );
    result
}

/// Resident memory of this process (the whole system and the load
/// generator together), from /proc.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn server_url() -> String {
    std::env::var("SYNCCHAIN_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Runs one statement against the server's `postgres` database.
async fn admin_statement(sql: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(&format!("{}/postgres", server_url())).await?;
    sqlx::query(sql).execute(&pool).await?;
    pool.close().await;
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
    let admin_email = format!("admin@{run_id}.example.com");
    let mut env = Env::from_pairs([
        ("SYNCCHAIN_ENV", "production"),
        ("SYNCCHAIN_LOG", "error"),
        ("SYNCCHAIN_EVENTS_NAMESPACE", run_id.as_str()),
        ("SYNCCHAIN_REDIS_PREFIX", run_id.as_str()),
        (
            "SYNCCHAIN_JWT_SECRET",
            &format!("{run_id}-benchmark-secret-0123456789abcdef"),
        ),
        ("SYNCCHAIN_ADMIN_EMAIL", admin_email.as_str()),
        ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "1000000"),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL", "1000000"),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS", "1000000"),
        ("SYNCCHAIN_REGISTER_MAX_PER_ADDRESS", "1000000"),
        // Every client here is one address, and each customer places
        // hundreds of orders a minute: the per-customer bounds are for
        // abuse, not for measuring throughput, so they are lifted (0 turns
        // the per-minute bound off).
        ("SYNCCHAIN_ORDER_MAX_PER_MINUTE", "0"),
        ("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "1000000"),
        ("SYNCCHAIN_USERS_DB_MAX_CONNECTIONS", "20"),
        ("SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS", "20"),
        ("SYNCCHAIN_ORDERS_DB_MAX_CONNECTIONS", "20"),
    ]);
    for role in roles::ALL {
        env.set(role.addr_var, "127.0.0.1:0");
    }
    let databases: Vec<String> = ["users", "products", "orders"]
        .iter()
        .map(|service| format!("{run_id}_{service}"))
        .collect();
    for (service, name) in ["USERS", "PRODUCTS", "ORDERS"].iter().zip(&databases) {
        admin_statement(&format!("CREATE DATABASE \"{name}\"")).await?;
        env.set(
            format!("SYNCCHAIN_{service}_DATABASE_URL"),
            format!("{}/{name}", server_url()),
        );
    }
    let shutdown = Shutdown::new();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let system = tokio::spawn(syncchain::serve::all(env, shutdown.clone(), move |addrs| {
        let _ = ready_tx.send(addrs.public);
    }));
    let gateway = ready_rx.await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    let mut fixture = Fixture {
        url: format!("http://{gateway}/graphql"),
        http,
        admin: String::new(),
        tokens: Vec::new(),
        emails: Vec::new(),
        products: Vec::new(),
    };
    let signin = "mutation($input: SigninInput!) { signIn(input: $input) { token } }";
    let admin = fixture
        .post(
            signin,
            json!({ "input": { "email": admin_email, "password": PASSWORD } }),
            None,
        )
        .await;
    fixture.admin = admin.map_err(anyhow::Error::msg)?["signIn"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for i in 0..10 {
        let created = fixture
            .post(
                "mutation($input: ProductInput!) { createProduct(input: $input) { id } }",
                json!({ "input": { "name": format!("Product {i}"), "price": 100 + i, "description": "benchmark", "quantity": 1_000_000_000 } }),
                Some(&fixture.admin),
            )
            .await
            .map_err(anyhow::Error::msg)?;
        fixture.products.push(
            created["createProduct"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for i in 0..args.customers {
        let email = format!("customer{i}@{run_id}.example.com");
        fixture
            .post(
                "mutation($input: RegisterInput!) { registerUser(input: $input) { id } }",
                json!({ "input": { "email": email, "password": PASSWORD, "firstName": "Load", "lastName": "Tester", "location": "Here", "contactNumber": "+441234567890" } }),
                None,
            )
            .await
            .map_err(anyhow::Error::msg)?;
        let token = fixture
            .post(
                signin,
                json!({ "input": { "email": email, "password": PASSWORD } }),
                None,
            )
            .await;
        fixture.tokens.push(
            token.map_err(anyhow::Error::msg)?["signIn"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        fixture.emails.push(email);
    }
    let fixture = Arc::new(fixture);
    println!(
        "syncchain load generator: {} s per scenario, {} in flight, {} cores",
        args.duration,
        args.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut results = Vec::new();
    for scenario in &args.scenarios {
        results.push(run(fixture.clone(), scenario, &args).await);
    }
    std::fs::create_dir_all("bench-results")?;
    let file = format!(
        "bench-results/{}.json",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&json!({ "run": run_id, "results": results }))?,
    )?;
    println!("results written to {file}");
    shutdown.cancel();
    let _ = system.await;
    for name in &databases {
        admin_statement(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    }
    Ok(())
}
