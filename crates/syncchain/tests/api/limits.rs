//! Sign-in and registration limits, one canonical email, text without
//! hidden characters, and the start-up admin, as a client (or an operator
//! restarting the users service) sees them.

use serde_json::{Value, json};
use syncchain::cli::Role;
use syncchain_platform::{config::Env, shutdown::Shutdown};
use syncchain_testkit::redis_server::RedisServer;

use crate::support::{PASSWORD, REGISTER, TestApp, code, registration, unique_email};

const SIGN_IN: &str =
    "mutation($input: SigninInput!) { signIn(input: $input) { token user { id role } } }";

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Value {
    let input = json!({ "input": { "email": email, "password": password } });
    app.gql(SIGN_IN, input, None).await
}

/// Signs in as if from `address` (the gateway trusts `X-Forwarded-For`).
async fn sign_in_from(app: &TestApp, address: &str, email: &str, password: &str) -> Value {
    let body = json!({
        "query": SIGN_IN,
        "variables": { "input": { "email": email, "password": password } },
    });
    let response = app
        .http
        .post(&app.graphql_url)
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await
        .expect("sent");
    response.json().await.expect("json")
}

fn signed_in_id(body: &Value) -> &str {
    body["data"]["signIn"]["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("signed in: {body}"))
}

fn registered_id(body: &Value) -> String {
    body["data"]["registerUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("registered: {body}"))
        .to_owned()
}

#[tokio::test]
async fn eighty_parallel_wrong_passwords_check_at_most_the_budget() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "5")]).await;
    let email = unique_email("target");
    app.register(&email).await;

    let attempts = (0..80).map(|i| {
        let (app, email) = (&app, &email);
        async move { sign_in(app, email, &format!("guess number {i}")).await }
    });
    let bodies = futures::future::join_all(attempts).await;

    let codes: Vec<&str> = bodies.iter().map(code).collect();
    let checked = codes.iter().filter(|c| **c == "UNAUTHENTICATED").count();
    let limited = codes.iter().filter(|c| **c == "RATE_LIMITED").count();
    assert!(checked <= 5, "{checked} passwords were checked: {codes:?}");
    assert_eq!(checked + limited, 80, "{codes:?}");
}

#[tokio::test]
async fn a_spent_budget_holds_for_every_spelling_of_the_email() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "3")]).await;
    let name = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("victim{name}@example.com");
    app.register(&email).await;
    for _ in 0..3 {
        let body = sign_in(&app, &email, "wrong password").await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }

    let upper = sign_in(&app, &email.to_uppercase(), PASSWORD).await;
    let padded = sign_in(&app, &format!("  {email} "), PASSWORD).await;
    let dotted = sign_in(&app, &format!("v\u{130}ctim{name}@example.com"), PASSWORD).await;

    assert_eq!(code(&upper), "RATE_LIMITED", "{upper}");
    assert_eq!(code(&padded), "RATE_LIMITED", "{padded}");
    assert!(
        dotted["data"]["signIn"].is_null(),
        "a dotted İ never signs in as the victim: {dotted}"
    );
    assert_eq!(code(&dotted), "UNAUTHENTICATED", "{dotted}");
}

#[tokio::test]
async fn a_dotted_capital_i_makes_a_different_account_not_the_same_one() {
    let app = TestApp::spawn().await;
    let name = uuid::Uuid::new_v4().simple().to_string();
    let plain = format!("victim{name}@example.com");
    let dotted = format!("v\u{130}ctim{name}@example.com");
    let victim = registered_id(&app.register(&plain).await);
    let other = registered_id(&app.register(&dotted).await);

    let as_victim = sign_in(&app, &plain, PASSWORD).await;
    let as_other = sign_in(&app, &dotted, PASSWORD).await;

    assert_ne!(victim, other);
    assert_eq!(signed_in_id(&as_victim), victim);
    assert_eq!(signed_in_id(&as_other), other);
}

