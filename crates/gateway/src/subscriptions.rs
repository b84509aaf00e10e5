//! Subscriptions over WebSocket on `GET /graphql`, speaking
//! graphql-transport-ws (and the older graphql-ws). The token may come in
//! the upgrade request's `Authorization` header or, as browsers cannot set
//! headers on a WebSocket, in the `connection_init` payload as
//! `{"Authorization": "Bearer <token>"}` (`authorization` and `token` are
//! read too). Each operation checks it again, so a token signed out of stops
//! working for new subscriptions at once; a running `orderUpdated` checks
//! it again as it runs and ends when it is signed out, demoted or expired.
//! Only subscriptions run here: queries and mutations go over HTTP POST,
//! with its limits. A message or frame larger than the HTTP body limit
//! closes the socket before it is parsed, and each socket counts its own
//! subscriptions (see `subscription_slots`).

use std::net::SocketAddr;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{FromRequestParts, WebSocketUpgrade},
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};

use crate::{
    app::AppState,
    auth::RequestAuth,
    http::client_address,
    schema::{ClientAddress, RequestContext},
    subscription_slots::SocketSlots,
};

fn token_from_payload(payload: &serde_json::Value) -> Option<String> {
    ["Authorization", "authorization", "token"]
        .iter()
        .find_map(|key| payload.get(key).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

pub async fn upgrade(state: AppState, peer: SocketAddr, mut parts: Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => {
            return (
                status,
                "unsupported WebSocket subprotocol; use graphql-transport-ws",
            )
                .into_response();
        }
    };
    let websocket = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(websocket) => websocket,
        Err(rejection) => return rejection.into_response(),
    };
    let header_token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let address = ClientAddress(client_address(&parts.headers, peer, state.trust_proxy));
    let schema = state.schema.clone();
    let services = state.services.clone();
    let max_bytes = state.limits.max_body_bytes;
    let idle_timeout = state.idle_timeout;
    websocket
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| async move {
            let slots = SocketSlots::default();
            let serving = GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init({
                    let slots = slots.clone();
                    move |payload| async move {
                        let token = token_from_payload(&payload).or(header_token);
                        let auth = RequestAuth::for_connection(token.as_deref());
                        let mut data = Data::default();
                        data.insert(RequestContext::new(auth, address, &services));
                        data.insert(crate::extensions::WebSocketConnection);
                        data.insert(slots);
                        Ok(data)
                    }
                })
                .serve();
            // A socket with no subscription running is idle like any other
            // connection: it would hold a connection slot for nothing.
            tokio::select! {
                () = serving => {}
                () = slots.idle_for(idle_timeout) => {
                    tracing::debug!(client = %peer, "closing a WebSocket with no subscription");
                }
            }
        })
}
