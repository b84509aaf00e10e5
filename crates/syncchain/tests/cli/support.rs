//! Running the binary with exactly the environment a test gives it.

use std::{
    process::{ExitStatus, Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use rustix::process::{Pid, Signal, kill_process};
use syncchain_testkit::process::{TempDir, spare_port};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub const BINARY: &str = env!("CARGO_BIN_EXE_syncchain");

/// The binary with a clean environment: only `PATH` and `vars`.
pub fn command(args: &[&str], vars: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k, v)));
    command
}

pub async fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    run_with(args, &vars).await
}

pub async fn run_with(args: &[&str], vars: &[(String, String)]) -> Output {
    command(args, vars).output().await.expect("syncchain runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A dev folder and three spare ports for private servers.
pub struct DevSetup {
    pub dir: TempDir,
    pub postgres: u16,
    pub nats: u16,
    pub redis: u16,
}

impl DevSetup {
    pub fn new() -> Self {
        Self {
            dir: TempDir::new(),
            postgres: spare_port(),
            nats: spare_port(),
            redis: spare_port(),
        }
    }

    pub fn ports(&self) -> [u16; 3] {
        [self.postgres, self.nats, self.redis]
    }

    /// The variables that point dev, infra and admin at this setup.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("SYNCCHAIN_DEV_DIR", self.dir.path().display().to_string()),
            ("SYNCCHAIN_DEV_PG_PORT", self.postgres.to_string()),
            ("SYNCCHAIN_DEV_NATS_PORT", self.nats.to_string()),
            ("SYNCCHAIN_DEV_REDIS_PORT", self.redis.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

pub async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// A long-running `syncchain` whose output is collected as it comes. If the
/// test ends early it is asked to stop (so it stops its servers), then
/// killed.
pub struct Running {
    child: tokio::process::Child,
    output: Arc<Mutex<String>>,
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn start(args: &[&str], vars: &[(String, String)]) -> Self {
        let mut child = command(args, vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("syncchain starts");
        let output = Arc::new(Mutex::new(String::new()));
        let mut collectors = Vec::new();
        if let Some(out) = child.stdout.take() {
            collectors.push(collect(out, output.clone()));
        }
        if let Some(err) = child.stderr.take() {
            collectors.push(collect(err, output.clone()));
        }
        Self {
            child,
            output,
            collectors,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// The rest of the first output line containing `marker`, waiting up
    /// to `timeout`; `None` if it never comes or the process exits first.
    pub async fn line_after(&mut self, marker: &str, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.output().lines().find_map(|line| {
                line.split_once(marker)
                    .map(|(_, rest)| rest.trim().to_owned())
            });
            if found.is_some() {
                return found;
            }
            if tokio::time::Instant::now() >= deadline
                || matches!(self.child.try_wait(), Ok(Some(_)))
            {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.child.id().and_then(|id| Pid::from_raw(id as i32)) {
            let _ = kill_process(pid, signal);
        }
    }

    /// Waits for the process to exit, then for its last output to be read.
    pub async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok();
        for collector in self.collectors.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        }
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        self.signal(Signal::TERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.start_kill();
    }
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut text) = into.lock() {
                text.push_str(&line);
                text.push('\n');
            }
        }
    })
}
