//! Two instances of every service (users, products, orders, gateway), each
//! a separate `syncchain serve` process on the same databases and NATS, in
//! two pairs: each gateway asks its own pair's users, products and orders.
//! A burst of orders of two lines with idempotency keys, some
//! cancelled, runs through both gateways while instances are killed with
//! `kill -9` and started again, at points the burst's progress picks (a
//! seeded random choice of instance, printed). A placement that fails is
//! retried with its key through the other gateway, as a client would; an
//! admin restocks both products mid-way. At rest, for every product: initial
//! stock + restocks = current + confirmed quantities,
//! products' held reservations are exactly the confirmed lines, every order
//! is final, and every key made one order.
//!
//! `soak` is the same for minutes and thousands of orders, run by hand:
//! `cargo nextest run -p syncchain --test faults --run-ignored only soak
//! --no-capture` (shape from `SYNCCHAIN_SOAK_CUSTOMERS`, `_PER_CUSTOMER`,
//! `_KILLS`; figures in docs/benchmarks.md).

use std::collections::{HashMap, HashSet};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Client, Options, System};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
struct Shape {
    customers: usize,
    /// Placements each customer makes, one after another (each retried
    /// until it is answered).
    per_customer: usize,
    kills: usize,
    /// Of each product.
    stock: i64,
}

const PLACE: &str = "mutation($input: OrderInput!, $key: String) {
    placeOrder(input: $input, idempotencyKey: $key) { id status } }";

