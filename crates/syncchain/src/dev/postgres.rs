//! A private PostgreSQL cluster in the dev folder, created once with
//! `initdb` (trust authentication, user `postgres`, like the shared servers
//! the services expect in development) and started listening on 127.0.0.1
//! only. PostgreSQL refuses to run as root; when syncchain runs as root it
//! runs `initdb` and `postgres` as the `postgres` system user instead, and
//! keeps the cluster where that user can reach it without changing any
//! folder's permissions: in the dev folder when it can, else under
//! /var/lib/syncchain (a checkout in /root, mode 700, is out of its reach).

use std::{
    os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use rustix::process::geteuid;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use syncchain_platform::shutdown::Shutdown;

use super::{
    config::{DevConfig, Purpose},
    infra::{self, Spec},
    process::{Launch, Probe, Supervised},
};

/// The longest unix socket path the kernel accepts, less a margin.
const MAX_SOCKET_PATH: usize = 100;

pub async fn ensure(
    config: &DevConfig,
    launch: Launch,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<Supervised>> {
    let port = config.ports.postgres;
    let purpose = config.purpose;
    if infra::listening(port).await {
        infra::check_existing("PostgreSQL", port, || probe(port, purpose)).await?;
        return Ok(None);
    }
    let owner = Owner::current()?;
    let data = data_folder(config, owner.as_ref())?;
    let binaries = Binaries::find(&data).ok_or_else(|| {
        infra::not_installed(
            "PostgreSQL",
            "postgres and initdb in /usr/lib/postgresql/*/bin or on PATH",
            port,
            purpose.postgres_var(),
        )
    })?;
    if !data.join("PG_VERSION").exists() {
        initdb(&binaries, &data, owner.as_ref()).await?;
    }
    let mut command = tokio::process::Command::new(&binaries.postgres);
    command
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!(
            "unix_socket_directories={}",
            socket_dir(&data, port)
        ))
        // Dev data: losing the last transaction in a crash is fine, and
        // creating a database per test becomes much cheaper.
        .args(["-c", "synchronous_commit=off"])
        .current_dir(&data);
    if let Some(owner) = &owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    let spec = Spec {
        name: "postgres",
        command,
        log: config.log_file("postgres"),
        stop_signal: infra::POSTGRES.stop_signal,
        ready_within: Duration::from_secs(60),
    };
    infra::start(spec, launch, shutdown, || probe(port, purpose))
        .await
        .map(Some)
}

/// The cluster's folder (see the module's documentation). When it is not
/// in the dev folder, the dev folder names it in `postgres.location`.
fn data_folder(config: &DevConfig, owner: Option<&Owner>) -> anyhow::Result<PathBuf> {
    let inside = config.postgres_data();
    let Some(owner) = owner else {
        return Ok(inside);
    };
    if owner.reaches(&inside) {
        return Ok(inside);
    }
    let elsewhere = config.postgres_data_elsewhere();
    if let Some(parent) = elsewhere.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let location = config.postgres_location_file();
    std::fs::write(&location, format!("{}\n", elsewhere.display()))
        .with_context(|| format!("cannot write {}", location.display()))?;
    tracing::info!(
        data = %elsewhere.display(),
        "the postgres user cannot reach the dev folder: the PostgreSQL data lives here instead"
    );
    Ok(elsewhere)
}

/// Connects as `postgres` without a password, as the services will.
pub async fn probe(port: u16, purpose: Purpose) -> Probe {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .database("postgres");
    let connect =
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect_with(&options));
    match connect.await {
        Err(_) => Probe::NotYet("no answer".into()),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Probe::Ready
        }
        Ok(Err(sqlx::Error::Database(e))) => match e.code().as_deref() {
            // cannot_connect_now: starting up or recovering.
            Some("57P03") => Probe::NotYet(e.message().to_owned()),
            Some("28P01" | "28000") => Probe::Unsuitable(format!(
                "the PostgreSQL server on 127.0.0.1:{port} does not let user postgres in without a password ({}). \
                 {} needs one that trusts local connections: stop that server so that syncchain starts its own \
                 (on Debian: `sudo pg_ctlcluster <version> main stop`), or set {} \
                 to a URL with credentials",
                e.message(),
                purpose.who(),
                purpose.postgres_var(),
            )),
            _ => Probe::Unsuitable(format!(
                "the PostgreSQL server on 127.0.0.1:{port} refuses connections as user postgres ({})",
                e.message()
            )),
        },
        Ok(Err(e)) => Probe::NotYet(e.to_string()),
    }
}

/// The `postgres` and `initdb` programs to use.
#[derive(Debug)]
struct Binaries {
    postgres: PathBuf,
    initdb: PathBuf,
}