#[tokio::test]
async fn a_stranger_failing_from_elsewhere_does_not_lock_the_owner_out() {
    let app = TestApp::spawn_with(&[
        ("SYNCCHAIN_TRUST_PROXY", "true"),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "3"),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL", "6"),
    ])
    .await;
    let email = unique_email("owner");
    let owner = registered_id(&app.register(&email).await);

    let mut stranger = Vec::new();
    for _ in 0..5 {
        let body = sign_in_from(&app, "203.0.113.7", &email, "wrong password").await;
        stranger.push(code(&body).to_owned());
    }
    let first = sign_in_from(&app, "198.51.100.1", &email, PASSWORD).await;
    let second = sign_in_from(&app, "198.51.100.1", &email, PASSWORD).await;
    // A second stranger address fills the account's global cap.
    for _ in 0..3 {
        sign_in_from(&app, "203.0.113.8", &email, "wrong password").await;
    }
    let capped = sign_in_from(&app, "198.51.100.1", &email, PASSWORD).await;

    assert_eq!(stranger[..3], ["UNAUTHENTICATED"; 3], "{stranger:?}");
    assert_eq!(stranger[3..], ["RATE_LIMITED"; 2], "{stranger:?}");
    assert_eq!(signed_in_id(&first), owner);
    assert_eq!(signed_in_id(&second), owner, "successes are refunded");
    assert_eq!(
        code(&capped),
        "RATE_LIMITED",
        "the global cap holds: {capped}"
    );
}

#[tokio::test]
async fn addresses_in_one_ipv6_slash_64_share_one_budget() {
    let app = TestApp::spawn_with(&[
        ("SYNCCHAIN_TRUST_PROXY", "true"),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "2"),
    ])
    .await;
    let email = unique_email("v6");
    app.register(&email).await;

    let mut codes = Vec::new();
    for address in [
        "2001:db8:5:6::1",
        "2001:db8:5:6::2",
        "2001:db8:5:6:ffff:ffff:ffff:ffff",
    ] {
        let body = sign_in_from(&app, address, &email, "wrong password").await;
        codes.push(code(&body).to_owned());
    }
    let next_net = sign_in_from(&app, "2001:db8:5:7::1", &email, "wrong password").await;

    assert_eq!(
        codes,
        ["UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]
    );
    assert_eq!(code(&next_net), "UNAUTHENTICATED", "{next_net}");
}

#[tokio::test]
async fn registrations_past_the_address_budget_are_refused_and_create_nothing() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_REGISTER_MAX_PER_ADDRESS", "3")]).await;
    for name in ["a", "b", "c"] {
        registered_id(&app.register(&unique_email(name)).await);
    }

    let refused = app.register(&unique_email("d")).await;
    let admin = app.admin_token().await;
    let users = app.gql("{ users { id } }", json!({}), Some(&admin)).await;

    assert_eq!(code(&refused), "RATE_LIMITED", "{refused}");
    assert!(
        refused["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .is_some_and(|s| s > 0),
        "{refused}"
    );
    let count = users["data"]["users"].as_array().map_or(0, Vec::len);
    assert_eq!(count, 4, "three customers and the admin: {users}");
}

#[tokio::test]
async fn registering_one_email_again_and_again_is_refused() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_REGISTER_MAX_PER_EMAIL", "2")]).await;
    let email = unique_email("again");

    let first = app.register(&email).await;
    let taken = app.register(&email.to_uppercase()).await;
    let refused = app.register(&email).await;

    registered_id(&first);
    assert_eq!(code(&taken), "CONFLICT", "{taken}");
    assert_eq!(code(&refused), "RATE_LIMITED", "{refused}");
}

#[tokio::test]
async fn invisible_and_control_characters_are_bad_user_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let cases = [
        (
            "email",
            json!(format!("vic\u{200b}tim{unique}@example.com")),
        ),
        (
            "email",
            json!(format!("victim{unique}\u{202e}@example.com")),
        ),
        ("email", json!(format!("vic\u{ad}tim{unique}@example.com"))),
        ("email", json!(format!("victim{unique}@exam\u{0}ple.com"))),
        ("firstName", json!("Ada\u{200b}")),
        ("lastName", json!("O\u{ad}Brien")),
        ("lastName", json!("\u{202e}neirB'O")),
        ("location", json!("Lon\u{0}don")),
        ("location", json!("Lon\u{2066}don")),
    ];
    for (field, value) in cases {
        let mut input = registration(&unique_email("hidden"));
        input[field] = value.clone();
        let body = app.gql(REGISTER, json!({ "input": input }), None).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{field} {value}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(field),
            "{body}"
        );
    }

    let admin = app.admin_token().await;
    let create = "mutation($input: ProductInput!) { createProduct(input: $input) { id } }";
    for (field, input) in [
        (
            "name",
            json!({ "name": "Tea\u{200b}", "price": 100, "quantity": 1 }),
        ),
        (
            "name",
            json!({ "name": "\u{202e}aeT", "price": 100, "quantity": 1 }),
        ),
        (
            "description",
            json!({ "name": "Tea", "price": 100, "quantity": 1, "description": "Strong \u{202e}and\u{ad} dark" }),
        ),
    ] {
        let body = app
            .gql(create, json!({ "input": input }), Some(&admin))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(field),
            "{body}"
        );
    }
    let products = app.gql("{ products { id } }", json!({}), None).await;
    assert_eq!(products["data"]["products"], json!([]), "{products}");
}

