//! Starts the system with products and orders as child processes, and
//! checks the saga's invariants once it is at rest.

use std::{collections::HashMap, net::SocketAddr, process::Stdio, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};
use syncchain_platform::{config::Env, shutdown::Shutdown};
use syncchain_testkit::{nats_server::NatsServer, proxy::TcpProxy};
use tokio::{
    net::TcpListener,
    process::{Child, Command},
};

#[path = "../common/client.rs"]
mod client;

pub use client::{Client, PASSWORD, code, unique_email};

/// How the test wants the system laid out.
#[derive(Default)]
pub struct Options {
    /// Run on a private nats-server the test may restart.
    pub private_nats: bool,
    /// Put a cuttable proxy between the orders service and its Postgres.
    pub proxy_orders_database: bool,
}

/// A `syncchain serve <role>` child process on a fixed port.
pub struct ServiceProcess {
    role: &'static str,
    port: u16,
    env: Vec<(String, String)>,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl ServiceProcess {
    fn new(role: &'static str, env: &[(String, String)], addr_var: &str) -> Self {
        let port = syncchain_testkit::process::spare_port();
        let mut env = env.to_vec();
        env.push((addr_var.to_owned(), format!("127.0.0.1:{port}")));
        Self {
            role,
            port,
            env,
            child: tokio::sync::Mutex::new(None),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits until it reports ready.
    pub async fn start(&self) {
        let child = Command::new(env!("CARGO_BIN_EXE_syncchain"))
            .args(["serve", self.role])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("syncchain starts");
        *self.child.lock().await = Some(child);
        let url = format!("{}/readyz", self.url());
        let http = reqwest::Client::new();
        let ready = syncchain_testkit::eventually(Duration::from_secs(30), || async {
            matches!(http.get(&url).send().await, Ok(r) if r.status().is_success())
        })
        .await;
        assert!(ready, "the {} service did not become ready", self.role);
    }

    /// `kill -9`: no shutdown, no draining.
    pub async fn kill(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            child.kill().await.expect("killed");
        }
    }
}

pub struct System {
    client: Client,
    pub products: ServiceProcess,
    pub orders: ServiceProcess,
    pub nats: Option<NatsServer>,
    pub orders_database: Option<TcpProxy>,
    pub namespace: String,
    pub products_database_url: String,
    pub orders_database_url: String,
    shutdown: Shutdown,
}

impl std::ops::Deref for System {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl System {
    pub async fn start(options: Options) -> Self {
        let nats = if options.private_nats {
            Some(NatsServer::start().await)
        } else {
            None
        };
        let nats_url = nats
            .as_ref()
            .map_or_else(syncchain_testkit::nats_url, NatsServer::url);
        let (_, users_db) = syncchain_testkit::db::fresh_database().await;
        let (_, products_db) = syncchain_testkit::db::fresh_database().await;
        let (_, mut orders_db) = syncchain_testkit::db::fresh_database().await;
        let orders_database = if options.proxy_orders_database {
            let target: SocketAddr = "127.0.0.1:5432".parse().expect("address");
            let proxy = TcpProxy::start(target).await;
            orders_db =
                orders_db.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()), 1);
            Some(proxy)
        } else {
            None
        };
        let namespace = syncchain_testkit::namespace();
        let admin_email = format!("admin@{namespace}.example.com");
        let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
        let users_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gateway_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut env: Vec<(String, String)> = [
            ("SYNCCHAIN_ENV", "production"),
            ("SYNCCHAIN_LOG", "warn"),
            ("SYNCCHAIN_USERS_DATABASE_URL", users_db.as_str()),
            ("SYNCCHAIN_PRODUCTS_DATABASE_URL", products_db.as_str()),
            ("SYNCCHAIN_ORDERS_DATABASE_URL", orders_db.as_str()),
            ("SYNCCHAIN_NATS_URL", nats_url.as_str()),
            ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
            ("SYNCCHAIN_REDIS_URL", &syncchain_testkit::redis_url()),
            ("SYNCCHAIN_REDIS_PREFIX", namespace.as_str()),
            ("SYNCCHAIN_JWT_SECRET", secret.as_str()),
            (
                "SYNCCHAIN_USERS_URL",
                &format!("http://{}", users_listener.local_addr().expect("bound")),
            ),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
            ("SYNCCHAIN_ADMIN_EMAIL", admin_email.as_str()),
            ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
            ("SYNCCHAIN_PLACE_ORDER_WAIT", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let products = ServiceProcess::new("products", &env, "SYNCCHAIN_PRODUCTS_ADDR");
        env.push(("SYNCCHAIN_PRODUCTS_URL".into(), products.url()));
        let orders = ServiceProcess::new("orders", &env, "SYNCCHAIN_ORDERS_ADDR");
        env.push(("SYNCCHAIN_ORDERS_URL".into(), orders.url()));
        products.start().await;
        orders.start().await;

        let config = Env::from_pairs(env.clone());
        let shutdown = Shutdown::new();
        let users = syncchain_users::Application::build(
            syncchain_users::Config::from_env(&config).expect("users config"),
            users_listener,
            shutdown.clone(),
        )
        .await
        .expect("users starts");
        tokio::spawn(users.run_until_stopped());
        let gateway = syncchain_gateway::Application::build(
            syncchain_gateway::Config::from_env(&config).expect("gateway config"),
            gateway_listener,
            shutdown.clone(),
        )
        .await
        .expect("gateway starts");
        let base_url = format!("http://{}", gateway.local_addr());
        tokio::spawn(gateway.run_until_stopped());
        let client = Client::new(base_url, admin_email);
        client.wait_until_ready().await;
        Self {
            client,
            products,
            orders,
            nats,
            orders_database,
            namespace,
            products_database_url: products_db,
            orders_database_url: orders_db,
            shutdown,
        }
    }

    /// `count` orders of one item each from `tokens` in turn, all at once;
    /// `during` runs alongside them (the fault). Returns the answers.
    pub async fn burst<F: std::future::Future<Output = ()>>(
        &self,
        tokens: &[String],
        product: &str,
        count: usize,
        during: F,
    ) -> Vec<Value> {
        let orders = join_all((0..count).map(|i| {
            let token = tokens[i % tokens.len()].clone();
            async move {
                // Spread the burst over a short while so the fault lands mid-way.
                tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
                self.place_order(&token, product, 1).await
            }
        }));
        let (answers, ()) = tokio::join!(orders, during);
        answers
    }

    /// Every order of the system, read as the admin, by status.
    pub async fn orders_by_status(&self, admin: &str) -> HashMap<String, Vec<Value>> {
        let mut by_status: HashMap<String, Vec<Value>> = HashMap::new();
        let mut after = Value::Null;
        loop {
            let body = self
                .gql(
                    "query($after: String) { ordersConnection(first: 100, after: $after) { nodes { id productId quantity status } pageInfo { endCursor hasNextPage } } }",
                    json!({ "after": after }),
                    Some(admin),
                )
                .await;
            let connection = &body["data"]["ordersConnection"];
            assert!(connection.is_object(), "{body}");
            for order in connection["nodes"].as_array().cloned().unwrap_or_default() {
                let status = order["status"].as_str().unwrap_or("?").to_owned();
                by_status.entry(status).or_default().push(order);
            }
            if connection["pageInfo"]["hasNextPage"] != json!(true) {
                return by_status;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
    }

    /// Waits until no order is PENDING, then checks the stock invariant:
    /// initial stock = current stock + items of CONFIRMED orders, and no
    /// order id appears twice. Returns (confirmed, rejected).
    pub async fn assert_at_rest(&self, admin: &str, product: &str, initial: i64) -> (usize, usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let orders = loop {
            let orders = self.orders_by_status(admin).await;
            if !orders.contains_key("PENDING") || std::time::Instant::now() > deadline {
                break orders;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            !orders.contains_key("PENDING"),
            "orders still pending: {:?}",
            orders.get("PENDING")
        );
        let all: Vec<&Value> = orders.values().flatten().collect();
        let mut ids: Vec<&str> = all.iter().filter_map(|o| o["id"].as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "an order appears twice");
        let confirmed: i64 = orders
            .get("CONFIRMED")
            .map(|o| o.iter().filter_map(|o| o["quantity"].as_i64()).sum())
            .unwrap_or(0);
        // The stock settles with the last event; wait for it, then compare.
        let balanced = syncchain_testkit::eventually(Duration::from_secs(30), || async {
            self.stock(product).await + confirmed == initial
        })
        .await;
        assert!(
            balanced,
            "stock {} + confirmed {confirmed} != initial {initial}",
            self.stock(product).await
        );
        let count = |s: &str| orders.get(s).map_or(0, Vec::len);
        (count("CONFIRMED"), count("REJECTED"))
    }

    /// Registers and signs in `n` customers; returns their tokens.
    pub async fn customers(&self, n: usize) -> Vec<String> {
        let mut tokens = Vec::new();
        for i in 0..n {
            tokens.push(self.customer(&unique_email(&format!("buyer{i}"))).await.1);
        }
        tokens
    }
}

/// Orders whose answer was an accepted order (any status).
pub fn accepted(answers: &[Value]) -> usize {
    answers
        .iter()
        .filter(|a| a["data"]["placeOrder"]["id"].is_string())
        .count()
}
