//! One customer cannot flood the saga or hold a product's stock: a request
//! of hundreds of aliased placements is refused by the cost guard, one that
//! fits it is cut short by the customer's bounds, and a quantity over the
//! cap is bad input that writes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestApp, code, unique_email};

/// The customer's orders, as they see them.
async fn orders_of(app: &TestApp, token: &str) -> usize {
    let body = app
        .gql(
            "{ ordersConnection(first: 100) { nodes { id } } }",
            json!({}),
            Some(token),
        )
        .await;
    body["data"]["ordersConnection"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("orders listed: {body}"))
        .len()
}

/// A fresh product of 1,000 in stock and a customer who sends `count`
/// aliased placements of one of it in one mutation. Returns the product,
/// the customer's token and the answer.
async fn flood(app: &TestApp, name: &str, count: usize) -> (String, String, Value) {
    let admin = app.admin_token().await;
    let product = app.product(&admin, name, 100, 1_000).await;
    let (_, token) = app.customer(&unique_email("flood")).await;
    let fields: String = (0..count)
        .map(|i| format!("o{i}: placeOrder(input: $input) {{ id }} "))
        .collect();
    let body = app
        .gql(
            &format!("mutation($input: OrderInput!) {{ {fields} }}"),
            json!({ "input": { "productId": product, "quantity": 1 } }),
            Some(&token),
        )
        .await;
    (product, token, body)
}

#[tokio::test]
async fn three_hundred_aliased_placements_in_one_request_are_refused_before_any_runs() {
    let app = TestApp::spawn().await;

    let (product, token, body) = flood(&app, "Bolt", 300).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(orders_of(&app, &token).await, 0);
    assert_eq!(app.stock(&product).await, 1_000);
}

#[tokio::test]
async fn aliased_placements_within_the_cost_limit_stop_at_the_customers_bounds() {
    let app = TestApp::spawn().await;

    // A hundred placements fit the cost guard; the orders service's bounds
    // (10 pending, 60 a minute) must stop them.
    let (product, token, body) = flood(&app, "Washer", 100).await;

    let accepted = body["data"].as_object().map_or(0, |data| {
        data.values().filter(|o| o["id"].is_string()).count()
    });
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert!(accepted >= 1, "{body}");
    assert!(accepted <= 60, "{accepted} of 100 accepted");
    assert!(
        errors
            .iter()
            .any(|e| e["extensions"]["code"] == json!("RATE_LIMITED")),
        "{body}"
    );
    assert_eq!(orders_of(&app, &token).await, accepted);
    let expected = 1_000 - i64::try_from(accepted).unwrap_or(i64::MAX);
    let settled = syncchain_testkit::eventually(Duration::from_secs(15), || async {
        app.stock(&product).await == expected
    })
    .await;
    assert!(settled, "stock {} != {expected}", app.stock(&product).await);
}

#[tokio::test]
async fn a_quantity_over_the_cap_is_bad_input_on_quantity_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Nut", 1, 5_000).await;
    let (_, token) = app.customer(&unique_email("bulk")).await;

    let body: Value = app.place_order(&token, &product, 1_001).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "quantity",
        "{body}"
    );
    assert_eq!(orders_of(&app, &token).await, 0);
    assert_eq!(app.stock(&product).await, 5_000);
}
