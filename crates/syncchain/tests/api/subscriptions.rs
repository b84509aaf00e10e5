//! `orderUpdated` over WebSocket, speaking graphql-transport-ws as a
//! client library would.

use serde_json::{Value, json};

use crate::{
    support::{TestApp, unique_email},
    ws::{Socket, connect, receive, send},
};

async fn subscribe(socket: &mut Socket, order: &str) {
    crate::ws::subscribe(socket, "1", order).await;
}

#[tokio::test]
async fn the_owner_sees_the_order_confirmed_then_cancelled() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_PLACE_ORDER_WAIT", "0")]).await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Clock", 2500, 3).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let placed = app.place_order(&token, &product, 1).await;
    let order = placed["data"]["placeOrder"]["id"]
        .as_str()
        .expect("placed")
        .to_owned();
    let mut socket = connect(&app, &token).await;

    subscribe(&mut socket, &order).await;
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("CONFIRMED") {
        let message = receive(&mut socket).await;
        assert_eq!(message["type"], json!("next"), "{message}");
        seen.push(
            message["payload"]["data"]["orderUpdated"]["status"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
        );
    }
    app.gql(
        "mutation($id: ID!) { cancelOrder(id: $id) { id } }",
        json!({ "id": order }),
        Some(&token),
    )
    .await;
    let cancelled = receive(&mut socket).await;
    let complete = receive(&mut socket).await;

    assert!(
        seen.iter().all(|s| s == "PENDING" || s == "CONFIRMED"),
        "{seen:?}"
    );
    assert_eq!(
        cancelled["payload"]["data"]["orderUpdated"]["status"],
        json!("CANCELLED"),
        "{cancelled}"
    );
    assert_eq!(complete["type"], json!("complete"), "{complete}");
}

#[tokio::test]
async fn another_users_order_cannot_be_watched() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Vase", 700, 3).await;
    let (_, ada) = app.customer(&unique_email("ada")).await;
    let (_, bob) = app.customer(&unique_email("bob")).await;
    let placed = app.place_order(&ada, &product, 1).await;
    let order = placed["data"]["placeOrder"]["id"]
        .as_str()
        .expect("placed")
        .to_owned();
    let mut socket = connect(&app, &bob).await;

    subscribe(&mut socket, &order).await;
    let message = receive(&mut socket).await;

    let refused = message["type"] == json!("error")
        || message["payload"]["errors"][0]["extensions"]["code"] == json!("FORBIDDEN");
    assert!(refused, "{message}");
    assert!(
        message["payload"]["data"].is_null()
            || message["payload"]["data"]["orderUpdated"].is_null(),
        "{message}"
    );
}

#[tokio::test]
async fn a_socket_runs_only_subscriptions_and_rechecks_the_token_each_time() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Bell", 300, 3).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let placed = app.place_order(&token, &product, 1).await;
    let order = placed["data"]["placeOrder"]["id"]
        .as_str()
        .expect("placed")
        .to_owned();
    let mut socket = connect(&app, &token).await;

    send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": {
        "query": "mutation($input: OrderInput!) { placeOrder(input: $input) { id } }",
        "variables": { "input": { "productId": product, "quantity": 1 } } } }),
    )
    .await;
    let mutation = receive(&mut socket).await;
    app.gql("mutation { signOut }", json!({}), Some(&token))
        .await;
    subscribe(&mut socket, &order).await;
    let mut after_sign_out = receive(&mut socket).await;
    while after_sign_out["id"] != json!("1") {
        after_sign_out = receive(&mut socket).await;
    }

    let refused = |m: &Value, code: &str| {
        m["type"] == json!("error") && m["payload"][0]["extensions"]["code"] == json!(code)
            || m["payload"]["errors"][0]["extensions"]["code"] == json!(code)
    };
    assert!(refused(&mutation, "BAD_USER_INPUT"), "{mutation}");
    assert!(
        refused(&after_sign_out, "UNAUTHENTICATED"),
        "{after_sign_out}"
    );
    assert_eq!(
        app.stock(&product).await,
        2,
        "the mutation on the socket did nothing"
    );
}
