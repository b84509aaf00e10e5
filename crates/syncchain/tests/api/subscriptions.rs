//! `orderUpdated` over WebSocket, speaking graphql-transport-ws as a
//! client library would.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::support::{TestApp, unique_email};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str) -> Socket {
    let url = app.graphql_url.replace("http://", "ws://");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connected");
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(receive(&mut socket).await["type"], json!("connection_ack"));
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("message");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("json");
            if value["type"] != json!("ping") && value["type"] != json!("pong") {
                return value;
            }
        }
    }
}

async fn subscribe(socket: &mut Socket, order: &str) {
    send(
        socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { orderUpdated(id: $id) { id status } }",
            "variables": { "id": order } } }),
    )
    .await;
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
        "query": "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }",
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
