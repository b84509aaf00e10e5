//! Starts the system with products and orders as child processes, and
//! checks the saga's invariants once it is at rest.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Stdio,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use futures::future::join_all;
use serde_json::{Value, json};
use syncchain_platform::{
    metrics::Metrics,
    roles::{self, RoleSpec},
    shutdown::Shutdown,
};
use syncchain_testkit::{nats_server::NatsServer, proxy::TcpProxy};
use tokio::{
    net::TcpListener,
    process::{Child, Command},
    sync::Notify,
};

#[path = "../common/client.rs"]
mod client;
#[path = "../common/system.rs"]
mod system;

use syncchain::cli::Role;
pub use system::Settings;
use system::{start_gateway, start_service};

pub use client::{Client, code, unique_email};

/// How the test wants the system laid out.
#[derive(Default)]
pub struct Options {
    /// Run on a private nats-server the test may restart.
    pub private_nats: bool,
    /// Put a cuttable proxy between the orders service and its Postgres.
    pub proxy_orders_database: bool,
    /// Run every service (users, products, orders, gateway) as its own
    /// process, twice, on the same databases and NATS: each gateway asks
    /// the users, products and orders processes of its own pair.
    pub second_instances: bool,
    /// Variables set for every service on top of the test defaults.
    pub settings: &'static [(&'static str, &'static str)],
}

/// Every service as processes, when asked for: the first pair's products
/// and orders are [`System::products`] and [`System::orders`].
pub struct Pairs {
    /// Through the second gateway, which asks the second instances.
    pub client: Client,
    pub users: [ServiceProcess; 2],
    pub gateways: [ServiceProcess; 2],
    pub products: ServiceProcess,
    pub orders: ServiceProcess,
}

impl Pairs {
    /// Every process of both pairs.
    pub fn all<'a>(&'a self, system: &'a System) -> [&'a ServiceProcess; 8] {
        [
            &self.users[0],
            &system.products,
            &system.orders,
            &self.gateways[0],
            &self.users[1],
            &self.products,
            &self.orders,
            &self.gateways[1],
        ]
    }
}

/// A `syncchain serve <role>` child process on a fixed port.
pub struct ServiceProcess {
    role: &'static str,
    port: u16,
    /// Where `/readyz` is: the service's own port, or a gateway's admin port.
    ready_port: u16,
    env: Vec<(String, String)>,
    child: tokio::sync::Mutex<Option<Child>>,
}

impl ServiceProcess {
    fn new(role: &'static RoleSpec, env: &[(String, String)]) -> Self {
        let port = syncchain_testkit::process::spare_port();
        let mut env = env.to_vec();
        env.push((role.addr_var.to_owned(), format!("127.0.0.1:{port}")));
        Self {
            role: role.name,
            port,
            ready_port: port,
            env,
            child: tokio::sync::Mutex::new(None),
        }
    }

