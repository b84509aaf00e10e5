//! The one `syncchain` binary, as a library so tests drive the same code.
//!
//! `main` parses the command line, reads the environment once, lets
//! [`prepare`] settle the settings the command implies (dev mode and local
//! URLs for `dev`), installs logging, and hands over to [`Prepared::run`].
//! Each command lives in its own module; the services themselves are library
//! crates that this binary only wires together.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod cli;
pub mod dev;
pub mod events;
pub mod health;
pub mod infra;
pub mod migrate;
pub mod serve;

use syncchain_platform::{
    config::{ConfigError, Env, Mode},
    telemetry::{LogConfig, TraceConfig},
};

use cli::Command;
use dev::DevConfig;

/// A command with its settled environment.
#[derive(Debug)]
pub struct Prepared {
    plan: Plan,
    env: Env,
    mode: Mode,
}

#[derive(Debug)]
enum Plan {
    Serve(cli::Role, Option<DevConfig>),
    Dev(DevConfig),
    Migrate(cli::MigrateTarget),
    Admin(cli::AdminCommand),
    Events(cli::EventsCommand),
    Health(Option<cli::Role>),
    Infra(cli::InfraCommand, DevConfig),
}

/// Settles the environment a command runs with. `dev` gets the dev
/// folder's settings and `infra` the tests' view of them; `serve` in dev mode gets the dev folder's JWT
/// secret when none is configured. Nothing is started or written here.
pub fn prepare(command: Command, mut env: Env) -> Result<Prepared, ConfigError> {
    let with_dev_settings = |env: &mut Env| -> Result<DevConfig, ConfigError> {
        let config = DevConfig::from_env(env)?;
        config.apply(env);
        Ok(config)
    };
    let plan = match command {
        Command::Dev => Plan::Dev(with_dev_settings(&mut env)?),
        Command::Infra { command } => {
            quiet_by_default(&mut env);
            Plan::Infra(command, DevConfig::for_tests(&env)?)
        }
        Command::Serve { role } if Mode::from_env(&env)? == Mode::Dev => {
            let config = DevConfig::from_env(&env)?;
            dev::config::use_dev_secret(&mut env, &config.dir);
            Plan::Serve(role, Some(config))
        }
        Command::Serve { role } => Plan::Serve(role, None),
        Command::Migrate { target } => {
            follow_dev_port(&mut env)?;
            quiet_by_default(&mut env);
            Plan::Migrate(target)
        }
        Command::Admin { command } => {
            follow_dev_port(&mut env)?;
            quiet_by_default(&mut env);
            Plan::Admin(command)
        }
        Command::Events { command } => {
            follow_dev_port(&mut env)?;
            quiet_by_default(&mut env);
            Plan::Events(command)
        }
        Command::Health { role } => {
            quiet_by_default(&mut env);
            Plan::Health(role)
        }
    };
    let mode = Mode::from_env(&env)?;
    Ok(Prepared { plan, env, mode })
}

/// `admin` and `migrate` default to the database `dev` uses; when dev runs
/// its PostgreSQL on another port, they follow it.
fn follow_dev_port(env: &mut Env) -> Result<(), ConfigError> {
    if env.raw(dev::config::PG_PORT_VAR).is_some() {
        DevConfig::from_env(env)?.point_databases(env);
    }
    Ok(())
}

/// One-shot commands print their outcome; their logs show only problems
/// unless a filter is set.
fn quiet_by_default(env: &mut Env) {
    if env.raw("SYNCCHAIN_LOG").is_none() && env.raw("RUST_LOG").is_none() {
        env.set("SYNCCHAIN_LOG", "warn");
    }
}

impl Prepared {
    /// How to log. One-shot commands (`admin`, `migrate`, `health`,
    /// `infra`) log readable text unless told otherwise; `serve` follows the
    /// mode (JSON in production).
    pub fn log_config(&self) -> Result<LogConfig, ConfigError> {
        let mode = match self.plan {
            Plan::Serve(..) => self.mode,
            _ => Mode::Dev,
        };
        LogConfig::from_env(&self.env, mode)
    }

    /// Where to export spans: only `serve` and `dev` run long enough to
    /// have any, each process named after its role unless
    /// `OTEL_SERVICE_NAME` says otherwise.
    pub fn trace_config(&self) -> Result<Option<TraceConfig>, ConfigError> {
        let name = match &self.plan {
            Plan::Serve(cli::Role::All, _) | Plan::Dev(_) => "syncchain",
            Plan::Serve(cli::Role::Gateway, _) => "syncchain-gateway",
            Plan::Serve(cli::Role::Users, _) => "syncchain-users",
            Plan::Serve(cli::Role::Products, _) => "syncchain-products",
            Plan::Serve(cli::Role::Orders, _) => "syncchain-orders",
            _ => return Ok(None),
        };
        TraceConfig::from_env(&self.env, name)
    }

    pub async fn run(self) -> anyhow::Result<()> {
        match self.plan {
            Plan::Dev(config) => dev::run(config, self.env).await,
            Plan::Infra(command, config) => infra::run(command, config).await,
            Plan::Serve(role, dev) => {
                if let Some(config) = dev {
                    dev::ensure_dev_secret(&config, &self.env)?;
                }
                serve::run(role, self.env).await
            }
            Plan::Migrate(target) => migrate::run(target, self.env).await,
            Plan::Admin(command) => admin::run(command, self.env).await,
            Plan::Events(command) => events::run(command, self.env).await,
            Plan::Health(role) => health::run(role, self.env).await,
        }
    }
}
