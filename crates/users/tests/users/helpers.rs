//! `spawn_app` and friends: a running service per test, and shortcuts to
//! register people and act as them.

use std::ops::Deref;

use syncchain_platform::{auth::Role, config::FromEnv, grpc};
use syncchain_proto::users::v1::{self as proto, users_client::UsersClient};
use syncchain_testkit::service::TestService;
use syncchain_users::Config;
use tonic::transport::Channel;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

/// The running service (its address, pool, keys and settings through
/// `Deref`) with a client and its parsed settings.
pub struct TestApp {
    pub client: UsersClient<Channel>,
    pub config: Config,
    service: TestService,
}

impl Deref for TestApp {
    type Target = TestService;

    fn deref(&self) -> &TestService {
        &self.service
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A service with extra configuration variables on top of the test
/// defaults; `SYNCCHAIN_USERS_DATABASE_URL` may name a database to restart on.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("SYNCCHAIN_USERS_DB_MAX_CONNECTIONS", "4"),
        ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
    ];
    vars.extend_from_slice(extra);
    let service = TestService::spawn::<Config>(&vars).await;
    let config = Config::from_env(&service.env).expect("test configuration is valid");
    let client = UsersClient::connect(service.url())
        .await
        .expect("connect to the service");
    TestApp {
        client,
        config,
        service,
    }
}

impl TestApp {
    /// Asks the service to stop and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.service.stop().await
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
