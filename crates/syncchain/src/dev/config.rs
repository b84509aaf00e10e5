//! What `syncchain dev` and `syncchain infra` decide before anything starts:
//! where the dev folder is, which ports the local servers use, and which
//! dependencies are theirs to find or start. A dependency whose URL variable
//! is set explicitly is the user's business: dev neither probes nor starts
//! it, it just connects.

use std::path::{Path, PathBuf};

use syncchain_platform::config::{ConfigError, Env};

pub const DEV_DIR_VAR: &str = "SYNCCHAIN_DEV_DIR";
pub const PG_PORT_VAR: &str = "SYNCCHAIN_DEV_PG_PORT";
pub const NATS_PORT_VAR: &str = "SYNCCHAIN_DEV_NATS_PORT";
pub const REDIS_PORT_VAR: &str = "SYNCCHAIN_DEV_REDIS_PORT";

/// Each service's database: the variable naming its URL, and the database
/// dev gives it on the local server.
pub const DATABASES: &[(&str, &str)] = &[
    ("SYNCCHAIN_USERS_DATABASE_URL", "syncchain_users"),
    ("SYNCCHAIN_PRODUCTS_DATABASE_URL", "syncchain_products"),
    ("SYNCCHAIN_ORDERS_DATABASE_URL", "syncchain_orders"),
];
/// The parent of the PostgreSQL clusters kept outside their dev folders.
pub const ELSEWHERE: &str = "/var/lib/syncchain";
const NATS_URL_VAR: &str = "SYNCCHAIN_NATS_URL";
const REDIS_URL_VAR: &str = "SYNCCHAIN_REDIS_URL";
const SECRET_VAR: &str = "SYNCCHAIN_JWT_SECRET";
const SECRET_FILE_VAR: &str = "SYNCCHAIN_JWT_SECRET_FILE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub postgres: u16,
    pub nats: u16,
    pub redis: u16,
}

/// Which dependencies dev finds on 127.0.0.1 or starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manage {
    pub postgres: bool,
    pub nats: bool,
    pub redis: bool,
}

/// Whom the local servers are for. It decides which URL variables, when
/// set, mean a server is not dev's to manage, and which ones an error about
/// a server names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `syncchain dev`: the services' URLs.
    Dev,
    /// `syncchain infra`, which scripts/test runs: the tests' URLs.
    Tests,
}

