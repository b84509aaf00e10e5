//! A private `redis-server` for tests that stop and restart Redis; the
//! shared server on 6379 is never touched. It listens on a spare port of
//! 127.0.0.1 and keeps nothing on disk (`--save ""`, no append-only file),
//! so `start_again` brings back an empty Redis on the same port, as a
//! restarted cache would be.
//!
//! The binary is `SYNCCHAIN_TEST_REDIS_SERVER`, else `redis-server` on
//! `PATH`, else `/usr/bin/redis-server`.

use crate::{
    process::{TempDir, find_binary},
    server::{ServerProcess, ServerSpec},
};

/// The variable naming the `redis-server` binary.
pub const BINARY_VAR: &str = "SYNCCHAIN_TEST_REDIS_SERVER";

/// A running (or stopped) private redis-server; killed on drop.
pub struct RedisServer {
    process: ServerProcess,
    // Declared last: dropped after the process is gone.
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server on a spare port; waits until it is ready. Panics
    /// with the server's log when it does not come up.
    pub async fn start() -> Self {
        let dir = TempDir::new();
        let (data, log) = (dir.path().to_owned(), dir.path().join("redis-server.log"));
        let spec = ServerSpec {
            name: "redis-server",
            binary: find_binary(BINARY_VAR, "redis-server", "/usr/bin/redis-server"),
            ready_line: "Ready to accept connections",
            log: log.clone(),
            args: Box::new(move |port| {
                let port = port.to_string();
                let args = ["--port", &port, "--bind", "127.0.0.1", "--save", ""];
                let mut args: Vec<_> = args.iter().map(Into::into).collect();
                args.extend(["--appendonly".into(), "no".into(), "--dir".into()]);
                args.extend([data.clone().into(), "--logfile".into(), log.clone().into()]);
                args
            }),
        };
        Self {
            process: ServerProcess::start(spec).await,
            _dir: dir,
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.process.port())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and waits until
    /// the process is gone.
    pub async fn stop(&mut self) {
        self.process.stop().await;
    }

    /// Starts the server again, empty, on the same port.
    pub async fn start_again(&mut self) {
        self.process.start_again().await;
    }
}
