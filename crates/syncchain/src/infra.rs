//! `syncchain infra up|down` (hidden): the dependency half of `syncchain
//! dev` without the services, for scripts. `up` finds or starts PostgreSQL,
//! NATS and Redis and leaves the ones it started running in the background
//! (pid files and logs in the dev folder); `down` stops exactly those.

use syncchain_platform::shutdown;

use crate::{
    cli::InfraCommand,
    dev::{
        DevConfig,
        infra::{self, Infra},
        process::Launch,
    },
};

pub async fn run(command: InfraCommand, config: DevConfig) -> anyhow::Result<()> {
    match command {
        InfraCommand::Up => {
            infra::create_dir(&config.dir)?;
            // Ctrl-C while a server starts stops that server.
            let shutdown = shutdown::on_signal();
            Infra::ensure(&config, Launch::Detached, &shutdown).await?;
            let ports = config.ports;
            println!(
                "PostgreSQL on 127.0.0.1:{}, NATS on 127.0.0.1:{} and Redis on 127.0.0.1:{} are up",
                ports.postgres, ports.nats, ports.redis
            );
        }
        InfraCommand::Down => {
            let stopped = infra::down(&config).await?;
            if stopped.is_empty() {
                println!("nothing to stop: no server started by `syncchain infra up` is running");
            } else {
                println!("stopped {}", stopped.join(", "));
            }
        }
    }
    Ok(())
}