impl Purpose {
    /// The variable(s) that point at another PostgreSQL.
    pub fn postgres_var(self) -> &'static str {
        match self {
            Self::Dev => {
                "SYNCCHAIN_USERS_DATABASE_URL, SYNCCHAIN_PRODUCTS_DATABASE_URL and SYNCCHAIN_ORDERS_DATABASE_URL"
            }
            Self::Tests => "SYNCCHAIN_TEST_DATABASE_URL",
        }
    }

    pub fn nats_var(self) -> &'static str {
        match self {
            Self::Dev => NATS_URL_VAR,
            Self::Tests => "SYNCCHAIN_TEST_NATS_URL",
        }
    }

    pub fn redis_var(self) -> &'static str {
        match self {
            Self::Dev => REDIS_URL_VAR,
            Self::Tests => "SYNCCHAIN_TEST_REDIS_URL",
        }
    }

    /// Who needs the server, for messages.
    pub fn who(self) -> &'static str {
        match self {
            Self::Dev => "syncchain dev",
            Self::Tests => "the tests",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DevConfig {
    /// Absolute path of the dev folder (data, logs, the JWT secret).
    pub dir: PathBuf,
    pub ports: Ports,
    pub manage: Manage,
    pub purpose: Purpose,
}

impl DevConfig {
    /// The settings of `syncchain dev`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            dir: dev_dir(env)?,
            ports: ports(env)?,
            manage: Manage {
                postgres: DATABASES.iter().any(|(var, _)| env.raw(var).is_none()),
                nats: env.raw(NATS_URL_VAR).is_none(),
                redis: env.raw(REDIS_URL_VAR).is_none(),
            },
            purpose: Purpose::Dev,
        })
    }

    /// The settings of `syncchain infra`: the servers the tests use, unless
    /// their `SYNCCHAIN_TEST_*_URL` points elsewhere.
    pub fn for_tests(env: &Env) -> Result<Self, ConfigError> {
        let purpose = Purpose::Tests;
        Ok(Self {
            dir: dev_dir(env)?,
            ports: ports(env)?,
            manage: Manage {
                postgres: env.raw(purpose.postgres_var()).is_none(),
                nats: env.raw(purpose.nats_var()).is_none(),
                redis: env.raw(purpose.redis_var()).is_none(),
            },
            purpose,
        })
    }

    /// Dev mode, URLs of the local servers for every variable left unset,
    /// and the dev folder's JWT secret unless one is given.
    pub fn apply(&self, env: &mut Env) {
        env.set("SYNCCHAIN_ENV", "dev");
        self.point_databases(env);
        if env.raw(NATS_URL_VAR).is_none() {
            env.set(
                NATS_URL_VAR,
                format!("nats://127.0.0.1:{}", self.ports.nats),
            );
        }
        if env.raw(REDIS_URL_VAR).is_none() {
            env.set(
                REDIS_URL_VAR,
                format!("redis://127.0.0.1:{}", self.ports.redis),
            );
        }
        use_dev_secret(env, &self.dir);
    }

    /// Points every unset database URL at the dev PostgreSQL. `admin` and
    /// `migrate` use this too when `SYNCCHAIN_DEV_PG_PORT` is set, so they
    /// reach the same databases as `dev` with no further settings.
    pub fn point_databases(&self, env: &mut Env) {
        for (var, database) in DATABASES {
            if env.raw(var).is_none() {
                env.set(
                    *var,
                    format!(
                        "postgres://postgres@127.0.0.1:{}/{database}",
                        self.ports.postgres
                    ),
                );
            }
        }
    }

    /// The PostgreSQL cluster's folder when the postgres user can reach
    /// the dev folder (see `postgres::data_folder` for when it cannot).
    pub fn postgres_data(&self) -> PathBuf {
        self.dir.join("postgres")
    }

    /// Where the cluster is when it is not in the dev folder: a folder of
    /// this dev folder's own under /var/lib/syncchain, named by a hash of
    /// the dev folder's path so that two checkouts never share one.
    pub fn postgres_data_elsewhere(&self) -> PathBuf {
        PathBuf::from(ELSEWHERE)
            .join(format!(
                "dev-{:016x}",
                fnv1a(self.dir.as_os_str().as_encoded_bytes())
            ))
            .join("postgres")
    }

    /// The file in the dev folder that names the cluster's folder when it
    /// is elsewhere.
    pub fn postgres_location_file(&self) -> PathBuf {
        self.dir.join("postgres.location")
    }

    pub fn nats_store(&self) -> PathBuf {
        self.dir.join("nats")
    }

    pub fn redis_dir(&self) -> PathBuf {
        self.dir.join("redis")
    }

    /// Where the servers dev starts write their output.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn log_file(&self, server: &str) -> PathBuf {
        self.log_dir().join(format!("{server}.log"))
    }

    /// Where `infra up` records the servers it left running.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn pid_file(&self, server: &str) -> PathBuf {
        self.run_dir().join(format!("{server}.pid"))
    }
}

/// `SYNCCHAIN_DEV_DIR` (default `.dev`), made absolute against the current
/// directory so that servers started elsewhere find it.
pub fn dev_dir(env: &Env) -> Result<PathBuf, ConfigError> {
    let dir = PathBuf::from(env.string(DEV_DIR_VAR, ".dev"));
    if dir.is_absolute() {
        return Ok(dir);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(dir))
        .map_err(|e| {
            ConfigError::new(
                DEV_DIR_VAR,
                format!("cannot resolve against the current directory: {e}"),
            )
        })
}

/// Where the generated dev JWT secret lives.
pub fn secret_file(dir: &Path) -> PathBuf {
    dir.join("jwt-secret")
}

/// Points `SYNCCHAIN_JWT_SECRET_FILE` at the dev secret unless a secret is
/// configured. Returns the file when it did (it is generated at start).
pub fn use_dev_secret(env: &mut Env, dir: &Path) -> Option<PathBuf> {
    if env.raw(SECRET_VAR).is_some() || env.raw(SECRET_FILE_VAR).is_some() {
        return None;
    }
    let file = secret_file(dir);
    env.set(SECRET_FILE_VAR, file.display().to_string());
    Some(file)
}

fn ports(env: &Env) -> Result<Ports, ConfigError> {
    Ok(Ports {
        postgres: port(env, PG_PORT_VAR, 5432)?,
        nats: port(env, NATS_PORT_VAR, 4222)?,
        redis: port(env, REDIS_PORT_VAR, 6379)?,
    })
}

