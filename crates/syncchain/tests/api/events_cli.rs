//! `syncchain events` against a running system, as an operator runs it:
//! the status of streams, consumers and databases, and the life of a dead
//! letter (listed, shown, redriven once through its consumer, parked again
//! when it fails again, discarded).

use std::time::Duration;

use serde_json::{Value, json};
use syncchain_events::{Envelope, payloads::orders::OrderCancelledV1};

use crate::support::{TestApp, unique_email};

impl TestApp {
    fn setting(&self, name: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is not set"))
    }

    /// Runs `syncchain events <args> --json`; its output, parsed.
    async fn events_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        all.push("--json");
        let output = self.cli(&all).await;
        assert!(
            output.status.success(),
            "syncchain {all:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("JSON")
    }

    async fn held_letters(&self) -> Vec<Value> {
        let listed = self.events_json(&["dead-letters", "list"]).await;
        listed.as_array().cloned().unwrap_or_default()
    }

    /// The held dead letters once there are `n`; fails the test after 20 s.
    async fn wait_for_held(&self, n: usize) -> Vec<Value> {
        let reached = syncchain_testkit::eventually(Duration::from_secs(20), || async {
            self.held_letters().await.len() == n
        })
        .await;
        assert!(
            reached,
            "never {n} dead letters: {:?}",
            self.held_letters().await
        );
        self.held_letters().await
    }

    async fn publish(&self, subject: &str, payload: Vec<u8>) {
        let jetstream = syncchain_testkit::jetstream(&syncchain_testkit::nats_url()).await;
        let namespace = self.setting("SYNCCHAIN_EVENTS_NAMESPACE");
        jetstream
            .publish(format!("{namespace}.{subject}"), payload.into())
            .await
            .expect("published")
            .await
            .expect("stored");
    }
}

