//! `syncchain infra up|status|down|wipe`: the dependency half of `syncchain
//! dev` without the services, for the tests. `up` finds or starts
//! PostgreSQL, NATS and Redis and leaves the ones it started running in the
//! background (pid files and logs in the dev folder); `down` stops exactly
//! those (and servers a killed `syncchain dev` left behind); `status` says
//! what runs and whose it is; `wipe` stops them and deletes the dev data.

use std::path::Path;

use anyhow::{Context, bail};
use syncchain_platform::shutdown;

use crate::{
    cli::{InfraCommand, InfraServer},
    dev::{
        DevConfig,
        infra::{self, Infra, Server},
        process::{Launch, Recorded, recorded},
    },
};

pub async fn run(command: InfraCommand, config: DevConfig) -> anyhow::Result<()> {
    match command {
        InfraCommand::Up { started } => up(&config, started.as_deref()).await,
        InfraCommand::Status => {
            for line in infra::status(&config).await {
                println!("{line}");
            }
            println!("dev folder: {}", config.dir.display());
            if let Ok(location) = std::fs::read_to_string(config.postgres_location_file()) {
                println!("PostgreSQL data: {}", location.trim());
            }
            Ok(())
        }
        InfraCommand::Down { servers } => {
            let only: Vec<Server> = servers.into_iter().map(server).collect();
            let stopped = infra::down(&config, &only).await?;
            if stopped.is_empty() {
                println!("nothing to stop: no server syncchain left running is up");
            } else {
                println!("stopped {}", stopped.join(", "));
            }
            Ok(())
        }
        InfraCommand::Wipe => wipe(&config).await,
    }
}

async fn up(config: &DevConfig, started_file: Option<&Path>) -> anyhow::Result<()> {
    infra::create_dir(&config.dir)?;
    // Ctrl-C (or a closed terminal) while a server starts stops that server.
    let shutdown = shutdown::on_signal_or_hangup();
    let infra = Infra::ensure(config, Launch::Detached, &shutdown).await?;
    if let Some(file) = started_file {
        let text: String = infra
            .detached
            .iter()
            .map(|key| format!("{key}\n"))
            .collect();
        std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    let ports = config.ports;
    println!(
        "PostgreSQL on 127.0.0.1:{}, NATS on 127.0.0.1:{} and Redis on 127.0.0.1:{} are up",
        ports.postgres, ports.nats, ports.redis
    );
    Ok(())
}

/// Stops what syncchain left running, then deletes the dev folder and the
/// cluster it names elsewhere. Refuses while a `syncchain dev` uses them.
async fn wipe(config: &DevConfig) -> anyhow::Result<()> {
    for which in infra::SERVERS {
        if let Recorded::Owned { owner, .. } = recorded(&config.pid_file(which.key), which.program)
        {
            bail!(
                "the syncchain dev running as pid {owner} uses this dev folder's {}: stop it first",
                which.name
            );
        }
    }
    let stopped = infra::down(config, &[]).await?;
    if !stopped.is_empty() {
        println!("stopped {}", stopped.join(", "));
    }
    if let Ok(location) = std::fs::read_to_string(config.postgres_location_file()) {
        let data = Path::new(location.trim());
        // Only ever the folder syncchain itself chose for this dev folder.
        if data == config.postgres_data_elsewhere() && data.exists() {
            remove(data.parent().unwrap_or(data))?;
        }
    }
    if config.dir.exists() {
        remove(&config.dir)?;
    } else {
        println!("nothing to delete: {} does not exist", config.dir.display());
    }
    Ok(())
}

fn remove(dir: &Path) -> anyhow::Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot delete {}", dir.display()))?;
    println!("deleted {}", dir.display());
    Ok(())
}

fn server(which: InfraServer) -> Server {
    match which {
        InfraServer::Postgres => infra::POSTGRES,
        InfraServer::Nats => infra::NATS,
        InfraServer::Redis => infra::REDIS,
    }
}
