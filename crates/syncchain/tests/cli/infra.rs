use crate::support::{DevSetup, listening, run_with, stderr, stdout};

/// Stops what `infra up` started even when the test fails half-way.
struct Down<'a>(&'a DevSetup);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(crate::support::BINARY)
            .args(["infra", "down"])
            .env_clear()
            .envs(self.0.env())
            .output();
    }
}

#[tokio::test]
async fn infra_up_leaves_private_servers_running_until_infra_down() {
    let setup = DevSetup::new();
    let _down = Down(&setup);
    let started = setup.dir.path().join("started");

    let up = run_with(
        &["infra", "up", "--started", &started.display().to_string()],
        &setup.env(),
    )
    .await;

    assert!(
        up.status.success(),
        "infra up: {}{}",
        stdout(&up),
        stderr(&up)
    );
    for port in setup.ports() {
        assert!(listening(port).await, "nothing on {port} after infra up");
    }
    let listed = std::fs::read_to_string(&started).unwrap_or_default();
    assert_eq!(listed, "redis\nnats\npostgres\n");
    let status = run_with(&["infra", "status"], &setup.env()).await;
    assert_eq!(
        stdout(&status)
            .matches("listening, started by `syncchain infra up`")
            .count(),
        3,
        "{}",
        stdout(&status)
    );

    // A second call finds them and starts nothing.
    let again = run_with(
        &["infra", "up", "--started", &started.display().to_string()],
        &setup.env(),
    )
    .await;
    assert!(again.status.success(), "infra up again: {}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&started).unwrap_or_default(), "");

    let down = run_with(&["infra", "down", "redis"], &setup.env()).await;
    assert!(down.status.success(), "infra down redis: {}", stderr(&down));
    assert_eq!(stdout(&down).trim(), "stopped Redis");
    assert!(!listening(setup.redis).await, "Redis still up");
    assert!(listening(setup.nats).await, "NATS was not asked to stop");

    let down = run_with(&["infra", "down"], &setup.env()).await;
    assert!(down.status.success(), "infra down: {}", stderr(&down));
    assert!(
        stdout(&down).contains("stopped PostgreSQL, NATS"),
        "{}",
        stdout(&down)
    );
    for port in setup.ports() {
        assert!(
            !listening(port).await,
            "still listening on {port} after infra down"
        );
    }
}

#[tokio::test]
async fn infra_wipe_stops_the_servers_and_deletes_the_dev_folder() {
    let setup = DevSetup::new();
    let _down = Down(&setup);
    let up = run_with(&["infra", "up"], &setup.env()).await;
    assert!(up.status.success(), "infra up: {}", stderr(&up));

    let wipe = run_with(&["infra", "wipe"], &setup.env()).await;

    assert!(wipe.status.success(), "infra wipe: {}", stderr(&wipe));
    for port in setup.ports() {
        assert!(
            !listening(port).await,
            "still listening on {port} after wipe"
        );
    }
    assert!(!setup.dir.path().exists(), "{}", stdout(&wipe));
}