impl Binaries {
    /// The version that created `data` when it exists, else the newest in
    /// /usr/lib/postgresql (Debian's layout), else whatever is on `PATH`.
    fn find(data: &Path) -> Option<Self> {
        let created_by = std::fs::read_to_string(data.join("PG_VERSION")).ok();
        let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version = name
                    .split('.')
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>()
                    .ok()?;
                let bin = entry.path().join("bin");
                let complete = infra::is_executable(&bin.join("postgres"))
                    && infra::is_executable(&bin.join("initdb"));
                complete.then_some((version, bin))
            })
            .collect();
        versions.sort();
        let chosen = created_by
            .and_then(|wanted| {
                let wanted = wanted.trim().to_owned();
                versions
                    .iter()
                    .find(|(v, _)| version_text(v) == wanted)
                    .map(|(_, bin)| bin.clone())
            })
            .or_else(|| versions.last().map(|(_, bin)| bin.clone()));
        if let Some(bin) = chosen {
            return Some(Self {
                postgres: bin.join("postgres"),
                initdb: bin.join("initdb"),
            });
        }
        Some(Self {
            postgres: infra::find_program("postgres")?,
            initdb: infra::find_program("initdb")?,
        })
    }
}

fn version_text(version: &[u32]) -> String {
    version
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Creates the cluster in a staging folder renamed into place at the end, so
/// an interrupted `initdb` never leaves a half-made cluster behind.
async fn initdb(binaries: &Binaries, data: &Path, owner: Option<&Owner>) -> anyhow::Result<()> {
    let staging = data.with_file_name("postgres.init");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let mut command = tokio::process::Command::new(&binaries.initdb);
    command
        .arg("-D")
        .arg(&staging)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-locale",
            "--encoding=UTF8",
        ])
        .current_dir(&staging)
        .kill_on_drop(true);
    if let Some(owner) = owner {
        owner.own(&staging)?;
        command.uid(owner.uid).gid(owner.gid);
    }
    tracing::info!(data = %data.display(), "creating the local PostgreSQL cluster");
    let output = command
        .output()
        .await
        .with_context(|| format!("cannot run {}", binaries.initdb.display()))?;
    if !output.status.success() {
        bail!(
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&staging, data)
        .with_context(|| format!("cannot move {} to {}", staging.display(), data.display()))
}

/// Where the server puts its unix socket: the data folder, unless its path
/// is too long for a socket or would need quoting (then TCP only).
fn socket_dir(data: &Path, port: u16) -> String {
    let dir = data.display().to_string();
    let socket = format!("{dir}/.s.PGSQL.{port}");
    let plain = !dir.contains([',', '"', '\'', ' ', '\t', '\n']);
    if plain && socket.len() <= MAX_SOCKET_PATH {
        dir
    } else {
        String::new()
    }
}

/// The system user PostgreSQL runs as when syncchain runs as root.
#[derive(Debug)]
struct Owner {
    uid: u32,
    gid: u32,
}

impl Owner {
    /// `None` when not root: PostgreSQL then simply runs as the current user.
    fn current() -> anyhow::Result<Option<Self>> {
        if !geteuid().is_root() {
            return Ok(None);
        }
        let id = |flag: &str| -> Option<u32> {
            let output = std::process::Command::new("id")
                .args([flag, "postgres"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&output.stdout).trim().parse().ok()
        };
        match (id("-u"), id("-g")) {
            (Some(uid), Some(gid)) => Ok(Some(Self { uid, gid })),
            _ => bail!(
                "PostgreSQL refuses to run as root, and there is no `postgres` system user to run it as. \
                 Install PostgreSQL with `{}` (it creates that user), or run syncchain as a normal user",
                infra::INSTALL
            ),
        }
    }

    fn own(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("cannot hand {} to the postgres user", path.display()))
    }

    /// Whether this user can reach `path`: the search permission on every
    /// folder above it.
    fn reaches(&self, path: &Path) -> bool {
        path.ancestors().skip(1).all(|dir| {
            let Ok(meta) = dir.metadata() else {
                // Not made yet: it will be made by root with mode 755.
                return true;
            };
            let needed = if meta.uid() == self.uid {
                0o100
            } else if meta.gid() == self.gid {
                0o010
            } else {
                0o001
            };
            meta.permissions().mode() & needed != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_goes_in_the_data_folder_when_its_path_fits() {
        assert_eq!(
            socket_dir(Path::new("/p/.dev/postgres"), 5432),
            "/p/.dev/postgres"
        );
    }

    #[test]
    fn a_long_or_odd_data_path_means_tcp_only() {
        let long = format!("/{}/postgres", "x".repeat(120));
        assert_eq!(socket_dir(Path::new(&long), 5432), "");
        assert_eq!(
            socket_dir(Path::new("/my projects/.dev/postgres"), 5432),
            ""
        );
    }

    #[test]
    fn versions_print_as_postgres_writes_them() {
        assert_eq!(version_text(&[15]), "15");
        assert_eq!(version_text(&[9, 6]), "9.6");
    }
}
