//! The gateway's copy of product reads (ADR 0019) against the whole
//! system: it answers reads itself, and a change shows no later than its
//! event reaches the gateway, whichever way the change was made (the
//! saga's reservations, another gateway, this one), including while reads
//! race the changes.

use std::time::Duration;

use serde_json::{Value, json};
use syncchain_testkit::{eventually, poll};

use crate::{
    metrics::{scrape, value},
    support::{Client, TestApp, unique_email},
};

const WAIT: Duration = Duration::from_secs(15);
const PRODUCT: &str = "query($id: ID!) { product(id: $id) { name quantity } }";
const FIRST_PAGE: &str = "{ products(first: 5) { id name quantity } }";

/// Product `id`'s name and stock as `client` answers them.
async fn read(client: &Client, id: &str) -> (String, i64) {
    let body = client.gql(PRODUCT, json!({ "id": id }), None).await;
    let product = &body["data"]["product"];
    match (product["name"].as_str(), product["quantity"].as_i64()) {
        (Some(name), Some(quantity)) => (name.to_owned(), quantity),
        _ => panic!("product read: {body}"),
    }
}

/// Product `id`'s name and stock on the first page `client` answers.
async fn listed(client: &Client, id: &str) -> (String, i64) {
    let body = client.gql(FIRST_PAGE, json!({}), None).await;
    let nodes = body["data"]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let node = nodes
        .iter()
        .find(|node| node["id"] == json!(id))
        .unwrap_or_else(|| panic!("{id} listed: {body}"));
    match (node["name"].as_str(), node["quantity"].as_i64()) {
        (Some(name), Some(quantity)) => (name.to_owned(), quantity),
        _ => panic!("listed: {body}"),
    }
}

/// How many lookups of `entry` the gateway behind `client` answered with
/// `result`.
async fn lookups(client: &Client, entry: &str, result: &str) -> f64 {
    let text = scrape(client, &client.admin_url).await;
    value(
        &text,
        "syncchain_gateway_product_reads_total",
        &[("entry", entry), ("result", result)],
    )
    .unwrap_or(0.0)
}

/// Reads `id` and the first page through `client` until both are answered
/// from the gateway's copy (its feed has subscribed and the copy is
/// filled).
async fn until_kept(client: &Client, id: &str) {
    let kept = eventually(WAIT, || async {
        read(client, id).await;
        listed(client, id).await;
        lookups(client, "product", "hit").await > 0.0 && lookups(client, "page", "hit").await > 0.0
    })
    .await;
    assert!(kept, "the gateway never answered from its copy");
}

/// Reads `id` both ways through `client` until both show `expected`, then
/// a few more times: once shown, the change stays.
async fn shows(client: &Client, id: &str, expected: (&str, i64)) {
    let expected = (expected.0.to_owned(), expected.1);
    let last = poll(
        WAIT,
        || async { (read(client, id).await, listed(client, id).await) },
        |(by_id, by_page)| *by_id == expected && *by_page == expected,
    )
    .await;
    assert_eq!(
        last,
        (expected.clone(), expected.clone()),
        "the change never showed"
    );
    for _ in 0..10 {
        assert_eq!(read(client, id).await, expected, "an older copy came back");
        assert_eq!(
            listed(client, id).await,
            expected,
            "an older page came back"
        );
    }
}

async fn rename(client: &Client, admin: &str, id: &str, name: &str) -> Value {
    client
        .gql(
            "mutation($id: ID!, $name: String) { updateProduct(id: $id, input: { name: $name }) { name } }",
            json!({ "id": id, "name": name }),
            Some(admin),
        )
        .await
}

#[tokio::test]
async fn a_reservation_by_the_saga_shows_through_the_gateways_copy() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let kettle = app.product(&admin, "Kettle", 2_500, 10).await;
    let (_, customer) = app.customer(&unique_email("reads")).await;
    until_kept(&app, &kettle).await;

    let placed = app.place_order(&customer, &kettle, 3).await;

    assert_eq!(
        placed["data"]["placeOrder"]["status"], "CONFIRMED",
        "{placed}"
    );
    shows(&app, &kettle, ("Kettle", 7)).await;
}

