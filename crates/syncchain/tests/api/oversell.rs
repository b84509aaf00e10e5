//! No overselling: many customers racing for the last items get exactly
//! the stock there is, and every order gets an outcome.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::support::{TestApp, unique_email};

#[tokio::test]
async fn two_hundred_concurrent_orders_for_ten_items_confirm_exactly_ten() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_PLACE_ORDER_WAIT", "10")]).await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Last ten", 100, 10).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(app.customer(&unique_email(&format!("buyer{i}"))).await.1);
    }

    let started = Instant::now();
    let orders = join_all((0..200).map(|i| {
        let token = tokens[i % tokens.len()].clone();
        let app = &app;
        let product = product.clone();
        async move { app.place_order(&token, &product, 1).await }
    }))
    .await;
    let elapsed = started.elapsed();

    let ids: Vec<String> = orders
        .iter()
        .map(|o| {
            o["data"]["placeOrder"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("placed: {o}"))
                .to_owned()
        })
        .collect();
    // Every order reaches its outcome; read them back as the admin.
    let read_statuses = || async {
        let mut statuses = Vec::new();
        for chunk in ids.chunks(50) {
            let query: String = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| format!("o{i}: order(id: \"{id}\") {{ status }} "))
                .collect();
            let body = app
                .gql(&format!("{{ {query} }}"), json!({}), Some(&admin))
                .await;
            for i in 0..chunk.len() {
                statuses.push(
                    body["data"][format!("o{i}")]["status"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                );
            }
        }
        statuses
    };
    let statuses = syncchain_testkit::poll(Duration::from_secs(60), read_statuses, |statuses| {
        statuses.iter().all(|s| s != "PENDING")
    })
    .await;
    let settled = statuses.iter().all(|s| s != "PENDING");
    assert!(settled, "orders still pending: {statuses:?}");
    let confirmed = statuses.iter().filter(|s| *s == "CONFIRMED").count();
    let rejected = statuses.iter().filter(|s| *s == "REJECTED").count();
    assert_eq!((confirmed, rejected), (10, 190), "{statuses:?}");
    assert_eq!(app.stock(&product).await, 0);
    eprintln!("200 concurrent placeOrder calls answered in {elapsed:?}");
}
