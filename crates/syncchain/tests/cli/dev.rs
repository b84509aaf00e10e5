use std::{os::unix::fs::PermissionsExt, time::Duration};

use rustix::process::Signal;
use serde_json::{Value, json};
use syncchain_platform::roles;

use crate::support::{DevSetup, Running, listening, run_with, stderr, stdout};

#[tokio::test]
async fn dev_starts_private_servers_serves_graphql_and_stops_them_on_sigterm() {
    let setup = DevSetup::new();
    let mut env = setup.env();
    for role in roles::ALL {
        env.push((role.addr_var.into(), "127.0.0.1:0".into()));
    }
    env.push(("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY".into(), "1".into()));
    let mut dev = Running::start(&["dev"], &env);

    let url = dev
        .line_after("GraphQL at ", Duration::from_secs(120))
        .await;

    let url = url.unwrap_or_else(|| panic!("dev did not come up:\n{}", dev.output()));
    for port in setup.ports() {
        assert!(
            listening(port).await,
            "nothing on {port}:\n{}",
            dev.output()
        );
    }
    let secret = setup.dir.path().join("jwt-secret");
    let mode = std::fs::metadata(&secret).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "the dev secret is private");

    let readyz = dev
        .line_after(
            "Readiness and metrics (this machine only) at ",
            Duration::from_secs(5),
        )
        .await
        .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| panic!("dev did not say where /readyz is:\n{}", dev.output()));
    let ready = syncchain_testkit::eventually(Duration::from_secs(20), || async {
        matches!(reqwest::get(&readyz).await, Ok(r) if r.status().is_success())
    })
    .await;
    assert!(ready, "{readyz} did not answer 200");

    let email = format!("dev.{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = register(&url, &email).await;
    assert!(registered["errors"].is_null(), "{registered}");
    let promoted = run_with(&["admin", "promote", &email], &setup.env()).await;
    assert!(promoted.status.success(), "promote: {}", stderr(&promoted));
    assert!(stdout(&promoted).contains("ADMIN"), "{}", stdout(&promoted));

    dev.signal(Signal::TERM);
    let status = dev.wait(Duration::from_secs(60)).await;

    assert!(
        status.is_some_and(|s| s.success()),
        "dev exited with {status:?}:\n{}",
        dev.output()
    );
    for port in setup.ports() {
        assert!(
            !listening(port).await,
            "a server dev started still runs on {port}"
        );
    }
}

#[tokio::test]
async fn after_a_hard_kill_the_next_dev_restarts_its_servers_and_a_hangup_stops_them() {
    let setup = DevSetup::new();
    let mut env = setup.env();
    for role in roles::ALL {
        env.push((role.addr_var.into(), "127.0.0.1:0".into()));
    }
    env.push(("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY".into(), "1".into()));
    let mut first = Running::start(&["dev"], &env);
    let up = first
        .line_after("GraphQL at ", Duration::from_secs(120))
        .await;
    assert!(up.is_some(), "dev did not come up:\n{}", first.output());

    // A hard kill leaves the servers running, with no one to stop them...
    first.signal(Signal::KILL);
    let _ = first.wait(Duration::from_secs(10)).await;
    for port in setup.ports() {
        assert!(listening(port).await, "{port} stopped with dev?");
    }
    let status = run_with(&["infra", "status"], &setup.env()).await;
    assert_eq!(
        stdout(&status)
            .matches("left running by a syncchain dev that is gone")
            .count(),
        3,
        "{}",
        stdout(&status)
    );

    // ...until the next dev takes them back.
    let mut second = Running::start(&["dev"], &env);
    let up = second
        .line_after("GraphQL at ", Duration::from_secs(120))
        .await;
    assert!(
        up.is_some(),
        "dev did not come up again:\n{}",
        second.output()
    );
    assert_eq!(
        second
            .output()
            .matches("left this server running; restarting it")
            .count(),
        3,
        "{}",
        second.output()
    );

    // Closing the terminal stops dev and everything it started.
    second.signal(Signal::HUP);
    let exit = second.wait(Duration::from_secs(60)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "dev exited with {exit:?}:\n{}",
        second.output()
    );
    for port in setup.ports() {
        assert!(
            !listening(port).await,
            "still listening on {port} after SIGHUP"
        );
    }
    let status = run_with(&["infra", "status"], &setup.env()).await;
    assert_eq!(
        stdout(&status)
            .matches("nothing listening, not running")
            .count(),
        3,
        "{}",
        stdout(&status)
    );
}

#[tokio::test]
async fn dev_refuses_a_server_on_its_port_that_is_not_the_right_kind() {
    // Something listens where NATS belongs, but it does not speak NATS.
    let setup = DevSetup::new();
    let impostor = tokio::net::TcpListener::bind(("127.0.0.1", setup.nats))
        .await
        .expect("bind");
    let serve_garbage = tokio::spawn(async move {
        while let Ok((mut socket, _)) = impostor.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HELLO\r\n").await;
        }
    });
    let mut env = setup.env();
    env.push(("SYNCCHAIN_REDIS_URL".into(), "redis://127.0.0.1:1".into()));

    let mut dev = Running::start(&["dev"], &env);
    let status = dev.wait(Duration::from_secs(60)).await;

    serve_garbage.abort();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", dev.output());
    let output = dev.output();
    assert!(
        output.contains(&format!("127.0.0.1:{} but it is not NATS", setup.nats)),
        "{output}"
    );
}

async fn register(url: &str, email: &str) -> Value {
    let query = "mutation($input: RegisterInput!) { registerUser(input: $input) { id } }";
    let input = json!({
        "email": email,
        "password": "correct horse battery",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "location": "London",
        "contactNumber": "+447700900123",
    });
    let response = reqwest::Client::new()
        .post(url)
        .json(&json!({ "query": query, "variables": { "input": input } }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the gateway answers");
    response.json().await.expect("a JSON body")
}