fn port(env: &Env, var: &str, default: u16) -> Result<u16, ConfigError> {
    let port = env.get(var, default)?;
    if port == 0 {
        return Err(ConfigError::new(
            var,
            "must be a port number from 1 to 65535",
        ));
    }
    Ok(port)
}

/// FNV-1a, 64 bits: a stable name for a path (not a security measure).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_urls_point_at_the_local_servers_on_the_dev_ports() {
        let env = Env::from_pairs([
            (PG_PORT_VAR, "15432"),
            (NATS_PORT_VAR, "14222"),
            (DEV_DIR_VAR, "/tmp/x"),
        ]);
        let config = DevConfig::from_env(&env).unwrap();
        let mut applied = env.clone();
        config.apply(&mut applied);

        assert_eq!(applied.raw("SYNCCHAIN_ENV"), Some("dev"));
        assert_eq!(
            applied.raw("SYNCCHAIN_USERS_DATABASE_URL"),
            Some("postgres://postgres@127.0.0.1:15432/syncchain_users")
        );
        assert_eq!(applied.raw(NATS_URL_VAR), Some("nats://127.0.0.1:14222"));
        assert_eq!(applied.raw(REDIS_URL_VAR), Some("redis://127.0.0.1:6379"));
        assert_eq!(applied.raw(SECRET_FILE_VAR), Some("/tmp/x/jwt-secret"));
        assert_eq!(
            config.manage,
            Manage {
                postgres: true,
                nats: true,
                redis: true
            }
        );
    }

    #[test]
    fn explicit_urls_and_secrets_are_kept_and_not_managed() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_USERS_DATABASE_URL", "postgres://db/users"),
            ("SYNCCHAIN_PRODUCTS_DATABASE_URL", "postgres://db/products"),
            ("SYNCCHAIN_ORDERS_DATABASE_URL", "postgres://db/orders"),
            (REDIS_URL_VAR, "redis://cache"),
            (SECRET_VAR, "0123456789abcdef0123456789abcdef"),
        ]);
        let config = DevConfig::from_env(&env).unwrap();
        let mut applied = env.clone();
        config.apply(&mut applied);

        assert_eq!(
            applied.raw("SYNCCHAIN_USERS_DATABASE_URL"),
            Some("postgres://db/users")
        );
        assert_eq!(applied.raw(REDIS_URL_VAR), Some("redis://cache"));
        assert_eq!(applied.raw(SECRET_FILE_VAR), None);
        assert_eq!(
            config.manage,
            Manage {
                postgres: false,
                nats: true,
                redis: false
            }
        );
    }

    #[test]
    fn the_tests_manage_what_their_own_urls_leave_unset() {
        let env = Env::from_pairs([
            ("SYNCCHAIN_TEST_NATS_URL", "nats://elsewhere:4222"),
            ("SYNCCHAIN_USERS_DATABASE_URL", "postgres://db/users"),
        ]);
        let config = DevConfig::for_tests(&env).unwrap();
        assert_eq!(
            config.manage,
            Manage {
                postgres: true,
                nats: false,
                redis: true
            }
        );
    }

    #[test]
    fn clusters_kept_elsewhere_are_one_per_dev_folder() {
        let at = |dir: &str| {
            let env = Env::from_pairs([(DEV_DIR_VAR, dir)]);
            DevConfig::from_env(&env).unwrap().postgres_data_elsewhere()
        };
        assert_eq!(at("/root/a/.dev"), at("/root/a/.dev"));
        assert_ne!(at("/root/a/.dev"), at("/root/b/.dev"));
        assert!(at("/root/a/.dev").starts_with(ELSEWHERE));
    }

    #[test]
    fn a_relative_dev_dir_is_made_absolute() {
        let config = DevConfig::from_env(&Env::default()).unwrap();
        assert!(config.dir.is_absolute());
        assert!(config.dir.ends_with(".dev"));
    }

    #[test]
    fn a_bad_port_names_its_variable() {
        for value in ["0", "70000", "http"] {
            let env = Env::from_pairs([(REDIS_PORT_VAR, value)]);
            assert_eq!(
                DevConfig::from_env(&env).unwrap_err().var,
                REDIS_PORT_VAR,
                "{value}"
            );
        }
    }
}
