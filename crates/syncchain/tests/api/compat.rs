//! The predecessor's clients keep working: each kept operation, sent as
//! those clients send it (inline arguments, nested fields, the token in a
//! bare `Authorization` header), succeeds unchanged.

use serde_json::{Value, json};
use syncchain_testkit::predecessor::{
    CREATE_PRODUCT, ORDER, ORDERS, PLACE_ORDER, PRODUCT, PRODUCTS, REGISTER, SIGN_IN, USER, USERS,
};

use crate::support::{PASSWORD, TestApp};

async fn send(app: &TestApp, query: &str, token: Option<&str>) -> Value {
    let (status, body) = app.post_raw(&json!({ "query": query }), token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{query}\n{body}");
    body["data"].clone()
}

#[tokio::test]
async fn every_kept_operation_answers_as_before() {
    let app = TestApp::spawn().await;
    let email = format!("legacy.{}@example.com", uuid::Uuid::new_v4().simple());

    let registered = send(&app, &format!(r#"mutation {{
        registerUser(input: {{ email: "{email}", password: "{PASSWORD}", firstName: "Mary Ann", lastName: "O'Brien", location: "Cork", contactNumber: "0871234567" }}) {{
            id firstName lastName email location contactNumber createdAt
        }}
    }}"#), None).await;
    let user_id = registered["registerUser"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(registered["registerUser"]["firstName"], json!("Mary Ann"));

    let signin = send(&app, &format!(r#"query {{ signin(input: {{ email: "{email}", password: "{PASSWORD}" }}) {{ token }} }}"#), None).await;
    let token = signin["signin"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let admin_signin = send(
        &app,
        &format!(
            r#"query {{ signin(input: {{ email: "{}", password: "{PASSWORD}" }}) {{ token }} }}"#,
            app.admin_email
        ),
        None,
    )
    .await;
    let admin = admin_signin["signin"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let user = send(&app, &format!(r#"query {{ user(id: "{user_id}") {{ id firstName lastName email location contactNumber createdAt }} }}"#), Some(&token)).await;
    assert_eq!(user["user"]["email"], json!(email));
    let users = send(
        &app,
        "query { users { id firstName lastName email location contactNumber createdAt } }",
        Some(&admin),
    )
    .await;
    assert!(users["users"].as_array().is_some_and(|u| u.len() == 2));

    let created = send(&app, r#"mutation {
        createProduct(input: { name: "Blue Teapot", price: 1999, description: "Holds a litre", quantity: 7 }) {
            id name price description quantity createdAt updatedAt
        }
    }"#, Some(&admin)).await;
    let product_id = created["createProduct"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(created["createProduct"]["quantity"], json!(7));

    let products = send(
        &app,
        "query { products { id name price description quantity createdAt updatedAt } }",
        None,
    )
    .await;
    assert_eq!(products["products"][0]["name"], json!("Blue Teapot"));
    let product = send(&app, &format!(r#"query {{ product(id: "{product_id}") {{ id name price description quantity createdAt updatedAt }} }}"#), None).await;
    assert_eq!(product["product"]["price"], json!(1999));

    let placed = send(
        &app,
        &format!(
            r#"mutation {{
        placeOrder(input: {{ productId: "{product_id}", quantity: 2 }}) {{
            id userId productId quantity totalAmount status createdAt
            product {{ id name price }}
            user {{ id email firstName }}
        }}
    }}"#
        ),
        Some(&token),
    )
    .await;
    let order = &placed["placeOrder"];
    assert_eq!(order["totalAmount"], json!(3998));
    assert_eq!(order["status"], json!("CONFIRMED"));
    assert_eq!(order["product"]["name"], json!("Blue Teapot"));
    assert_eq!(order["user"]["email"], json!(email));
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();

    let orders = send(&app, "query { orders { id userId productId quantity totalAmount status createdAt product { name quantity } user { firstName lastName } } }", Some(&token)).await;
    assert_eq!(orders["orders"][0]["product"]["quantity"], json!(5));
    assert_eq!(orders["orders"][0]["user"]["lastName"], json!("O'Brien"));
    let one = send(&app, &format!(r#"query {{ order(id: "{order_id}") {{ id status totalAmount product {{ name }} user {{ email }} }} }}"#), Some(&token)).await;
    assert_eq!(one["order"]["id"], json!(order_id));
}

/// Sends one request as the predecessor's client did and returns `data`,
/// failing on any error.
async fn replay(app: &TestApp, query: &str, variables: Value, token: Option<&str>) -> Value {
    let (status, body) = app
        .post_raw(&json!({ "query": query, "variables": variables }), token)
        .await;
    assert_eq!(status, 200, "{query}\n{body}");
    assert!(body["errors"].is_null(), "{query}\n{body}");
    body["data"].clone()
}

/// Each named field is present with a value of the JSON kind given:
/// `s` string, `n` number, `o` object.
fn assert_shape(value: &Value, fields: &str) {
    for field in fields.split_whitespace() {
        let (name, kind) = field.split_once(':').unwrap_or((field, "s"));
        let got = &value[name];
        let ok = match kind {
            "n" => got.is_i64(),
            "o" => got.is_object(),
            _ => got.as_str().is_some_and(|s| !s.is_empty()),
        };
        assert!(ok, "{name} should be {kind} in {value}");
    }
}

#[tokio::test]
async fn the_predecessors_requests_with_its_input_type_names_answer_in_its_shapes() {
    let app = TestApp::spawn().await;
    let email = format!("client.{}@example.com", uuid::Uuid::new_v4().simple());

    let registered = replay(&app, REGISTER, json!({ "input": { "email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace", "location": "London", "contactNumber": "+442079460000" } }), None).await;
    let user = &registered["registerUser"];
    assert_shape(
        user,
        "id firstName lastName email location contactNumber createdAt",
    );
    let user_id = user["id"].as_str().unwrap_or_default().to_owned();

    let signed_in = |email: String| {
        let app = &app;
        async move {
            let data = replay(
                app,
                SIGN_IN,
                json!({ "input": { "email": email, "password": PASSWORD } }),
                None,
            )
            .await;
            data["signin"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let token = signed_in(email.clone()).await;
    let admin = signed_in(app.admin_email.clone()).await;
    assert!(!token.is_empty() && !admin.is_empty());

    let users = replay(&app, USERS, json!({}), Some(&admin)).await;
    let listed = users["users"].as_array().cloned().unwrap_or_default();
    assert!(listed.iter().any(|u| u["email"] == json!(email)), "{users}");
    for u in &listed {
        assert_shape(u, "id firstName lastName email createdAt");
    }
    let one = replay(&app, USER, json!({ "id": user_id }), Some(&token)).await;
    assert_shape(
        &one["user"],
        "id email firstName lastName location contactNumber createdAt",
    );

    let created = replay(&app, CREATE_PRODUCT, json!({ "input": { "name": "Kettle", "price": 2500, "description": "Boils a litre", "quantity": 4 } }), Some(&admin)).await;
    let product = &created["createProduct"];
    assert_shape(
        product,
        "id name price:n description quantity:n createdAt updatedAt",
    );
    let product_id = product["id"].as_str().unwrap_or_default().to_owned();
    let products = replay(&app, PRODUCTS, json!({}), None).await;
    assert!(
        products["products"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["id"] == json!(product_id))),
        "{products}"
    );
    let fetched = replay(&app, PRODUCT, json!({ "id": product_id }), None).await;
    assert_shape(
        &fetched["product"],
        "id name price:n description quantity:n",
    );

    let placed = replay(
        &app,
        PLACE_ORDER,
        json!({ "input": { "productId": product_id, "quantity": 3 } }),
        Some(&token),
    )
    .await;
    let order = &placed["placeOrder"];
    assert_shape(
        order,
        "id userId productId quantity:n totalAmount:n status createdAt user:o product:o",
    );
    assert_eq!(order["totalAmount"], json!(7500));
    assert_eq!(order["userId"], json!(user_id));
    assert_eq!(order["user"]["email"], json!(email));
    assert_shape(&order["product"], "id name price:n quantity:n");
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();

    let orders = replay(&app, ORDERS, json!({}), Some(&token)).await;
    let mine = &orders["orders"][0];
    assert_shape(
        mine,
        "id userId productId quantity:n totalAmount:n status createdAt user:o product:o",
    );
    assert_eq!(mine["user"]["firstName"], json!("Ada"));
    let fetched = replay(&app, ORDER, json!({ "id": order_id }), Some(&token)).await;
    assert_shape(
        &fetched["order"],
        "id status totalAmount:n user:o product:o",
    );
    assert_eq!(fetched["order"]["product"]["name"], json!("Kettle"));
}
