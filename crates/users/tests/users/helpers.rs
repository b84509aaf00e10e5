//! `spawn_app` and friends: a running service per test, and shortcuts to
//! register people and act as them.

use std::{net::SocketAddr, time::Duration};

use syncchain_platform::{
    auth::{JwtSecret, Role, TokenKeys},
    config::Env,
    grpc,
    shutdown::Shutdown,
};
use syncchain_proto::users::v1::{self as proto, users_client::UsersClient};
use syncchain_users::{Application, Config, config::DATABASE_URL_VAR};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: UsersClient<Channel>,
    pub keys: TokenKeys,
    pub config: Config,
    pub pool: sqlx::PgPool,
    pub database_url: String,
    pub namespace: String,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A service with extra configuration variables on top of the test defaults.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    // A test may bring a database of its own (to restart on it); else a fresh one.
    let (pool, database_url) = match extra.iter().find(|(k, _)| *k == DATABASE_URL_VAR) {
        Some((_, url)) => (
            sqlx::PgPool::connect(url)
                .await
                .expect("connect to the given database"),
            (*url).to_owned(),
        ),
        None => syncchain_testkit::db::fresh_database().await,
    };
    let namespace = syncchain_testkit::namespace();
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let mut env = Env::from_pairs([
        ("SYNCCHAIN_JWT_SECRET", secret.as_str()),
        (DATABASE_URL_VAR, database_url.as_str()),
        ("SYNCCHAIN_USERS_DB_MAX_CONNECTIONS", "4"),
        ("SYNCCHAIN_NATS_URL", syncchain_testkit::nats_url().as_str()),
        ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
        ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
    ]);
    for (name, value) in extra {
        env.set(*name, *value);
    }
    let config = Config::from_env(&env).expect("test configuration is valid");
    let keys = TokenKeys::new(
        &JwtSecret::new(secret.into_bytes()).expect("secret is long enough"),
        Duration::from_secs(300),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let shutdown = Shutdown::new();
    let app = Application::build(config.clone(), listener, shutdown.clone())
        .await
        .expect("the application starts");
    let addr = app.local_addr();
    let task = tokio::spawn(app.run_until_stopped());
    let client = UsersClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the service");
    TestApp {
        addr,
        client,
        keys,
        config,
        pool,
        database_url,
        namespace,
        shutdown,
        task,
    }
}

impl TestApp {
    /// Asks the service to stop and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await?
    }

    pub fn client(&self) -> UsersClient<Channel> {
        self.client.clone()
    }

    /// A token for `user_id`, as the gateway would forward it.
    pub fn token(&self, user_id: &str, role: Role) -> String {
        let id = Uuid::parse_str(user_id).expect("a user id");
        self.keys.issue(id, role).expect("issue a token").token
    }

    pub async fn register(
        &self,
        request: proto::RegisterRequest,
    ) -> Result<proto::User, tonic::Status> {
        self.client()
            .register(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Registers someone with this email and valid everything else.
    pub async fn register_email(&self, email: &str) -> proto::User {
        self.register(registration(email))
            .await
            .expect("registration succeeds")
    }

    /// A registered customer and a token for them.
    pub async fn customer(&self) -> (proto::User, String) {
        let user = self.register_email(&unique_email()).await;
        let token = self.token(&user.id, Role::Customer);
        (user, token)
    }

    /// A registered admin (promoted through the operator command) and a token.
    pub async fn admin(&self) -> (proto::User, String) {
        let email = unique_email();
        let user = self.register_email(&email).await;
        syncchain_users::admin::set_role_by_email(&self.config, &email, Role::Admin)
            .await
            .expect("promote");
        let token = self.token(&user.id, Role::Admin);
        (user, token)
    }
}

/// A request carrying `token` in its `authorization` metadata.
pub fn as_caller<T>(message: T, token: &str) -> tonic::Request<T> {
    grpc::request(message, Some(token))
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub fn registration(email: &str) -> proto::RegisterRequest {
    proto::RegisterRequest {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        first_name: "Mary Ann".to_owned(),
        last_name: "O'Brien".to_owned(),
        location: "Dublin".to_owned(),
        contact_number: "+353123456789".to_owned(),
    }
}
