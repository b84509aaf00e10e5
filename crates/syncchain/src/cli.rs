//! The command line. Every setting that is not a choice of what to do comes
//! from `SYNCCHAIN_*` environment variables (secrets in particular are never
//! flags), so the same binary behaves the same under a shell, a container or
//! Kubernetes.

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "syncchain",
    version,
    about = "Order products securely: a GraphQL gateway in front of event-driven services",
    long_about = "Order products securely: a GraphQL gateway in front of event-driven services.\n\n\
        One binary plays every role. Settings come from SYNCCHAIN_* environment variables \
        (optionally preloaded from the KEY=VALUE file named by SYNCCHAIN_CONFIG_FILE).",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run one role of the system (or all of them) in this process until Ctrl-C or SIGTERM.
    ///
    /// Outside dev mode (SYNCCHAIN_ENV=production, the default) it refuses to
    /// start without SYNCCHAIN_JWT_SECRET or SYNCCHAIN_JWT_SECRET_FILE holding
    /// a secret of at least 32 bytes. In dev mode (SYNCCHAIN_ENV=dev) it falls
    /// back to the secret `syncchain dev` generates in SYNCCHAIN_DEV_DIR.
    Serve {
        /// Which role to run.
        #[arg(value_enum)]
        role: Role,
    },
    /// Run the whole system on this machine for development, with the GraphQL API at http://localhost:8000/graphql.
    ///
    /// Uses PostgreSQL, NATS and Redis when they already listen on 127.0.0.1
    /// (ports 5432, 4222, 6379, or SYNCCHAIN_DEV_PG_PORT, SYNCCHAIN_DEV_NATS_PORT,
    /// SYNCCHAIN_DEV_REDIS_PORT), otherwise starts local ones from the installed
    /// binaries with their data in SYNCCHAIN_DEV_DIR (default .dev). Generates a
    /// JWT secret once into that folder, creates and migrates the service
    /// databases, runs every service, and stops everything it started on Ctrl-C.
    Dev,
    /// Apply the database migrations of a service, then exit.
    ///
    /// Creates the database first when it does not exist. Safe to run again,
    /// and while the service runs.
    Migrate {
        /// Which service's database to migrate.
        #[arg(value_enum, default_value_t = MigrateTarget::All)]
        target: MigrateTarget,
    },
    /// Administer users directly in the users database (no token needed).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Look at the event flow and handle parked messages (reads the services' databases and NATS).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Ask a role running on this machine whether it is ready (its /readyz); exit 0 only if it is.
    ///
    /// Meant for container health checks. The address is the one the role
    /// listens on, from the same settings `serve` reads: SYNCCHAIN_GATEWAY_ADMIN_ADDR
    /// for the gateway and `all`, SYNCCHAIN_USERS_ADDR, SYNCCHAIN_PRODUCTS_ADDR or
    /// SYNCCHAIN_ORDERS_ADDR for a service (0.0.0.0 is reached on 127.0.0.1).
    /// Without a role, it checks the role this container's main process
    /// serves (`syncchain serve <role>` as PID 1, or behind an init).
    Health {
        /// Which role to check; by default the one PID 1 serves.
        #[arg(value_enum)]
        role: Option<Role>,
    },
    /// The PostgreSQL, NATS and Redis the tests use: start them in the background, see what runs, stop them.
    ///
    /// `up` uses what already listens on 127.0.0.1 (ports 5432, 4222, 6379, or
    /// the SYNCCHAIN_DEV_*_PORT variables) and starts the rest from the installed
    /// binaries, with their data and logs in SYNCCHAIN_DEV_DIR (default .dev);
    /// scripts/test runs it and stops what it started when the tests end.
    /// A server whose SYNCCHAIN_TEST_*_URL is set is left to that URL.
    /// Servers syncchain did not start are never stopped.
    Infra {
        #[command(subcommand)]
        command: InfraCommand,
    },
}

