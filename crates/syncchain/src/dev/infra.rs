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
    process::{Launch, Probe, Record, Recorded, Supervised, recorded, stop_pid},
    redis,
};

/// What to install when a server is missing.
pub const INSTALL: &str =
    "sudo apt-get install --no-install-recommends postgresql nats-server redis-server";
/// How long a server already listening may take to answer properly.
const EXISTING_GRACE: Duration = Duration::from_secs(15);

/// One of the three servers: its key (pid file, log and command-line name),
/// what people call it, its program and the signal that stops it cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub key: &'static str,
    pub name: &'static str,
    pub program: &'static str,
    pub stop_signal: Signal,
}

pub const POSTGRES: Server = Server {
    key: "postgres",
    name: "PostgreSQL",
    program: "postgres",
    // SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead
    // of waiting for them (SIGTERM would wait).
    stop_signal: Signal::INT,
};
pub const NATS: Server = Server {
    key: "nats",
    name: "NATS",
    program: "nats-server",
    // SIGINT, not SIGTERM: nats-server exits with status 0 on SIGINT and
    // with 1 on SIGTERM, which would read as a failure in the logs.
    stop_signal: Signal::INT,
};
pub const REDIS: Server = Server {
    key: "redis",
    name: "Redis",
    program: "redis-server",
    stop_signal: Signal::TERM,
};
/// In the order they are stopped (the reverse of starting).
pub const SERVERS: [Server; 3] = [POSTGRES, NATS, REDIS];

/// A server this process started and stops when it ends.
#[derive(Debug)]
struct Started {
    server: Supervised,
    pid_file: PathBuf,
}

/// The servers this process started: attached ones it stops itself,
/// detached ones it leaves running (recorded in pid files).
#[derive(Debug, Default)]
pub struct Infra {
    started: Vec<Started>,
    /// The servers started detached by this call, by key.
    pub detached: Vec<&'static str>,
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
            take_over(config, REDIS, launch).await?;
            let started = redis::ensure(config, launch, shutdown).await?;
            self.keep(config, started, REDIS, launch)?;
        }
        if config.manage.nats {
            take_over(config, NATS, launch).await?;
            let started = nats::ensure(config, launch, shutdown).await?;
            self.keep(config, started, NATS, launch)?;
        }
        if config.manage.postgres {
            take_over(config, POSTGRES, launch).await?;
            let started = postgres::ensure(config, launch, shutdown).await?;
            self.keep(config, started, POSTGRES, launch)?;
        }
        Ok(())
    }

    /// Records a server just started in its pid file: with this process as
    /// its owner when attached, so that a later run can tell it was left
    /// behind if this process dies without stopping it.
    fn keep(
        &mut self,
        config: &DevConfig,
        server: Option<Supervised>,
        which: Server,
        launch: Launch,
    ) -> anyhow::Result<()> {
        let Some(server) = server else { return Ok(()) };
        let pid_file = config.pid_file(which.key);
        let record = Record {
            pid: server.pid().unwrap_or_default(),
            owner: (launch == Launch::Attached).then(std::process::id),
        };
        if let Err(error) = record.write(&pid_file) {
            tracing::warn!(error = format!("{error:#}"), "the server runs unrecorded");
        }
        match launch {
            Launch::Attached => self.started.push(Started { server, pid_file }),
            Launch::Detached => {
                self.detached.push(which.key);
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
        let waits = self.started.iter_mut().map(|started| {
            let server = &mut started.server;
            Box::pin(async move {
                let status = server.exited().await;
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                (server.name(), server.log().to_owned(), status)
            })
        });
        futures::future::select_all(waits).await.0
    }

    /// Stops the started servers, newest first, and removes their records.
    pub async fn stop(self) {
        for started in self.started.into_iter().rev() {
            started.server.stop().await;
            let _ = std::fs::remove_file(&started.pid_file);
        }
    }
}

/// Before looking for `server` on its port: a server of ours that a
/// `syncchain dev` left behind when it was killed is restarted, so that
/// this run owns it and stops it; one that `infra up` left running, or that
/// another running dev owns, is used as found.
async fn take_over(config: &DevConfig, server: Server, launch: Launch) -> anyhow::Result<()> {
    match recorded(&config.pid_file(server.key), server.program) {
        Recorded::Nothing => {}
        Recorded::Orphaned(pid) => {
            tracing::info!(
                server = server.name,
                pid,
                "a syncchain dev that is gone left this server running; restarting it"
            );
            stop_pid(server.name, pid, server.stop_signal).await?;
            let _ = std::fs::remove_file(config.pid_file(server.key));
        }
        Recorded::Detached(pid) if launch == Launch::Attached => tracing::info!(
            server = server.name,
            pid,
            "using the server `syncchain infra up` left running; it keeps running after dev \
             stops (`syncchain infra down` stops it)"
        ),
        Recorded::Detached(_) => {}
        Recorded::Owned { pid, owner } => tracing::info!(
            server = server.name,
            pid,
            owner,
            "using the server another running syncchain dev started"
        ),
    }
    Ok(())
}

/// Stops the servers syncchain left running (by `infra up`, or by a dev
/// that is gone), found by their pid files; only those in `only` when it is
/// not empty. Servers a running dev owns are left to it. Returns the names
/// of those stopped.
pub async fn down(config: &DevConfig, only: &[Server]) -> anyhow::Result<Vec<&'static str>> {
    let mut stopped = Vec::new();
    for server in SERVERS {
        if !only.is_empty() && !only.contains(&server) {
            continue;
        }
        let pid_file = config.pid_file(server.key);
        match recorded(&pid_file, server.program) {
            Recorded::Detached(pid) | Recorded::Orphaned(pid) => {
                stop_pid(server.name, pid, server.stop_signal).await?;
                let _ = std::fs::remove_file(&pid_file);
                stopped.push(server.name);
            }
            Recorded::Owned { owner, .. } => {
                println!(
                    "{} belongs to the syncchain dev running as pid {owner}: stop that one instead",
                    server.name
                );
            }
            Recorded::Nothing => {}
        }
    }
    Ok(stopped)
}

/// One line per server: where it is and who started it.
pub async fn status(config: &DevConfig) -> Vec<String> {
    let mut lines = Vec::new();
    for server in SERVERS.into_iter().rev() {
        let port = match server.key {
            "postgres" => config.ports.postgres,
            "nats" => config.ports.nats,
            _ => config.ports.redis,
        };
        let up = listening(port).await;
        let whose = match recorded(&config.pid_file(server.key), server.program) {
            Recorded::Detached(pid) => format!(
                "started by `syncchain infra up` (pid {pid}); `syncchain infra down` stops it"
            ),
            Recorded::Owned { pid, owner } => {
                format!("started by the syncchain dev running as pid {owner} (pid {pid})")
            }
            Recorded::Orphaned(pid) => format!(
                "left running by a syncchain dev that is gone (pid {pid}); \
                 `syncchain infra down` stops it, the next dev restarts it"
            ),
            Recorded::Nothing if up => "not started by syncchain: left alone".to_owned(),
            Recorded::Nothing => "not running".to_owned(),
        };
        let managed = match server.key {
            "postgres" => config.manage.postgres,
            "nats" => config.manage.nats,
            _ => config.manage.redis,
        };
        let note = if managed {
            String::new()
        } else {
            " (its URL is set: syncchain does not manage it)".to_owned()
        };
        let state = if up { "listening" } else { "nothing listening" };
        lines.push(format!(
            "{:<10} 127.0.0.1:{port:<5}  {state}, {whose}{note}",
            server.name
        ));
    }
    lines
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
