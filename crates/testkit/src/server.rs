//! The process side of a private server (`nats-server`, `redis-server`):
//! pick a spare port, spawn it with its log in a file, wait for the line
//! that says it is ready, stop it politely or kill it, start it again on
//! the same port, and never leave it behind. Each server module only says
//! which binary, which arguments and which line.

use std::{
    ffi::OsString,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

use crate::process::spare_port;

const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run one kind of server.
pub struct ServerSpec {
    /// For messages: `nats-server`.
    pub name: &'static str,
    pub binary: PathBuf,
    /// Logged once the server accepts clients.
    pub ready_line: &'static str,
    /// Where the arguments tell the server to write its log.
    pub log: PathBuf,
    /// The arguments for listening on a port.
    pub args: Box<dyn Fn(u16) -> Vec<OsString> + Send + Sync>,
}

/// One server process, started and stopped on demand; killed on drop.
pub struct ServerProcess {
    spec: ServerSpec,
    port: u16,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts the server on a spare port and waits until it is ready.
    /// Panics with the server's log when it does not come up.
    pub async fn start(spec: ServerSpec) -> Self {
        let mut server = Self {
            spec,
            port: spare_port(),
            child: None,
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
        panic!("cannot start {}: {last_error}", server.spec.name);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server if it runs, then starts it again on the same port.
    pub async fn start_again(&mut self) {
        self.stop().await;
        if let Err(error) = self.spawn().await {
            panic!("cannot restart {}: {error}", self.spec.name);
        }
    }

    /// Spawns the process and waits for its ready line; on failure the
    /// error holds what it logged.
    async fn spawn(&mut self) -> Result<(), String> {
        let (name, port) = (self.spec.name, self.port);
        let already_logged = std::fs::metadata(&self.spec.log).map_or(0, |m| m.len());
        let mut child = Command::new(&self.spec.binary)
            .args((self.spec.args)(port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.spec.binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{name} on port {port} exited with {status}; log:\n{}",
                    self.log_since(already_logged)
                ));
            }
            if self
                .log_since(already_logged)
                .contains(self.spec.ready_line)
            {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "{name} on port {port} not ready within {READY_TIMEOUT:?}; log:\n{}",
                    self.log_since(already_logged)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process the way an orchestrator would (SIGTERM, then
    /// SIGKILL after 10 s) and waits until it is gone.
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

    /// Kills the process abruptly (SIGKILL), as a crash would, and waits
    /// until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// What the process logged since byte `from`.
    fn log_since(&self, from: u64) -> String {
        let text = std::fs::read(&self.spec.log).unwrap_or_default();
        let from = usize::try_from(from).unwrap_or(0).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Let the process die before its directory is removed.
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
