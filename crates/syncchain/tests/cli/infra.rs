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

    let up = run_with(&["infra", "up"], &setup.env()).await;

    assert!(
        up.status.success(),
        "infra up: {}{}",
        stdout(&up),
        stderr(&up)
    );
    for port in setup.ports() {
        assert!(listening(port).await, "nothing on {port} after infra up");
    }

    let again = run_with(&["infra", "up"], &setup.env()).await;
    assert!(again.status.success(), "infra up again: {}", stderr(&again));

    let down = run_with(&["infra", "down"], &setup.env()).await;
    assert!(down.status.success(), "infra down: {}", stderr(&down));
    assert!(
        stdout(&down).contains("stopped PostgreSQL, NATS, Redis"),
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
