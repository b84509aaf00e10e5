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

use serde_json::{Value, json};

use crate::support::{TestApp, unique_email};

mod cells;

use cells::perform;

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
