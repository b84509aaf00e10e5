//! `docs/authorization.md` is the authorization contract of the API: one
//! row per Query, Mutation and Subscription field and per field of `User`
//! and `Order`, one column per kind of caller. This test keeps it true: it
//! fails when the live schema (read by introspection) has a field the table
//! lacks or the table names a field that is gone, and it performs every
//! cell over HTTP (subscriptions over the WebSocket) with real actors and
//! compares the outcome to the cell.
//!
//! Each field has one small function performing it for an actor and
//! returning the outcome: the first error's `extensions.code`, `null` for
//! a nested object that resolved to null, `own only` for a list that holds
//! the caller's data and not another's, `n/a` where the field has no such
//! form (nobody owns a product; `me` has no "other's"), else `allowed`.
//! Operations that change data get fresh data for each cell.

use std::{collections::BTreeMap, time::Duration};

use futures::{FutureExt, SinkExt, StreamExt, future::BoxFuture};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::support::{PASSWORD, TestApp, unique_email};

/// The columns of the table, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Actor {
    Anonymous,
    /// A customer, on their own data.
    Own,
    /// A customer, on another customer's data.
    Other,
    Admin,
}

const ACTORS: [Actor; 4] = [Actor::Anonymous, Actor::Own, Actor::Other, Actor::Admin];
/// The types whose fields the table covers.
const TYPES: [&str; 5] = ["Query", "Mutation", "Subscription", "User", "Order"];
const NOT_APPLICABLE: &str = "n/a";

/// What every cell starts from: two customers with a confirmed order each,
/// an admin, a product.
struct World {
    app: TestApp,
    admin: String,
    ada: Person,
    bob: Person,
    product: String,
}

struct Person {
    id: String,
    token: String,
    order: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn_with(&[("SYNCCHAIN_INTROSPECTION", "true")]).await;
        let admin = app.admin_token().await;
        let product = app.product(&admin, "Kettle", 1200, 10_000).await;
        let mut world = Self {
            app,
            admin,
            ada: Person::empty(),
            bob: Person::empty(),
            product,
        };
        world.ada = world.person("ada").await;
        world.bob = world.person("bob").await;
        world
    }

    async fn person(&self, name: &str) -> Person {
        let (id, token) = self.app.customer(&unique_email(name)).await;
        let order = self.confirmed_order(&token).await;
        Person { id, token, order }
    }

    /// The token `actor` acts with.
    fn token(&self, actor: Actor) -> Option<&str> {
        match actor {
            Actor::Anonymous => None,
            Actor::Own | Actor::Other => Some(&self.ada.token),
            Actor::Admin => Some(&self.admin),
        }
    }

    /// Whose data `actor` acts on: ada's, except in the "other's" column.
    fn target(&self, actor: Actor) -> &Person {
        match actor {
            Actor::Other => &self.bob,
            _ => &self.ada,
        }
    }

    async fn gql(&self, query: &str, variables: Value, actor: Actor) -> Value {
        self.app.gql(query, variables, self.token(actor)).await
    }

    /// A fresh customer's (id, token).
    async fn fresh_customer(&self) -> (String, String) {
        self.app.customer(&unique_email("cell")).await
    }

    async fn fresh_product(&self) -> String {
        self.app.product(&self.admin, "Mug", 800, 10).await
    }

    /// An order of the customer with `token`, once it is CONFIRMED.
    async fn confirmed_order(&self, token: &str) -> String {
        let placed = self.app.place_order(token, &self.product, 1).await;
        let id = placed["data"]["placeOrder"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("order placed: {placed}"))
            .to_owned();
        let confirmed = syncchain_testkit::eventually(Duration::from_secs(15), || async {
            let body = self
                .app
                .gql(
                    "query($id: ID!) { order(id: $id) { status } }",
                    json!({ "id": id }),
                    Some(token),
                )
                .await;
            body["data"]["order"]["status"] == json!("CONFIRMED")
        })
        .await;
        assert!(confirmed, "order {id} was not confirmed");
        id
    }
}

impl Person {
    fn empty() -> Self {
        Self {
            id: String::new(),
            token: String::new(),
            order: String::new(),
        }
    }
}

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
async fn perform(world: &World, key: &str, actor: Actor) -> String {
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
    let input = crate::support::registration(&unique_email("register"));
    let body = w
        .gql(
            "mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }",
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
            "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
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
            "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }",
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

/// The table's rows: `Type.field` → the four cells, in [`ACTORS`] order.
fn table() -> BTreeMap<String, [String; 4]> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/authorization.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        let Some(key) = cells.first() else { continue };
        let is_row = key
            .split_once('.')
            .is_some_and(|(ty, field)| TYPES.contains(&ty) && !field.is_empty());
        if !is_row {
            continue;
        }
        assert!(
            cells.len() >= 5,
            "row {key} has fewer than four cells: {line}"
        );
        let row = [1, 2, 3, 4].map(|i| cells[i].to_owned());
        assert!(
            rows.insert((*key).to_owned(), row).is_none(),
            "{key} has two rows"
        );
    }
    rows
}

/// Every `Type.field` of the live schema, by introspection.
async fn schema_fields(w: &World) -> Vec<String> {
    let body = w
        .app
        .gql(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } }
               subscriptionType { fields { name } } }
               user: __type(name: \"User\") { fields { name } }
               order: __type(name: \"Order\") { fields { name } } }",
            json!({}),
            None,
        )
        .await;
    let data = &body["data"];
    let types = [
        ("Query", &data["__schema"]["queryType"]),
        ("Mutation", &data["__schema"]["mutationType"]),
        ("Subscription", &data["__schema"]["subscriptionType"]),
        ("User", &data["user"]),
        ("Order", &data["order"]),
    ];
    let mut fields = Vec::new();
    for (name, ty) in types {
        let list = ty["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("introspection of {name}: {body}"));
        fields.extend(
            list.iter()
                .filter_map(|f| f["name"].as_str())
                .map(|f| format!("{name}.{f}")),
        );
    }
    fields
}

#[tokio::test]
async fn every_field_of_the_schema_is_authorized_as_docs_authorization_md_says() {
    let world = World::new().await;
    let table = table();
    let fields = schema_fields(&world).await;

    let missing: Vec<&String> = fields.iter().filter(|f| !table.contains_key(*f)).collect();
    let gone: Vec<&String> = table.keys().filter(|k| !fields.contains(k)).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "docs/authorization.md is out of date: fields without a row {missing:?}, rows without a field {gone:?}"
    );

    let mut wrong = Vec::new();
    for (key, row) in &table {
        for (actor, expected) in ACTORS.iter().zip(row) {
            let actual = perform(&world, key, *actor).await;
            if &actual != expected {
                wrong.push(format!(
                    "{key} as {actor:?}: the table says {expected}, the API answers {actual}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
