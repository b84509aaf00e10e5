//! The predecessor's clients keep working: each kept operation, sent as
//! those clients send it (inline arguments, nested fields, the token in a
//! bare `Authorization` header), succeeds unchanged.

use serde_json::{Value, json};

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
