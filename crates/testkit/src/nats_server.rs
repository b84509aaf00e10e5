//! A private `nats-server` with JetStream for tests that stop and restart
//! NATS; the shared server on 4222 is never touched. It listens on a spare
//! port of 127.0.0.1 and keeps its store (and its log) in a temporary
//! directory, so `start_again` brings back the same streams on the same port.
//!
//! The binary is `SYNCCHAIN_TEST_NATS_SERVER`, else `nats-server` on `PATH`,
//! else `/usr/sbin/nats-server`.

use crate::{
    process::{TempDir, find_binary},
    server::{ServerProcess, ServerSpec},
};

/// The variable naming the `nats-server` binary.
pub const BINARY_VAR: &str = "SYNCCHAIN_TEST_NATS_SERVER";

/// A running (or stopped) private nats-server; killed on drop.
pub struct NatsServer {
    process: ServerProcess,
    // Declared last: dropped after the process is gone.
    _dir: TempDir,
}

impl NatsServer {
    /// Starts a server on a spare port with an empty store; waits until it
    /// is ready. Panics with the server's log when it does not come up.
    pub async fn start() -> Self {
        let dir = TempDir::new();
        let (store, log) = (dir.path().join("store"), dir.path().join("nats-server.log"));
        let spec = ServerSpec {
            name: "nats-server",
            binary: find_binary(BINARY_VAR, "nats-server", "/usr/sbin/nats-server"),
            ready_line: "Server is ready",
            log: log.clone(),
            args: Box::new(move |port| {
                let port = port.to_string();
                let args = ["-a", "127.0.0.1", "-p", &port, "-js", "-sd"];
                let mut args: Vec<_> = args.iter().map(Into::into).collect();
                args.extend([store.clone().into(), "-l".into(), log.clone().into()]);
                args
            }),
        };
        Self {
            process: ServerProcess::start(spec).await,
            _dir: dir,
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Stops the server the way an orchestrator would (SIGTERM, then SIGKILL
    /// after 10 s) and waits until the process is gone.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// Kills the server abruptly (SIGKILL), as a crash would, and waits
    /// until the process is gone.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Starts the server again on the same port with the same store.
    pub async fn start_again(&mut self) {
        self.process.start_again().await;
    }
}