#[tokio::test]
async fn a_change_through_another_gateway_shows_at_this_one() {
    let app = TestApp::spawn().await;
    let other = app.another_gateway().await;
    let admin = app.admin_token().await;
    let kettle = app.product(&admin, "Kettle", 2_500, 10).await;
    until_kept(&app, &kettle).await;

    let renamed = rename(&other, &admin, &kettle, "Steel kettle").await;
    let restocked = other
        .gql(
            "mutation($id: ID!) { restockProduct(id: $id, quantity: 5) { quantity } }",
            json!({ "id": kettle }),
            Some(&admin),
        )
        .await;

    assert_eq!(
        renamed["data"]["updateProduct"]["name"], "Steel kettle",
        "{renamed}"
    );
    assert_eq!(
        restocked["data"]["restockProduct"]["quantity"], 15,
        "{restocked}"
    );
    shows(&app, &kettle, ("Steel kettle", 15)).await;
}

#[tokio::test]
async fn a_change_through_this_gateway_shows_on_its_next_read() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let kettle = app.product(&admin, "Kettle", 2_500, 10).await;
    until_kept(&app, &kettle).await;

    let renamed = rename(&app, &admin, &kettle, "Copper kettle").await;

    assert_eq!(
        renamed["data"]["updateProduct"]["name"], "Copper kettle",
        "{renamed}"
    );
    // At once: no waiting for the event.
    assert_eq!(read(&app, &kettle).await, ("Copper kettle".to_owned(), 10));
    assert_eq!(
        listed(&app, &kettle).await,
        ("Copper kettle".to_owned(), 10)
    );
}

#[tokio::test]
async fn reads_racing_orders_end_on_the_stock_left() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let kettle = app.product(&admin, "Kettle", 2_500, 50).await;
    let mut customers = Vec::new();
    for i in 0..4 {
        customers.push(app.customer(&unique_email(&format!("racer{i}"))).await.1);
    }
    until_kept(&app, &kettle).await;

    let orders = futures::future::join_all(customers.iter().map(|token| {
        let (app, kettle) = (&app, &kettle);
        async move {
            let mut confirmed = 0;
            for _ in 0..5 {
                let placed = app.place_order(token, kettle, 1).await;
                if placed["data"]["placeOrder"]["status"] == "CONFIRMED" {
                    confirmed += 1;
                }
            }
            confirmed
        }
    }));
    let readers = futures::future::join_all((0..4).map(|_| {
        let (app, kettle) = (&app, &kettle);
        async move {
            for _ in 0..40 {
                read(app, kettle).await;
                listed(app, kettle).await;
            }
        }
    }));
    let (confirmed, _) = tokio::join!(orders, readers);

    assert_eq!(confirmed.iter().sum::<i32>(), 20, "every order confirmed");
    shows(&app, &kettle, ("Kettle", 30)).await;
}

#[tokio::test]
async fn unknown_ids_and_searched_or_paged_lists_are_never_kept() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let kettle = app.product(&admin, "Kettle", 2_500, 10).await;
    until_kept(&app, &kettle).await;
    let kept_before = lookups(&app, "page", "bypass").await;

    for _ in 0..20 {
        let unknown = uuid::Uuid::new_v4().to_string();
        let body = app.gql(PRODUCT, json!({ "id": unknown }), None).await;
        assert_eq!(crate::support::code(&body), "NOT_FOUND", "{body}");
    }
    let searched = app
        .gql(
            "{ products(first: 5, search: \"ket\") { id } }",
            json!({}),
            None,
        )
        .await;

    assert_eq!(
        searched["data"]["products"][0]["id"],
        json!(kettle),
        "{searched}"
    );
    assert!(lookups(&app, "page", "bypass").await > kept_before);
    // A miss each time: an unknown id is asked of the products service
    // again, never remembered.
    assert!(lookups(&app, "product", "miss").await >= 20.0);
}
