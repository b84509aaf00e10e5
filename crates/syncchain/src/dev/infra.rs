//! Finding or starting the three servers. Something already listening on a
//! server's port is used as it is (after checking it is the right kind of
//! server and usable: JetStream on, no password demanded) and never stopped;
//! only what syncchain started itself is stopped, and only by its pid.

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use rustix::process::Signal;
use syncchain_platform::shutdown::Shutdown;
use tokio::{net::TcpStream, time::Instant};

use super::{
    config::DevConfig,
    nats, postgres,
    process::{Launch, Probe, Supervised, stop_recorded},
    redis,
};

/// What to install when a server is missing.
pub const INSTALL: &str = "sudo apt-get install postgresql nats-server redis-server";
/// How long a server already listening may take to answer properly.
const EXISTING_GRACE: Duration = Duration::from_secs(15);

/// The servers this process started (attached ones only; detached ones are
/// recorded in pid files instead).
#[derive(Debug, Default)]
pub struct Infra {
    started: Vec<Supervised>,
}

impl Infra {
    /// Finds or starts every server the configuration manages. On failure,
    /// whatever was started is stopped again.
    pub async fn ensure(
        config: &DevConfig,
        launch: Launch,
        shutdown: &Shutdown,
    ) -> anyhow::Result<Self> {
        create_dir(&config.log_dir())?;
        create_dir(&config.run_dir())?;
        let mut infra = Self::default();
        match infra.ensure_each(config, launch, shutdown).await {
            Ok(()) => Ok(infra),
            Err(error) => {
                infra.stop().await;
                Err(error)
            }
        }
    }

    async fn ensure_each(
        &mut self,
        config: &DevConfig,
        launch: Launch,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        if config.manage.redis {
            self.keep(
                config,
                redis::ensure(config, launch, shutdown).await?,
                "redis",
                launch,
            )?;
        }
        if config.manage.nats {
            self.keep(
                config,
                nats::ensure(config, launch, shutdown).await?,
                "nats",
                launch,
            )?;
        }
        if config.manage.postgres {
            self.keep(
                config,
                postgres::ensure(config, launch, shutdown).await?,
                "postgres",
                launch,
            )?;
        }
        Ok(())
    }

    fn keep(
        &mut self,
        config: &DevConfig,
        server: Option<Supervised>,
        key: &str,
        launch: Launch,
    ) -> anyhow::Result<()> {
        let Some(server) = server else { return Ok(()) };
        match launch {
            Launch::Attached => self.started.push(server),
            Launch::Detached => {
                let pid_file = config.pid_file(key);
                let pid = server.pid().map(|p| p.to_string()).unwrap_or_default();
                std::fs::write(&pid_file, pid)
                    .with_context(|| format!("cannot write {}", pid_file.display()))?;
                server.detach();
            }
        }
        Ok(())
    }

    /// Completes when one of the started servers exits on its own: its name,
    /// log file and exit status. Never completes when none was started.
    pub async fn unexpected_exit(&mut self) -> (&'static str, PathBuf, String) {
        if self.started.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.started.iter_mut().map(|server| {
            Box::pin(async move {
                let status = server.exited().await;
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                (server.name(), server.log().to_owned(), status)
            })
        });
        futures::future::select_all(waits).await.0
    }

    /// Stops the started servers, newest first.
    pub async fn stop(self) {
        for server in self.started.into_iter().rev() {
            server.stop().await;
        }
    }
}

/// Stops the servers `infra up` left running, found by their pid files.
pub async fn down(config: &DevConfig) -> anyhow::Result<Vec<&'static str>> {
    let mut stopped = Vec::new();
    let servers = [
        ("postgres", "PostgreSQL", "postgres", Signal::INT),
        ("nats", "NATS", "nats-server", Signal::TERM),
        ("redis", "Redis", "redis-server", Signal::TERM),
    ];
    for (key, name, program, signal) in servers {
        if stop_recorded(name, &config.pid_file(key), program, signal).await? {
            stopped.push(name);
        }
    }
    Ok(stopped)
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub async fn listening(port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            TcpStream::connect(("127.0.0.1", port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Checks that the server already listening on a port is usable.
pub async fn check_existing<F, Fut>(name: &str, port: u16, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe>,
{
    let deadline = Instant::now() + EXISTING_GRACE;
    loop {
        match probe().await {
            Probe::Ready => {
                tracing::info!(server = name, port, "using the server already listening");
                return Ok(());
            }
            Probe::Unsuitable(reason) => bail!("{reason}"),
            Probe::NotYet(reason) if Instant::now() >= deadline => bail!(
                "something listens on 127.0.0.1:{port} but it does not answer as {name} ({reason}); \
                 stop it, or choose another port with the SYNCCHAIN_DEV_*_PORT variables"
            ),
            Probe::NotYet(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// How to start one server.
pub struct Spec {
    pub name: &'static str,
    pub command: tokio::process::Command,
    pub log: PathBuf,
    /// The signal that stops it cleanly.
    pub stop_signal: Signal,
    /// How long it may take to answer.
    pub ready_within: Duration,
}

/// Starts a server and waits until it answers; stops it again on failure.
pub async fn start<F, Fut>(
    spec: Spec,
    launch: Launch,
    shutdown: &Shutdown,
    probe: F,
) -> anyhow::Result<Supervised>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe>,
{
    let mut server =
        Supervised::spawn(spec.name, spec.command, &spec.log, spec.stop_signal, launch)?;
    match server.wait_ready(spec.ready_within, shutdown, probe).await {
        Ok(()) => {
            tracing::info!(server = spec.name, "local server ready");
            Ok(server)
        }
        Err(error) => {
            server.stop().await;
            Err(error)
        }
    }
}

/// An installed program: found on `PATH` or in the sbin folders a normal
/// user's `PATH` often lacks (Debian puts nats-server in /usr/sbin).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The error for a server that is neither listening nor installed.
pub fn not_installed(what: &str, programs: &str, port: u16, url_var: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} is not running on 127.0.0.1:{port} and is not installed (no {programs} found). \
         Install it with `{INSTALL}` (scripts/dev does this for you), \
         or set {url_var} to a server that is running"
    )
}

/// Creates a folder (and its parents) when missing.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
