//! A private `nats-server` with JetStream for tests that stop and restart
//! NATS; the shared server on 4222 is never touched. It listens on a spare
//! port of 127.0.0.1 and keeps its store (and its log) in a temporary
//! directory, so `start_again` brings back the same streams on the same port.
//!
//! The binary is `SYNCCHAIN_TEST_NATS_SERVER`, else `nats-server` on `PATH`,
//! else `/usr/sbin/nats-server`.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

use crate::process::{TempDir, find_binary, spare_port};

/// The variable naming the `nats-server` binary.
pub const BINARY_VAR: &str = "SYNCCHAIN_TEST_NATS_SERVER";

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const READY_LINE: &str = "Server is ready";

/// A running (or stopped) private nats-server; killed on drop.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    // Declared last: dropped after the process is gone.
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server on a spare port with an empty store; waits until it
    /// is ready. Panics with the server's log when it does not come up.
    pub async fn start() -> Self {
        let binary = find_binary(BINARY_VAR, "nats-server", "/usr/sbin/nats-server");
        let mut server = Self {
            binary,
            port: spare_port(),
            child: None,
            dir: TempDir::new(),
        };
        let mut last_error = String::new();
        // The spare port may be taken between choosing and binding it.
        for _ in 0..3 {
            match server.spawn().await {
                Ok(()) => return server,
                Err(error) => {
                    last_error = error;
                    server.port = spare_port();
                }
            }
        }
        panic!("cannot start nats-server: {last_error}");
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server the way an orchestrator would (SIGTERM, then SIGKILL
    /// after 10 s) and waits until the process is gone.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) {
            let _ = kill_process(pid, Signal::TERM);
            if tokio::time::timeout(STOP_TIMEOUT, child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = child.kill().await;
    }

    /// Kills the server abruptly (SIGKILL), as a crash would, and waits
    /// until the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port with the same store.
    pub async fn start_again(&mut self) {
        self.stop().await;
        if let Err(error) = self.spawn().await {
            panic!("cannot restart nats-server: {error}");
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// Spawns the process and waits for its "ready" log line.
    async fn spawn(&mut self) -> Result<(), String> {
        let log = self.log_path();
        let already_logged = std::fs::metadata(&log).map_or(0, |m| m.len());
        let mut child = Command::new(&self.binary)
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-js")
            .arg("-sd")
            .arg(self.dir.path().join("store"))
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "nats-server on port {} exited with {status}; log:\n{}",
                    self.port,
                    self.log_tail(already_logged)
                ));
            }
            if self.log_tail(already_logged).contains(READY_LINE) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "nats-server on port {} not ready within {READY_TIMEOUT:?}; log:\n{}",
                    self.port,
                    self.log_tail(already_logged)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the server logged since byte `from`.
    fn log_tail(&self, from: u64) -> String {
        let text = std::fs::read(self.log_path()).unwrap_or_default();
        let from = usize::try_from(from).unwrap_or(0).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Let the process die before its store directory is removed.
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
