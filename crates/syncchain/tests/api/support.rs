//! Starts the system for one test and speaks GraphQL to it.

use std::time::Duration;

use serde_json::{Value, json};
use syncchain_platform::{config::Env, shutdown::Shutdown};
use tokio::net::TcpListener;

pub struct TestApp {
    pub graphql_url: String,
    pub base_url: String,
    pub env: Vec<(String, String)>,
    pub secret: String,
    pub http: reqwest::Client,
    shutdown: Shutdown,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts users and the gateway with these extra settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let (_pool, database_url) = syncchain_testkit::db::fresh_database().await;
        let namespace = syncchain_testkit::namespace();
        let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
        let users_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind users");
        let users_addr = users_listener.local_addr().expect("users addr");
        let mut env: Vec<(String, String)> = [
            ("SYNCCHAIN_ENV", "production"),
            ("SYNCCHAIN_USERS_DATABASE_URL", database_url.as_str()),
            ("SYNCCHAIN_NATS_URL", &syncchain_testkit::nats_url()),
            ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
            ("SYNCCHAIN_REDIS_URL", &syncchain_testkit::redis_url()),
            ("SYNCCHAIN_REDIS_PREFIX", namespace.as_str()),
            ("SYNCCHAIN_JWT_SECRET", secret.as_str()),
            ("SYNCCHAIN_USERS_URL", &format!("http://{users_addr}")),
            ("SYNCCHAIN_GRAPHIQL", "true"),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        let config_env = Env::from_pairs(env.clone());
        let shutdown = Shutdown::new();

        let users_config = syncchain_users::Config::from_env(&config_env).expect("users config");
        let users =
            syncchain_users::Application::build(users_config, users_listener, shutdown.clone())
                .await
                .expect("users starts");
        tokio::spawn(users.run_until_stopped());

        let gateway_config =
            syncchain_gateway::Config::from_env(&config_env).expect("gateway config");
        let gateway_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gateway = syncchain_gateway::Application::build(
            gateway_config,
            gateway_listener,
            shutdown.clone(),
        )
        .await
        .expect("gateway starts");
        let base_url = format!("http://{}", gateway.local_addr());
        tokio::spawn(gateway.run_until_stopped());

        let app = Self {
            graphql_url: format!("{base_url}/graphql"),
            base_url,
            env,
            secret,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            shutdown,
        };
        app.wait_until_ready().await;
        app
    }

    async fn wait_until_ready(&self) {
        let url = format!("{}/readyz", self.base_url);
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

    /// Runs the `syncchain` binary against this app's database.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_syncchain"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("syncchain runs")
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

pub const REGISTER: &str = "mutation Register($input: RegisterUserInput!) { registerUser(input: $input) { id email firstName lastName location contactNumber role createdAt } }";
pub const SIGN_IN: &str = "mutation SignIn($input: SigninInput!) { signIn(input: $input) { token expiresAt user { id email role } } }";
pub const ME: &str = "{ me { id email role } }";