/// What one customer saw: each key with the order ids its answers named.
#[derive(Default)]
struct Seen {
    keys: HashMap<String, HashSet<String>>,
    retries: usize,
    cancelled: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_service_killed_at_random_keep_every_invariant() {
    run(Shape {
        customers: 6,
        per_customer: 12,
        kills: 4,
        stock: 40,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of minutes; run by hand"]
async fn soak() {
    let var = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let customers = var("SYNCCHAIN_SOAK_CUSTOMERS", 40);
    let per_customer = var("SYNCCHAIN_SOAK_PER_CUSTOMER", 50);
    let started = std::time::Instant::now();
    run(Shape {
        customers,
        per_customer,
        kills: var("SYNCCHAIN_SOAK_KILLS", 20),
        // Enough that about half the orders confirm.
        stock: i64::try_from(customers * per_customer).unwrap_or(i64::MAX),
    })
    .await;
    eprintln!("soak: done in {:.1} s", started.elapsed().as_secs_f64());
}

async fn run(shape: Shape) {
    let Shape {
        customers: customer_count,
        per_customer,
        kills,
        stock,
    } = shape;
    let system = System::start(Options {
        second_instances: true,
        // Customers place one after another, faster than a person would,
        // and all of them register and sign in from this one address.
        settings: &[
            ("SYNCCHAIN_ORDER_MAX_PER_MINUTE", "0"),
            ("SYNCCHAIN_REGISTER_MAX_PER_ADDRESS", "1000"),
            ("SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS", "1000"),
        ],
        ..Options::default()
    })
    .await;
    let pairs = system.pairs.as_ref().expect("two of each service");
    let admin = system.admin_token().await;
    let kettle = system.product(&admin, "Kettle", 100, stock).await;
    let toaster = system.product(&admin, "Toaster", 300, stock).await;
    let tokens = system.customers(customer_count).await;
    let gateways: [&Client; 2] = [&system, &pairs.client];
    let instances = pairs.all(&system);
    // SYNCCHAIN_FAULT_SEED replays a run's choice of instances.
    let seed: u64 = std::env::var("SYNCCHAIN_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("instances: kill order seeded with {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let notify = tokio::sync::Notify::new();

    let customers = futures::future::join_all(tokens.iter().enumerate().map(|(c, token)| {
        let (answered, notify, gateways) = (&answered, &notify, gateways);
        let (kettle, toaster) = (&kettle, &toaster);
        async move {
            let mut seen = Seen::default();
            for n in 0..per_customer {
                let key = format!("customer-{c}-order-{n}");
                let input = json!({ "lines": [
                    { "productId": kettle, "quantity": 1 + (n % 2) },
                    { "productId": toaster, "quantity": 1 },
                ] });
                let variables = json!({ "input": input, "key": key });
                // Tried again (through the gateway not tried last) until
                // answered: a killed process is back within seconds.
                let tries = std::cell::Cell::new(0);
                let body = syncchain_testkit::poll(
                    ANSWERED_WITHIN,
                    || {
                        let gateway = gateways[(c + n + tries.get()) % 2];
                        tries.set(tries.get() + 1);
                        let variables = variables.clone();
                        async move {
                            gateway
                                .try_gql(PLACE, variables, token)
                                .await
                                .unwrap_or(Value::Null)
                        }
                    },
                    |body| body["data"]["placeOrder"]["id"].is_string(),
                )
                .await;
                let id = body["data"]["placeOrder"]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key} never answered: {body}"))
                    .to_owned();
                let attempt = tries.get() - 1;
                seen.retries += attempt;
                seen.keys.entry(key.clone()).or_default().insert(id.clone());
                // The same key again, through the other gateway: the same order.
                let again = gateways[(c + n + attempt + 1) % 2]
                    .try_gql(PLACE, variables.clone(), token)
                    .await
                    .unwrap_or(Value::Null);
                if let Some(again) = again["data"]["placeOrder"]["id"].as_str() {
                    seen.keys.entry(key).or_default().insert(again.to_owned());
                }
                if n % 3 == 2 {
                    let cancel = gateways[n % 2]
                        .try_gql(
                            "mutation($id: ID!) { cancelOrder(id: $id) { status } }",
                            json!({ "id": id }),
                            token,
                        )
                        .await
                        .unwrap_or(Value::Null);
                    if cancel["data"]["cancelOrder"]["status"] == json!("CANCELLED") {
                        seen.cancelled += 1;
                    }
                }
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                notify.notify_waiters();
            }
            seen
        }
    }));
    let total = customer_count * per_customer;
    let faults = async {
        let mut killed = Vec::new();
        for round in 0..kills {
            // Strike at an even share of the way through the burst.
            let at = total * (round + 1) / (kills + 2);
            wait_for(&answered, &notify, at).await;
            let victim = rng.gen_range(0..instances.len());
            instances[victim].kill().await;
            killed.push(victim);
            // Down for a few more answers (or a moment, if none come).
            let later = (at + 3).min(total);
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                wait_for(&answered, &notify, later),
            )
            .await;
            instances[victim].start().await;
            if round == kills / 2 {
                // Mid-way, an admin restocks both products (through either
                // gateway, whichever answers).
                for product in [&kettle, &toaster] {
                    restock(gateways, &admin, product).await;
                }
            }
        }
        killed
    };
    let (seen, killed) = tokio::join!(customers, faults);

    let orders = all_orders(&system, &admin).await;
    let status_count = |s: &str| orders.iter().filter(|o| o["status"] == json!(s)).count();
    eprintln!(
        "instances: {} orders ({} confirmed, {} rejected, {} cancelled), {} placement retries, kills {killed:?} (users, products, orders, gateway; 4-7 the second pair)",
        orders.len(),
        status_count("CONFIRMED"),
        status_count("REJECTED"),
        status_count("CANCELLED"),
        seen.iter().map(|s| s.retries).sum::<usize>(),
    );
    assert_eq!(killed.len(), kills);
    // Every key made one order, and every order was made by one key.
    let mut keyed: HashMap<String, String> = HashMap::new();
    for customer in &seen {
        for (key, ids) in &customer.keys {
            assert_eq!(ids.len(), 1, "{key} answered with {ids:?}");
            keyed.insert(key.clone(), ids.iter().next().cloned().unwrap_or_default());
        }
    }
    assert_eq!(keyed.len(), total);
    assert_eq!(orders.len(), total, "an order was made twice, or lost");
    let orders_db = PgPool::connect(&system.orders_database_url)
        .await
        .expect("orders database");
    let stored_keys: i64 = sqlx::query_scalar("SELECT count(*) FROM placement_keys")
        .fetch_one(&orders_db)
        .await
        .expect("keys");
    assert_eq!(usize::try_from(stored_keys).ok(), Some(total));
    // Every order final (orders_by_status waited for it), and the stock
    // balances for each product: initial = current + confirmed quantities,
    // and what products holds reserved is exactly the confirmed lines.
    assert!(orders.iter().all(|o| o["status"] != json!("PENDING")));
    let products_db = PgPool::connect(&system.products_database_url)
        .await
        .expect("products database");
    for product in [&kettle, &toaster] {
        let confirmed: i64 = orders
            .iter()
            .filter(|o| o["status"] == json!("CONFIRMED"))
            .flat_map(|o| o["lines"].as_array().cloned().unwrap_or_default())
            .filter(|l| l["productId"] == json!(product))
            .filter_map(|l| l["quantity"].as_i64())
            .sum();
        let balanced =
            syncchain_testkit::eventually(std::time::Duration::from_secs(30), || async {
                system.stock(product).await + confirmed == stock + RESTOCK
            })
            .await;
        let now = system.stock(product).await;
        assert!(
            balanced,
            "{product}: stock {now} + confirmed {confirmed} != {stock} + restocked {RESTOCK}"
        );
        assert!(now >= 0);
        let held: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(quantity), 0)::bigint FROM reservations
             WHERE product_id = $1::uuid AND status = 'RESERVED'",
        )
        .bind(product.as_str())
        .fetch_one(&products_db)
        .await
        .expect("reservations");
        assert_eq!(held, confirmed, "{product}: held reservations");
    }
}

/// How long a placement or restock is tried again before the test fails.
const ANSWERED_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Items each product is restocked with mid-way.
const RESTOCK: i64 = 10;

/// Restocks `product` by [`RESTOCK`], once, through the first gateway that
/// answers.
async fn restock(gateways: [&Client; 2], admin: &str, product: &str) {
    let tries = std::cell::Cell::new(0);
    let restocked = syncchain_testkit::eventually(ANSWERED_WITHIN, || {
        let gateway = gateways[tries.get() % 2];
        tries.set(tries.get() + 1);
        async move {
            gateway
                .try_gql(
                    "mutation($id: ID!, $quantity: Int!) { restockProduct(id: $id, quantity: $quantity) { id } }",
                    json!({ "id": product, "quantity": RESTOCK }),
                    admin,
                )
                .await
                .is_some_and(|b| b["data"]["restockProduct"]["id"].is_string())
        }
    })
    .await;
    assert!(restocked, "{product} was never restocked");
}

/// Waits until `answered` reaches `target`.
async fn wait_for(
    answered: &std::sync::atomic::AtomicUsize,
    notify: &tokio::sync::Notify,
    target: usize,
) {
    loop {
        let changed = notify.notified();
        if answered.load(std::sync::atomic::Ordering::SeqCst) >= target {
            return;
        }
        changed.await;
    }
}

/// Every order with its lines, once none is PENDING (up to 90 s).
async fn all_orders(system: &System, admin: &str) -> Vec<Value> {
    let read = || async {
        let mut orders = Vec::new();
        let mut after = Value::Null;
        loop {
            let body = system
                .gql(
                    "query($after: String) { ordersConnection(first: 100, after: $after) {
                        nodes { id status lines { productId quantity } }
                        pageInfo { endCursor hasNextPage } } }",
                    json!({ "after": after }),
                    Some(admin),
                )
                .await;
            let connection = &body["data"]["ordersConnection"];
            orders.extend(connection["nodes"].as_array().cloned().unwrap_or_default());
            if connection["pageInfo"]["hasNextPage"] != json!(true) {
                return orders;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
    };
    syncchain_testkit::poll(std::time::Duration::from_secs(90), read, |orders| {
        !orders.is_empty() && orders.iter().all(|o| o["status"] != json!("PENDING"))
    })
    .await
}
