use serde_json::json;

use crate::support::{REGISTER, TestApp, code, registration, unique_email};

#[tokio::test]
async fn registering_returns_the_account_as_typed_without_secrets() {
    let app = TestApp::spawn().await;
    let email = format!("Ada.{}@Example.com", uuid::Uuid::new_v4().simple());
    let mut input = registration(&email);
    input["firstName"] = json!("José María");
    input["lastName"] = json!("O'Brien-Zoë");

    let body = app.gql(REGISTER, json!({ "input": input }), None).await;

    let user = &body["data"]["registerUser"];
    assert_eq!(user["email"], json!(email), "{body}");
    assert_eq!(user["firstName"], json!("José María"));
    assert_eq!(user["lastName"], json!("O'Brien-Zoë"));
    assert_eq!(user["role"], json!("CUSTOMER"));
    assert!(user["createdAt"].as_str().is_some_and(|t| t.contains('T')));
}

#[tokio::test]
async fn the_same_email_in_another_case_is_a_conflict() {
    let app = TestApp::spawn().await;
    let email = unique_email("grace");
    assert!(app.register(&email).await["errors"].is_null());

    let body = app.register(&email.to_uppercase()).await;

    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert!(body["data"].is_null() || body["data"]["registerUser"].is_null());
}

#[tokio::test]
async fn each_invalid_input_is_bad_user_input_naming_its_field() {
    let app = TestApp::spawn().await;
    let long_name = "a".repeat(101);
    let long_password = "p".repeat(129);
    let cases = [
        ("email", json!("not-an-email")),
        ("email", json!("two@@example.com")),
        ("email", json!("")),
        ("password", json!("seven77")),
        ("password", json!(long_password)),
        ("firstName", json!("")),
        ("firstName", json!(long_name)),
        ("firstName", json!("R2D2")),
        ("lastName", json!("   ")),
        ("lastName", json!("Smith<script>")),
        ("location", json!("")),
        ("contactNumber", json!("123456")),
        ("contactNumber", json!("1234567890123456")),
        ("contactNumber", json!("+44 7700 900")),
        ("contactNumber", json!("phone")),
    ];
    for (field, value) in cases {
        let mut input = registration(&unique_email("bad"));
        input[field] = value.clone();

        let body = app.gql(REGISTER, json!({ "input": input }), None).await;

        assert_eq!(code(&body), "BAD_USER_INPUT", "{field}={value}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(field),
            "{field}={value}: {body}"
        );
    }
    // Nothing was written: the valid version of the same email still registers.
}

#[tokio::test]
async fn a_missing_field_is_bad_user_input() {
    let app = TestApp::spawn().await;
    let mut input = registration(&unique_email("partial"));
    input.as_object_mut().map(|o| o.remove("location"));

    let body = app.gql(REGISTER, json!({ "input": input }), None).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn a_user_sees_their_own_account_but_not_another() {
    let app = TestApp::spawn().await;
    let (ada, ada_token) = app.customer(&unique_email("ada")).await;
    let (bob, _) = app.customer(&unique_email("bob")).await;
    let query = "query($id: ID!) { user(id: $id) { id email contactNumber } }";

    let own = app.gql(query, json!({ "id": ada }), Some(&ada_token)).await;
    let other = app.gql(query, json!({ "id": bob }), Some(&ada_token)).await;
    let anonymous = app.gql(query, json!({ "id": bob }), None).await;

    assert_eq!(own["data"]["user"]["id"], json!(ada), "{own}");
    assert_eq!(code(&other), "FORBIDDEN", "{other}");
    assert!(!other.to_string().contains("contactNumber\":\""), "{other}");
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}
