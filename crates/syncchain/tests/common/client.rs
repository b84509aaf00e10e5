//! A GraphQL client of a running syncchain, shared by the test binaries
//! that start the system in different ways.

// Each test binary uses its own part of this client.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

pub struct Client {
    pub graphql_url: String,
    pub base_url: String,
    /// The gateway's operational listener: `/readyz`, `/metrics`.
    pub admin_url: String,
    pub admin_email: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base_url: String, admin_url: String, admin_email: String) -> Self {
        Self {
            graphql_url: format!("{base_url}/graphql"),
            base_url,
            admin_url,
            admin_email,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    pub async fn wait_until_ready(&self) {
        let url = format!("{}/readyz", self.admin_url);
        let ready = syncchain_testkit::eventually(Duration::from_secs(20), || async {
            matches!(self.http.get(&url).send().await, Ok(r) if r.status().is_success())
        })
        .await;
        assert!(ready, "the system did not become ready");
    }

    /// POSTs a GraphQL request with the raw `Authorization` header value.
    pub async fn post_raw(&self, body: &Value, authorization: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(&self.graphql_url).json(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        assert!(!text.contains("$argon2"), "a password hash leaked: {text}");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// [`Self::gql`], with a failure to reach the gateway (or an answer cut
    /// off) as `None` rather than a panic: for tests that kill gateways.
    #[allow(dead_code)] // Only the fault tests kill gateways.
    pub async fn try_gql(&self, query: &str, variables: Value, token: &str) -> Option<Value> {
        let response = self
            .http
            .post(&self.graphql_url)
            .json(&json!({ "query": query, "variables": variables }))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Runs an operation with a token sent as `Bearer <token>`.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let auth = token.map(|t| format!("Bearer {t}"));
        self.post_raw(
            &json!({ "query": query, "variables": variables }),
            auth.as_deref(),
        )
        .await
        .1
    }

    pub async fn register(&self, email: &str) -> Value {
        self.gql(REGISTER, json!({ "input": registration(email) }), None)
            .await
    }

    /// Registers a user and signs them in; returns (id, token).
    pub async fn customer(&self, email: &str) -> (String, String) {
        let body = self.register(email).await;
        let id = body["data"]["registerUser"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("registered: {body}"))
            .to_owned();
        (id, self.sign_in(email).await)
    }

    pub async fn sign_in(&self, email: &str) -> String {
        let body = self
            .gql(
                SIGN_IN,
                json!({ "input": { "email": email, "password": PASSWORD } }),
                None,
            )
            .await;
        body["data"]["signIn"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("signed in: {body}"))
            .to_owned()
    }

    /// A token of the admin that exists from the start.
    pub async fn admin_token(&self) -> String {
        self.sign_in(&self.admin_email.clone()).await
    }

    /// Creates a product as the admin; returns its id.
    pub async fn product(&self, admin: &str, name: &str, price: i64, stock: i64) -> String {
        let body = self
            .gql(
                "mutation($input: ProductInput!) { createProduct(input: $input) { id } }",
                json!({ "input": { "name": name, "price": price, "description": "A thing", "quantity": stock } }),
                Some(admin),
            )
            .await;
        body["data"]["createProduct"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("product created: {body}"))
            .to_owned()
    }

    /// Places an order; returns the whole response body.
    pub async fn place_order(&self, token: &str, product: &str, quantity: i64) -> Value {
        self.gql(
            "mutation($input: OrderInput!) { placeOrder(input: $input) { id status quantity totalAmount rejectionReason } }",
            json!({ "input": { "productId": product, "quantity": quantity } }),
            Some(token),
        )
        .await
    }

    /// The product's stock as the API reports it.
    pub async fn stock(&self, product: &str) -> i64 {
        let body = self
            .gql(
                "query($id: ID!) { product(id: $id) { quantity } }",
                json!({ "id": product }),
                None,
            )
            .await;
        body["data"]["product"]["quantity"]
            .as_i64()
            .unwrap_or_else(|| panic!("product read: {body}"))
    }
}

pub fn registration(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "firstName": "Ada",
        "lastName": "O'Brien",
        "location": "London",
        "contactNumber": "+447700900123",
    })
}

pub fn unique_email(name: &str) -> String {
    format!("{name}.{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

pub const REGISTER: &str = "mutation Register($input: RegisterInput!) { registerUser(input: $input) { id email firstName lastName location contactNumber role createdAt } }";
pub const SIGN_IN: &str = "mutation SignIn($input: SigninInput!) { signIn(input: $input) { token expiresAt user { id email role } } }";
pub const ME: &str = "{ me { id email role } }";