    /// A gateway process: GraphQL on its port, readiness on an admin port.
    fn gateway(env: &[(String, String)]) -> Self {
        let mut gateway = Self::new(&roles::GATEWAY, env);
        gateway.ready_port = syncchain_testkit::process::spare_port();
        gateway.env.push((
            roles::GATEWAY_ADMIN.addr_var.to_owned(),
            format!("127.0.0.1:{}", gateway.ready_port),
        ));
        gateway
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of this gateway process.
    fn client(&self, admin_email: &str) -> Client {
        Client::new(
            self.url(),
            format!("http://127.0.0.1:{}", self.ready_port),
            admin_email.to_owned(),
        )
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
        let url = format!("http://127.0.0.1:{}/readyz", self.ready_port);
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
    /// Every service twice, as processes, when asked for.
    pub pairs: Option<Pairs>,
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
        let mut settings = Settings::fresh(&nats_url).await;
        let orders_database = if options.proxy_orders_database {
            let target: SocketAddr = "127.0.0.1:5432".parse().expect("address");
            let proxy = TcpProxy::start(target).await;
            let url = settings.get("SYNCCHAIN_ORDERS_DATABASE_URL").replacen(
                "127.0.0.1:5432",
                &format!("127.0.0.1:{}", proxy.port()),
                1,
            );
            settings.set("SYNCCHAIN_ORDERS_DATABASE_URL", &url);
            Some(proxy)
        } else {
            None
        };
        settings.set("SYNCCHAIN_LOG", "warn");
        settings.set("SYNCCHAIN_PLACE_ORDER_WAIT", "0");
        for (name, value) in options.settings {
            settings.set(name, value);
        }
        let users_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let users_url = format!("http://{}", users_listener.local_addr().expect("bound"));
        settings.set("SYNCCHAIN_USERS_URL", &users_url);
        let shutdown = Shutdown::new();
        let metrics = Metrics::new();
        if options.second_instances {
            drop(users_listener);
            return Self::start_pairs(settings, nats, orders_database, shutdown).await;
        }
        let (products, orders) = Self::start_pair(&mut settings).await;

        let env = settings.env();
        start_service(Role::Users, &env, users_listener, &shutdown, &metrics).await;
        let gateway = start_gateway(&env, &shutdown, &metrics).await;
        let client = Client::new(
            format!("http://{}", gateway.public),
            format!("http://{}", gateway.admin),
            settings.admin_email.clone(),
        );
        client.wait_until_ready().await;
        Self {
            client,
            products,
            orders,
            pairs: None,
            nats,
            orders_database,
            namespace: settings.namespace.clone(),
            products_database_url: settings.get("SYNCCHAIN_PRODUCTS_DATABASE_URL").to_owned(),
            orders_database_url: settings.get("SYNCCHAIN_ORDERS_DATABASE_URL").to_owned(),
            shutdown,
        }
    }

    /// A products and an orders process (orders asking that products),
    /// started; `settings` then name them for the gateway.
    async fn start_pair(settings: &mut Settings) -> (ServiceProcess, ServiceProcess) {
        let products = ServiceProcess::new(&roles::PRODUCTS, settings.vars());
        settings.set("SYNCCHAIN_PRODUCTS_URL", &products.url());
        let orders = ServiceProcess::new(&roles::ORDERS, settings.vars());
        settings.set("SYNCCHAIN_ORDERS_URL", &orders.url());
        products.start().await;
        orders.start().await;
        (products, orders)
    }

    /// Every service as its own process, twice: two pairs of users,
    /// products, orders and a gateway in front of them.
    async fn start_pairs(
        mut settings: Settings,
        nats: Option<NatsServer>,
        orders_database: Option<TcpProxy>,
        shutdown: Shutdown,
    ) -> Self {
        let mut pair = async || {
            let users = ServiceProcess::new(&roles::USERS, settings.vars());
            settings.set("SYNCCHAIN_USERS_URL", &users.url());
            // One after the other: each makes sure the admin exists.
            users.start().await;
            let (products, orders) = Self::start_pair(&mut settings).await;
            let gateway = ServiceProcess::gateway(settings.vars());
            gateway.start().await;
            (users, products, orders, gateway)
        };
        let (users_a, products_a, orders_a, gateway_a) = pair().await;
        let (users_b, products_b, orders_b, gateway_b) = pair().await;
        let client = gateway_a.client(&settings.admin_email);
        let pairs = Pairs {
            client: gateway_b.client(&settings.admin_email),
            users: [users_a, users_b],
            gateways: [gateway_a, gateway_b],
            products: products_b,
            orders: orders_b,
        };
        Self {
            client,
            products: products_a,
            orders: orders_a,
            pairs: Some(pairs),
            nats,
            orders_database,
            namespace: settings.namespace.clone(),
            products_database_url: settings.get("SYNCCHAIN_PRODUCTS_DATABASE_URL").to_owned(),
            orders_database_url: settings.get("SYNCCHAIN_ORDERS_DATABASE_URL").to_owned(),
            shutdown,
        }
    }

    /// Orders of one item each, one stream per token, while `fault` runs:
    /// at least `count` of them, and until the fault is over, so orders keep
    /// coming before, during and after it. The fault waits on `progress` to
    /// strike mid-way. Returns the answers.
    pub async fn burst(
        &self,
        tokens: &[String],
        product: &str,
        count: usize,
        progress: &Progress,
        fault: impl std::future::Future<Output = ()>,
    ) -> Vec<Value> {
        let workers = join_all(tokens.iter().map(|token| async move {
            let mut answers = Vec::new();
            while progress.keep_going(count) {
                let answer = self.place_order(token, product, 1).await;
                progress.record(&answer);
                answers.push(answer);
            }
            answers
        }));
        let fault = async {
            fault.await;
            progress.fault_over.store(true, Ordering::SeqCst);
            progress.changed.notify_waiters();
        };
        let (answers, ()) = tokio::join!(workers, fault);
        answers.into_iter().flatten().collect()
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
        let orders = syncchain_testkit::poll(
            Duration::from_secs(90),
            || self.orders_by_status(admin),
            |orders| !orders.contains_key("PENDING"),
        )
        .await;
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

/// How far a burst has come; faults wait on it instead of on the clock.
#[derive(Default)]
pub struct Progress {
    answered: AtomicUsize,
    refused: AtomicUsize,
    fault_over: AtomicBool,
    changed: Notify,
}

/// Orders a burst sends at most, whatever the fault does.
const BURST_CAP: usize = 2_000;

impl Progress {
    fn keep_going(&self, count: usize) -> bool {
        let answered = self.answered.load(Ordering::SeqCst);
        answered < BURST_CAP && (answered < count || !self.fault_over.load(Ordering::SeqCst))
    }

    fn record(&self, answer: &Value) {
        if !answer["data"]["placeOrder"]["id"].is_string() {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Waits (at most 60 s) until `n` more orders have been answered.
    pub async fn answered(&self, n: usize) {
        let target = self.answered.load(Ordering::SeqCst) + n;
        self.until(|p| p.answered.load(Ordering::SeqCst) >= target)
            .await;
    }

    /// Waits (at most 60 s) until `n` more orders have been refused.
    pub async fn refused(&self, n: usize) {
        let target = self.refused.load(Ordering::SeqCst) + n;
        self.until(|p| p.refused.load(Ordering::SeqCst) >= target)
            .await;
    }

    async fn until(&self, done: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let changed = self.changed.notified();
                if done(self) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the burst did not get that far");
    }
}

/// Orders whose answer was an accepted order (any status).
pub fn accepted(answers: &[Value]) -> usize {
    answers
        .iter()
        .filter(|a| a["data"]["placeOrder"]["id"].is_string())
        .count()
}