/// The roles `serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The public GraphQL gateway (HTTP, SYNCCHAIN_GATEWAY_ADDR).
    Gateway,
    /// The users service (gRPC and health, SYNCCHAIN_USERS_ADDR).
    Users,
    /// The products service (gRPC and health, SYNCCHAIN_PRODUCTS_ADDR).
    Products,
    /// The orders service (gRPC and health, SYNCCHAIN_ORDERS_ADDR).
    Orders,
    /// Every role in one process, sharing one shutdown.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateTarget {
    /// The users service's database (SYNCCHAIN_USERS_DATABASE_URL).
    Users,
    /// The products service's database (SYNCCHAIN_PRODUCTS_DATABASE_URL).
    Products,
    /// The orders service's database (SYNCCHAIN_ORDERS_DATABASE_URL).
    Orders,
    /// Every service's database.
    All,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Give the user with this email the ADMIN role (they sign in again to use it).
    Promote {
        /// The user's email, compared case-insensitively.
        email: String,
    },
    /// Take the ADMIN role away from the user with this email (back to CUSTOMER).
    Demote {
        /// The user's email, compared case-insensitively.
        email: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// Per stream: messages and bytes; per consumer: pending, waiting for ack, redelivered; per database: outbox rows, the oldest one's age, dead letters held.
    Status {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Messages consumers parked: list, show, redrive (publish again, once) or discard them.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLetterCommand {
    /// The messages held (neither redriven nor discarded), oldest first.
    List {
        /// Only this service's.
        #[arg(long, value_enum)]
        service: Option<EventsService>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One parked message with its payload, whatever became of it.
    Show {
        /// The service whose database holds it.
        #[arg(value_enum)]
        service: EventsService,
        /// Its id, as `list` shows it.
        id: i64,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish a held message again on its subject, once; if its consumer fails again it parks it again with the new reason.
    Redrive {
        /// The service whose database holds it.
        #[arg(value_enum)]
        service: EventsService,
        /// Its id, as `list` shows it.
        id: i64,
        /// Redrive a letter parked longer ago than the streams keep messages (7 days).
        #[arg(long)]
        force: bool,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set a held message aside; it stays on record.
    Discard {
        /// The service whose database holds it.
        #[arg(value_enum)]
        service: EventsService,
        /// Its id, as `list` shows it.
        id: i64,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The services whose databases hold outboxes and dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsService {
    Users,
    Products,
    Orders,
}

#[derive(Debug, Clone, Subcommand)]
pub enum InfraCommand {
    /// Make sure PostgreSQL, NATS and Redis answer, starting missing ones in the background.
    Up {
        /// Write the servers this call started to FILE, one per line (for `infra down SERVER...`).
        #[arg(long, value_name = "FILE")]
        started: Option<std::path::PathBuf>,
    },
    /// Say, for each server, whether it listens and who started it.
    Status,
    /// Stop the servers syncchain left running (by `infra up`, or by a `syncchain dev` that was killed).
    Down {
        /// Stop only these (default: all three).
        #[arg(value_enum)]
        servers: Vec<InfraServer>,
    },
    /// Stop what `down` stops, then delete the dev folder's data, logs and secret (and a PostgreSQL cluster kept for it under /var/lib/syncchain).
    Wipe,
}

/// The servers `infra` manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InfraServer {
    Postgres,
    Nats,
    Redis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn migrate_defaults_to_every_service() {
        let cli = Cli::try_parse_from(["syncchain", "migrate"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Migrate {
                target: MigrateTarget::All
            }
        ));
    }

    #[test]
    fn infra_down_takes_the_servers_to_stop() {
        let cli = Cli::try_parse_from(["syncchain", "infra", "down", "postgres", "nats"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Infra {
                command: InfraCommand::Down { ref servers }
            } if servers == &[InfraServer::Postgres, InfraServer::Nats]
        ));
        assert!(Cli::try_parse_from(["syncchain", "infra", "down", "mysql"]).is_err());
    }

    #[test]
    fn admin_promote_takes_an_email() {
        let cli = Cli::try_parse_from(["syncchain", "admin", "promote", "a@example.com"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Admin {
                command: AdminCommand::Promote { ref email }
            } if email == "a@example.com"
        ));
    }
}
