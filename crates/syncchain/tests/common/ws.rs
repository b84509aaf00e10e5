//! A graphql-transport-ws client, as a client library would speak it,
//! shared by the test binaries.

// Each test binary uses its own part of this client.
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::support::Client;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket past `connection_init`, signed in with `token`.
pub async fn connect(app: &Client, token: &str) -> Socket {
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

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

/// The next message that is not a ping or pong; `None` once the socket is
/// closed (or fails), or nothing came within `within`.
pub async fn next(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match message.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).expect("json");
                if value["type"] != json!("ping") && value["type"] != json!("pong") {
                    return Some(value);
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Whether the server closes the socket within `within`, sending nothing
/// but pings first.
pub async fn closed_within(socket: &mut Socket, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Err(format!("still open after {within:?}")),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return Ok(()),
            Ok(Some(Ok(Message::Text(text))))
                if !text.contains("\"ping\"") && !text.contains("\"pong\"") =>
            {
                return Err(format!("the server answered: {text}"));
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

pub async fn receive(socket: &mut Socket) -> Value {
    next(socket, Duration::from_secs(15))
        .await
        .expect("a message in time")
}

/// Starts `orderUpdated(order)` as operation `id`.
pub async fn subscribe(socket: &mut Socket, id: &str, order: &str) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { orderUpdated(id: $id) { id status } }",
            "variables": { "id": order } } }),
    )
    .await;
}

/// The next message of operation `id`, skipping the others'.
pub async fn receive_for(socket: &mut Socket, id: &str) -> Value {
    loop {
        let message = receive(socket).await;
        if message["id"] == json!(id) {
            return message;
        }
    }
}

/// The code of an operation's error, whichever way the server sent it.
pub fn error_code(message: &Value) -> Option<&str> {
    if message["type"] == json!("error") {
        message["payload"][0]["extensions"]["code"].as_str()
    } else {
        message["payload"]["errors"][0]["extensions"]["code"].as_str()
    }
}

/// The status an `orderUpdated` message carries.
pub fn status(message: &Value) -> Option<&str> {
    message["payload"]["data"]["orderUpdated"]["status"].as_str()
}
