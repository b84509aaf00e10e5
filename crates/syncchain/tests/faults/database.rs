//! The orders service's Postgres unreachable for a while: placing an order
//! fails with a clear, coded error and writes nothing; once it is back,
//! everything accepted settles.

use std::time::Duration;

use serde_json::json;

use crate::support::{Options, System, code};

#[tokio::test]
async fn orders_postgres_away_refuses_orders_cleanly_and_recovers() {
    let system = System::start(Options {
        proxy_orders_database: true,
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Bolt", 100, 20).await;
    let tokens = system.customers(3).await;
    for token in &tokens {
        let placed = system.place_order(token, &product, 1).await;
        assert!(placed["data"]["placeOrder"]["id"].is_string(), "{placed}");
    }
    let proxy = system.orders_database.as_ref().expect("proxy");

    proxy.cut();
    let refused = system.place_order(&tokens[0], &product, 1).await;
    let listed = system
        .gql("{ orders { id } }", json!({}), Some(&tokens[0]))
        .await;
    proxy.restore();

    assert_eq!(code(&refused), "INTERNAL", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("try again"),
        "{refused}"
    );
    let message = refused["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        !message.contains("sql") && !message.contains("5432") && !message.contains("pool"),
        "{refused}"
    );
    assert!(
        listed["errors"].is_array(),
        "reads fail while the database is away: {listed}"
    );

    // Back: the service reconnects on its own and the refused order left no trace.
    let recovered = syncchain_testkit::eventually(Duration::from_secs(30), || async {
        system.place_order(&tokens[1], &product, 1).await["data"]["placeOrder"]["id"].is_string()
    })
    .await;
    assert!(recovered, "orders did not recover");
    let (confirmed, rejected) = system.assert_at_rest(&admin, &product, 20).await;
    assert_eq!((confirmed, rejected), (4, 0));
}
