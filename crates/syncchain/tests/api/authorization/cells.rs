//! One small function per field: it performs the field for an actor and
//! returns the outcome, fresh data for each cell where the field changes
//! data. `orderUpdated` goes over a graphql-transport-ws socket.

use std::{collections::BTreeMap, time::Duration};

use futures::{FutureExt, SinkExt, StreamExt, future::BoxFuture};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use super::{Actor, NOT_APPLICABLE, World};
use crate::support::{PASSWORD, registration, unique_email};

/// The outcome of a response whose data is at `data.<field>`.
fn outcome(body: &Value, field: &str) -> String {
    if let Some(code) = body["errors"][0]["extensions"]["code"].as_str() {
        return code.to_owned();
    }
    assert!(body["errors"].is_null(), "an error without a code: {body}");
    if body["data"][field].is_null() {
        "null".to_owned()
    } else {
        "allowed".to_owned()
    }
}

type Cell = for<'a> fn(&'a World, Actor) -> BoxFuture<'a, String>;

/// The function that performs each field, by `Type.field`.
fn cells() -> BTreeMap<&'static str, Cell> {
    let mut cells: BTreeMap<&'static str, Cell> = BTreeMap::new();
    cells.insert("Query.users", |w, a| {
        users(w, a, "{ users { id } }", "users").boxed()
    });
    cells.insert("Query.usersConnection", |w, a| {
        users(
            w,
            a,
            "{ usersConnection { nodes { id } } }",
            "usersConnection",
        )
        .boxed()
    });
    cells.insert("Query.user", |w, a| user_field(w, a, "id").boxed());
    cells.insert("Query.me", |w, a| me(w, a).boxed());
    cells.insert("Query.signin", |w, a| sign_in(w, a, true).boxed());
    cells.insert("Query.products", |w, a| {
        catalogue(w, a, "{ products { id } }", "products").boxed()
    });
    cells.insert("Query.productsConnection", |w, a| {
        catalogue(
            w,
            a,
            "{ productsConnection { nodes { id } } }",
            "productsConnection",
        )
        .boxed()
    });
    cells.insert("Query.product", |w, a| product(w, a).boxed());
    cells.insert("Query.orders", |w, a| orders(w, a, false).boxed());
    cells.insert("Query.ordersConnection", |w, a| orders(w, a, true).boxed());
    cells.insert("Query.order", |w, a| order_field(w, a, "id").boxed());
    cells.insert("Mutation.registerUser", |w, a| register_user(w, a).boxed());
    cells.insert("Mutation.setUserRole", |w, a| set_user_role(w, a).boxed());
    cells.insert("Mutation.signIn", |w, a| sign_in(w, a, false).boxed());
    cells.insert("Mutation.signOut", |w, a| sign_out(w, a).boxed());
    cells.insert("Mutation.createProduct", |w, a| {
        create_product(w, a).boxed()
    });
    cells.insert("Mutation.updateProduct", |w, a| {
        update_product(w, a).boxed()
    });
    cells.insert("Mutation.restockProduct", |w, a| {
        restock_product(w, a).boxed()
    });
    cells.insert("Mutation.placeOrder", |w, a| place_order(w, a).boxed());
    cells.insert("Mutation.cancelOrder", |w, a| cancel_order(w, a).boxed());
    cells.insert("Subscription.orderUpdated", |w, a| {
        order_updated(w, a).boxed()
    });
    cells
}

/// `User.<field>` and `Order.<field>` go through `user(id)` and `order(id)`.
pub(super) async fn perform(world: &World, key: &str, actor: Actor) -> String {
    if let Some(cell) = cells().get(key) {
        return cell(world, actor).await;
    }
    match key.split_once('.') {
        Some(("User", field)) => user_field(world, actor, field).await,
        Some(("Order", field)) => order_field(world, actor, field).await,
        _ => panic!("no function performs {key}: add one to `cells`"),
    }
}

async fn users(w: &World, a: Actor, query: &str, field: &str) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    outcome(&w.gql(query, json!({}), a).await, field)
}

async fn user_field(w: &World, a: Actor, field: &str) -> String {
    let query = format!("query($id: ID!) {{ user(id: $id) {{ {field} }} }}");
    let body = w.gql(&query, json!({ "id": w.target(a).id }), a).await;
    outcome(&body, "user")
}

async fn me(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    outcome(&w.gql("{ me { id } }", json!({}), a).await, "me")
}

/// `signin` (the query) or `signIn` on a fresh account, sent with the
/// actor's token.
async fn sign_in(w: &World, a: Actor, query: bool) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let email = unique_email("signin");
    w.app.register(&email).await;
    let input = json!({ "input": { "email": email, "password": PASSWORD } });
    let (operation, field) = if query {
        (
            "query($input: SigninInput!) { signin(input: $input) { token } }",
            "signin",
        )
    } else {
        (
            "mutation($input: SigninInput!) { signIn(input: $input) { token } }",
            "signIn",
        )
    };
    outcome(&w.gql(operation, input, a).await, field)
}

async fn catalogue(w: &World, a: Actor, query: &str, field: &str) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    outcome(&w.gql(query, json!({}), a).await, field)
}

async fn product(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let body = w
        .gql(
            "query($id: ID!) { product(id: $id) { id } }",
            json!({ "id": w.product }),
            a,
        )
        .await;
    outcome(&body, "product")
}