#[tokio::test]
async fn status_shows_streams_consumers_and_databases() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Cup", 300, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    app.place_order(&token, &product, 1).await;

    let status = app.events_json(&["status"]).await;

    let namespace = app.setting("SYNCCHAIN_EVENTS_NAMESPACE");
    let orders = status["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["stream"] == json!(format!("{}_ORDERS", namespace.to_ascii_uppercase())))
        .cloned()
        .unwrap_or_default();
    assert!(orders["messages"].as_u64() >= Some(2), "{status}");
    assert!(orders["bytes"].as_u64() > Some(0), "{status}");
    let products_consumer = orders["consumers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["consumer"] == json!("products"))
        .cloned()
        .unwrap_or_default();
    for field in ["pending", "waiting_for_ack", "redelivered"] {
        assert!(products_consumer[field].is_u64(), "{field}: {status}");
    }
    let services: Vec<&Value> = status["databases"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(services.len(), 3, "{status}");
    for db in services {
        assert!(
            db["outbox_rows"].is_i64() && db["dead_letters"] == json!(0),
            "{status}"
        );
    }
    let text = app.cli(&["events", "status"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("consumer products") && text.contains("outbox"),
        "{text}"
    );
}

#[tokio::test]
async fn a_dead_letter_is_shown_redriven_once_parked_again_and_discarded() {
    let app = TestApp::spawn().await;
    app.publish("orders.placed", b"this is not json".to_vec())
        .await;
    let held = app.wait_for_held(1).await;
    let first = &held[0];
    assert_eq!(first["service"], json!("products"), "{first}");
    assert_eq!(first["consumer"], json!("products"));
    let id = first["id"].to_string();

    let shown = app
        .events_json(&["dead-letters", "show", "products", &id])
        .await;
    assert_eq!(shown["payload"], json!("this is not json"), "{shown}");
    assert!(shown["reason"].as_str().is_some_and(|r| !r.is_empty()));

    let redriven = app
        .events_json(&["dead-letters", "redrive", "products", &id])
        .await;
    assert_eq!(redriven["duplicate"], json!(false), "{redriven}");
    // Still undecodable: its consumer parks it again, as a new row.
    let again = app.wait_for_held(1).await;
    assert_ne!(again[0]["id"], first["id"], "{again:?}");
    let old = app
        .events_json(&["dead-letters", "show", "products", &id])
        .await;
    assert!(old["redriven_at"].is_string(), "{old}");
    let twice = app
        .cli(&["events", "dead-letters", "redrive", "products", &id])
        .await;
    assert!(
        !twice.status.success(),
        "a second redrive of one row went ahead"
    );

    let new_id = again[0]["id"].to_string();
    app.events_json(&["dead-letters", "discard", "products", &new_id])
        .await;
    assert!(app.held_letters().await.is_empty());
    let unknown = app
        .cli(&["events", "dead-letters", "show", "orders", "999999"])
        .await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("999999"));
}

#[tokio::test]
async fn a_redriven_message_that_can_be_applied_goes_through_its_consumer() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Bowl", 700, 5).await;
    let (user, token) = app.customer(&unique_email("ada")).await;
    let placed = app.place_order(&token, &product, 2).await;
    let order = &placed["data"]["placeOrder"];
    assert_eq!(order["status"], json!("CONFIRMED"), "{placed}");
    assert_eq!(app.stock(&product).await, 3);
    // The order's cancellation as products would have parked it, had its
    // database refused it past the retry budget.
    let cancelled = Envelope::new(&OrderCancelledV1 {
        order_id: order["id"].as_str().unwrap_or_default().parse().unwrap(),
        user_id: user.parse().unwrap(),
        product_id: product.parse().unwrap(),
        quantity: 2,
    })
    .unwrap();
    let pool = sqlx::PgPool::connect(&app.setting("SYNCCHAIN_PRODUCTS_DATABASE_URL"))
        .await
        .unwrap();
    let namespace = app.setting("SYNCCHAIN_EVENTS_NAMESPACE");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (consumer, subject, event_id, payload, reason, deliveries)
         VALUES ('products', $1, $2, $3, 'database unavailable', 5) RETURNING id",
    )
    .bind(format!("{namespace}.orders.cancelled"))
    .bind(cancelled.id)
    .bind(cancelled.to_json().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();

    app.events_json(&["dead-letters", "redrive", "products", &id.to_string()])
        .await;

    let released = syncchain_testkit::eventually(Duration::from_secs(20), || async {
        app.stock(&product).await == 5
    })
    .await;
    assert!(released, "the redriven cancellation was not applied");
    assert!(app.held_letters().await.is_empty());
}

#[tokio::test]
async fn a_database_not_yet_migrated_is_named_with_what_to_run() {
    let app = TestApp::spawn().await;
    let (_pool, unmigrated) = syncchain_testkit::db::fresh_database().await;

    let output = app
        .cli_with(
            &["events", "status"],
            &[("SYNCCHAIN_USERS_DATABASE_URL", unmigrated.as_str())],
        )
        .await;

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("users database") && stderr.contains("syncchain migrate users"),
        "{stderr}"
    );
    // The rest is still reported.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("products") && stdout.contains("outbox"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_letter_older_than_the_streams_keep_is_redriven_only_with_force() {
    let app = TestApp::spawn().await;
    let pool = sqlx::PgPool::connect(&app.setting("SYNCCHAIN_ORDERS_DATABASE_URL"))
        .await
        .unwrap();
    let namespace = app.setting("SYNCCHAIN_EVENTS_NAMESPACE");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (consumer, subject, payload, reason, deliveries, parked_at)
         VALUES ('orders', $1, 'old bytes', 'undecodable', 1, now() - interval '8 days')
         RETURNING id",
    )
    .bind(format!("{namespace}.stock.reserved"))
    .fetch_one(&pool)
    .await
    .unwrap();
    let id = id.to_string();

    let refused = app
        .cli(&["events", "dead-letters", "redrive", "orders", &id])
        .await;
    let forced = app
        .events_json(&["dead-letters", "redrive", "orders", &id, "--force"])
        .await;

    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(forced["id"].to_string(), id, "{forced}");
}