#[tokio::test]
async fn sign_in_limits_hold_while_redis_is_down() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_with(&[
        ("SYNCCHAIN_REDIS_URL", &redis.url()),
        ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "3"),
    ])
    .await;
    let email = unique_email("offline");
    app.register(&email).await;

    redis.stop().await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(code(&sign_in(&app, &email, "wrong password").await).to_owned());
    }
    let right = sign_in(&app, &email, PASSWORD).await;

    assert_eq!(codes[..3], ["UNAUTHENTICATED"; 3], "{codes:?}");
    assert_eq!(codes[3..], ["RATE_LIMITED"; 2], "{codes:?}");
    assert_eq!(code(&right), "RATE_LIMITED", "{right}");
}

/// Starts another users instance on this app's database with these
/// settings changed, as an operator restarting it would. Returns why it
/// would not start, if it would not.
async fn start_users_instance(app: &TestApp, changes: &[(&str, &str)]) -> Result<(), String> {
    let mut env = Env::from_pairs(app.env.clone());
    for (name, value) in changes {
        env.set(*name, *value);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    syncchain::serve::start_service(
        Role::Users,
        &env,
        listener,
        Shutdown::new(),
        &syncchain_platform::metrics::Metrics::new(),
    )
    .await
    .map(drop)
    .map_err(|e| format!("{e:#}"))
}

#[tokio::test]
async fn a_lookalike_registered_first_does_not_become_the_start_up_admin() {
    let app = TestApp::spawn().await;
    let domain = format!("boot{}.example.com", uuid::Uuid::new_v4().simple());
    let lookalike = format!("adm\u{130}n@{domain}");
    let squatter = registered_id(&app.register(&lookalike).await);

    let admin_email = format!("admin@{domain}");
    start_users_instance(&app, &[("SYNCCHAIN_ADMIN_EMAIL", &admin_email)])
        .await
        .expect("the users service starts");
    let admin = sign_in(&app, &admin_email, PASSWORD).await;
    let squatter_now = sign_in(&app, &lookalike, PASSWORD).await;

    assert_ne!(signed_in_id(&admin), squatter, "a new account: {admin}");
    assert_eq!(admin["data"]["signIn"]["user"]["role"], json!("ADMIN"));
    assert_eq!(signed_in_id(&squatter_now), squatter);
    assert_eq!(
        squatter_now["data"]["signIn"]["user"]["role"],
        json!("CUSTOMER")
    );
}

#[tokio::test]
async fn an_existing_account_with_another_password_stops_the_start_up_admin() {
    let app = TestApp::spawn().await;
    let email = unique_email("squatter");
    let squatter = registered_id(&app.register(&email).await);

    let refused = start_users_instance(
        &app,
        &[
            ("SYNCCHAIN_ADMIN_EMAIL", &email),
            ("SYNCCHAIN_ADMIN_PASSWORD", "the operator's own password"),
        ],
    )
    .await;
    let now = sign_in(&app, &email, PASSWORD).await;

    let error = refused.expect_err("start-up stops");
    assert!(error.contains("SYNCCHAIN_ADMIN_PASSWORD"), "{error}");
    assert!(error.contains("not made an admin"), "{error}");
    assert_eq!(signed_in_id(&now), squatter);
    assert_eq!(now["data"]["signIn"]["user"]["role"], json!("CUSTOMER"));
}
