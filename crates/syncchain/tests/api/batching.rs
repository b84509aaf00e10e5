//! Nested fields are batched: a list of orders costs one call per kind of
//! nested thing, never one per order.

use serde_json::json;

use crate::support::{TestApp, unique_email};

async fn calls(app: &TestApp, method: &str) -> u64 {
    let text = app
        .http
        .get(format!("{}/metrics", app.admin_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| {
            l.starts_with(&format!(
                "syncchain_grpc_client_requests_total{{method=\"{method}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn listing_orders_with_users_and_products_makes_one_call_per_kind() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut products = Vec::new();
    for i in 0..3 {
        products.push(app.product(&admin, &format!("Item {i}"), 100, 100).await);
    }
    for i in 0..4 {
        let (_, token) = app.customer(&unique_email(&format!("c{i}"))).await;
        for product in &products {
            app.place_order(&token, product, 1).await;
        }
    }
    let users_before = calls(&app, "users.v1.Users/GetUsers").await;
    let products_before = calls(&app, "products.v1.Products/GetProducts").await;

    let body = app
        .gql(
            "{ orders(first: 50) { id user { id email } product { id name } } }",
            json!({}),
            Some(&admin),
        )
        .await;

    let orders = body["data"]["orders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(orders.len(), 12, "{body}");
    assert!(
        orders
            .iter()
            .all(|o| o["user"]["email"].is_string() && o["product"]["name"].is_string()),
        "{body}"
    );
    assert_eq!(
        calls(&app, "users.v1.Users/GetUsers").await - users_before,
        1
    );
    assert_eq!(
        calls(&app, "products.v1.Products/GetProducts").await - products_before,
        1
    );
}