/// A list of orders: `own only` when it holds ada's order and not bob's.
async fn orders(w: &World, a: Actor, connection: bool) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let (query, field) = if connection {
        (
            "{ ordersConnection(first: 100) { nodes { id } } }",
            "ordersConnection",
        )
    } else {
        ("{ orders(first: 100) { id } }", "orders")
    };
    let body = w.gql(query, json!({}), a).await;
    let result = outcome(&body, field);
    if result != "allowed" {
        return result;
    }
    let list = if connection {
        &body["data"][field]["nodes"]
    } else {
        &body["data"][field]
    };
    let holds = |id: &str| {
        list.as_array()
            .is_some_and(|orders| orders.iter().any(|o| o["id"] == json!(id)))
    };
    match (holds(&w.ada.order), holds(&w.bob.order)) {
        (true, true) => "allowed".into(),
        (true, false) => "own only".into(),
        seen => format!("unexpected list {seen:?}"),
    }
}

async fn order_field(w: &World, a: Actor, field: &str) -> String {
    let selection = match field {
        "product" | "user" => format!("{field} {{ id }}"),
        "history" => "history { status }".to_owned(),
        "lines" => "lines { quantity product { id } }".to_owned(),
        _ => field.to_owned(),
    };
    let query = format!("query($id: ID!) {{ order(id: $id) {{ {selection} }} }}");
    let body = w.gql(&query, json!({ "id": w.target(a).order }), a).await;
    let result = outcome(&body, "order");
    if result == "allowed"
        && matches!(field, "product" | "user")
        && body["data"]["order"][field].is_null()
    {
        return "null".into();
    }
    result
}

async fn register_user(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let input = registration(&unique_email("register"));
    let body = w
        .gql(
            "mutation($input: RegisterInput!) { registerUser(input: $input) { id } }",
            json!({ "input": input }),
            a,
        )
        .await;
    outcome(&body, "registerUser")
}

/// Making someone an admin: a fresh customer themselves ("own"), another
/// fresh customer, each with a fresh customer's token so a wrong answer
/// cannot spoil the other cells.
async fn set_user_role(w: &World, a: Actor) -> String {
    let (target, _) = w.fresh_customer().await;
    let (actor_id, actor_token) = w.fresh_customer().await;
    let (id, token) = match a {
        Actor::Anonymous => (target, None),
        Actor::Own => (actor_id, Some(actor_token)),
        Actor::Other => (target, Some(actor_token)),
        Actor::Admin => (target, Some(w.admin.clone())),
    };
    let body = w
        .app
        .gql(
            "mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id role } }",
            json!({ "id": id }),
            token.as_deref(),
        )
        .await;
    outcome(&body, "setUserRole")
}

/// Signing out a fresh token of a fresh customer, or of the admin.
async fn sign_out(w: &World, a: Actor) -> String {
    let token = match a {
        Actor::Anonymous => None,
        Actor::Own => Some(w.fresh_customer().await.1),
        Actor::Other => return NOT_APPLICABLE.into(),
        Actor::Admin => Some(w.app.admin_token().await),
    };
    let body = w
        .app
        .gql("mutation { signOut }", json!({}), token.as_deref())
        .await;
    outcome(&body, "signOut")
}

async fn create_product(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let input = json!({ "name": "Lamp", "price": 1500, "description": "A lamp", "quantity": 2 });
    let body = w
        .gql(
            "mutation($input: ProductInput!) { createProduct(input: $input) { id } }",
            json!({ "input": input }),
            a,
        )
        .await;
    outcome(&body, "createProduct")
}

async fn update_product(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let id = w.fresh_product().await;
    let body = w
        .gql(
            "mutation($id: ID!) { updateProduct(id: $id, input: { price: 900 }) { id } }",
            json!({ "id": id }),
            a,
        )
        .await;
    outcome(&body, "updateProduct")
}

async fn restock_product(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let id = w.fresh_product().await;
    let body = w
        .gql(
            "mutation($id: ID!) { restockProduct(id: $id, quantity: 5) { id } }",
            json!({ "id": id }),
            a,
        )
        .await;
    outcome(&body, "restockProduct")
}

async fn place_order(w: &World, a: Actor) -> String {
    if a == Actor::Other {
        return NOT_APPLICABLE.into();
    }
    let input = json!({ "productId": w.product, "quantity": 1 });
    let body = w
        .gql(
            "mutation($input: OrderInput!) { placeOrder(input: $input) { id } }",
            json!({ "input": input }),
            a,
        )
        .await;
    outcome(&body, "placeOrder")
}

/// Cancelling a fresh confirmed order of ada (bob's in "other's").
async fn cancel_order(w: &World, a: Actor) -> String {
    let owner = &w.target(a).token;
    let order = w.confirmed_order(owner).await;
    let body = w
        .gql(
            "mutation($id: ID!) { cancelOrder(id: $id) { id } }",
            json!({ "id": order }),
            a,
        )
        .await;
    outcome(&body, "cancelOrder")
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The first answer to `orderUpdated` on the target's order, over a
/// graphql-transport-ws socket opened with the actor's token.
async fn order_updated(w: &World, a: Actor) -> String {
    let url = w.app.graphql_url.replace("http://", "ws://");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connected");
    let payload = match w.token(a) {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    let ack = receive(&mut socket).await;
    assert_eq!(ack["type"], json!("connection_ack"), "{ack}");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { orderUpdated(id: $id) { id status } }",
            "variables": { "id": w.target(a).order } } }),
    )
    .await;
    let message = receive(&mut socket).await;
    let _ = socket.close(None).await;
    match message["type"].as_str() {
        Some("next") => outcome(&message["payload"], "orderUpdated"),
        Some("error") => message["payload"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned(),
        _ => format!("unexpected message {message}"),
    }
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
