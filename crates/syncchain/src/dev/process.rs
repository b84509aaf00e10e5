//! Child servers (postgres, nats-server, redis-server) that syncchain starts
//! itself. Each runs in its own process group, so the Ctrl-C a terminal sends
//! to syncchain's group reaches only syncchain: it stops the services first
//! and the servers after them, in that order, instead of everything dying at
//! once under the services' feet. Output goes to a log file in the dev
//! folder; when a server fails to start, the end of that log is the error.

use std::{
    fs::OpenOptions,
    future::Future,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process, test_kill_process};
use syncchain_platform::shutdown::Shutdown;
use tokio::{process::Child, time::Instant};

/// How long a server gets to stop after being asked before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How often readiness and liveness are checked.
const POLL: Duration = Duration::from_millis(100);

/// Whether a started server belongs to this process or outlives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Stopped when syncchain stops (`syncchain dev`).
    Attached,
    /// Left running in the background (`syncchain infra up`).
    Detached,
}

/// What a readiness probe learned about a server.
#[derive(Debug)]
pub enum Probe {
    Ready,
    /// Not answering yet (still starting); the reason, for a timeout message.
    NotYet(String),
    /// Answering, but not usable as it is; the reason and what to do.
    Unsuitable(String),
}

/// A server started by syncchain.
#[derive(Debug)]
pub struct Supervised {
    name: &'static str,
    child: Child,
    stop_signal: Signal,
    log: PathBuf,
}

impl Supervised {
    /// Starts `command` with its output appended to `log`.
    pub fn spawn(
        name: &'static str,
        mut command: tokio::process::Command,
        log: &Path,
        stop_signal: Signal,
        launch: Launch,
    ) -> anyhow::Result<Self> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open the log file {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(launch == Launch::Attached);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        tracing::info!(server = name, pid = child.id(), log = %log.display(), "started local server");
        Ok(Self {
            name,
            child,
            stop_signal,
            log: log.to_owned(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Polls `probe` until the server is ready, it exits, the deadline
    /// passes or shutdown is requested.
    pub async fn wait_ready<F, Fut>(
        &mut self,
        timeout: Duration,
        shutdown: &Shutdown,
        mut probe: F,
    ) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Probe>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) while starting; the end of its log {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            let last = match probe().await {
                Probe::Ready => return Ok(()),
                Probe::NotYet(reason) => reason,
                Probe::Unsuitable(reason) => bail!("{reason}"),
            };
            if shutdown.is_cancelled() {
                bail!("interrupted while waiting for {} to start", self.name);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not accept connections within {} s ({last}); see {}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Completes when the server exits on its own.
    pub async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Asks the server to stop, waits, and kills it if it does not.
    pub async fn stop(mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Some(pid) = self.child.id().and_then(pid_of) {
            let _ = kill_process(pid, self.stop_signal);
        }
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(Ok(status)) => tracing::info!(server = self.name, %status, "stopped local server"),
            Ok(Err(error)) => {
                tracing::warn!(server = self.name, %error, "cannot wait for local server")
            }
            Err(_) => {
                tracing::warn!(
                    server = self.name,
                    "local server did not stop in time; killing it"
                );
                let _ = self.child.kill().await;
            }
        }
    }

    /// Lets the server run on after this process exits.
    pub fn detach(self) {
        // Without kill_on_drop, dropping the handle leaves the process alone.
        drop(self.child);
    }
}

fn pid_of(id: u32) -> Option<Pid> {
    i32::try_from(id).ok().and_then(Pid::from_raw)
}

/// A server syncchain started, as its pid file records it: the server's pid
/// and, when a running `syncchain dev` owns it, that process's pid. A server
/// without an owner was left running on purpose (`syncchain infra up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub pid: u32,
    pub owner: Option<u32>,
}

/// What a pid file says now, checked against the running processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// No pid file, or its server is gone (the file is removed then).
    Nothing,
    /// Left running by `syncchain infra up`: used, stopped by `infra down`.
    Detached(u32),
    /// Owned by a `syncchain dev` that still runs: it stops the server.
    Owned { pid: u32, owner: u32 },
    /// Owned by a `syncchain dev` that is gone (killed, or its machine
    /// slept through the stop): nobody stops it unless taken over.
    Orphaned(u32),
}

impl Record {
    pub fn write(self, pid_file: &Path) -> anyhow::Result<()> {
        let text = match self.owner {
            Some(owner) => format!("{} {owner}\n", self.pid),
            None => format!("{}\n", self.pid),
        };
        std::fs::write(pid_file, text)
            .with_context(|| format!("cannot write {}", pid_file.display()))
    }

    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.split_whitespace();
        let pid = fields.next()?.parse().ok()?;
        let owner = match fields.next() {
            Some(owner) => Some(owner.parse().ok()?),
            None => None,
        };
        Some(Self { pid, owner })
    }
}

/// Reads `pid_file` for a server running `program`. A file whose process is
/// gone, or is now another program (the pid was reused), is removed.
pub fn recorded(pid_file: &Path, program: &str) -> Recorded {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Recorded::Nothing;
    };
    let Some(record) = Record::parse(&text).filter(|r| runs(r.pid, program)) else {
        let _ = std::fs::remove_file(pid_file);
        return Recorded::Nothing;
    };
    match record.owner {
        None => Recorded::Detached(record.pid),
        Some(owner) if runs(owner, "syncchain") => Recorded::Owned {
            pid: record.pid,
            owner,
        },
        Some(_) => Recorded::Orphaned(record.pid),
    }
}

/// Whether `pid` is alive and runs `program` (by its command name).
fn runs(pid: u32, program: &str) -> bool {
    let Some(pid) = pid_of(pid) else { return false };
    // The command name is cut at 15 characters by the kernel.
    let comm =
        std::fs::read_to_string(format!("/proc/{}/comm", pid.as_raw_pid())).unwrap_or_default();
    let wanted = &program[..program.len().min(15)];
    alive(pid) && comm.trim() == wanted
}

/// Stops the server `pid` with `signal` and waits until it is gone.
pub async fn stop_pid(name: &str, pid: u32, signal: Signal) -> anyhow::Result<()> {
    let Some(pid) = pid_of(pid) else {
        return Ok(());
    };
    kill_process(pid, signal)
        .with_context(|| format!("cannot stop {name} (pid {})", pid.as_raw_pid()))?;
    let deadline = Instant::now() + STOP_GRACE;
    while alive(pid) {
        if Instant::now() >= deadline {
            bail!(
                "{name} (pid {}) did not stop within {} s",
                pid.as_raw_pid(),
                STOP_GRACE.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::info!(server = name, "stopped local server");
    Ok(())
}

/// Whether `pid` still runs. A zombie counts as gone: when syncchain is not
/// its parent, reaping it is someone else's business (and a container's
/// init may never do it).
fn alive(pid: Pid) -> bool {
    if test_kill_process(pid).is_err() {
        return false;
    }
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_pid())).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    state != Some('Z')
}

/// The last lines of a log file, for an error message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
