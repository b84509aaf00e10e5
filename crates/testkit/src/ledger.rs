//! What a test process made on the shared servers, and its removal.
//!
//! Every database and event namespace testkit hands out is first written
//! to this process's ledger, a file in `$TMPDIR/syncchain-tests/` named by
//! the process id and start time. When the process ends (a test binary
//! exits through libc's `exit`, after passing or failing tests alike) a
//! handler drops what the ledger lists: the databases, the namespace's
//! JetStream streams (`{NS}_*`) and its Redis keys (`{ns}*`), then the
//! ledger itself. A process killed before that leaves its ledger behind;
//! the first process of a later run (or of the same run) that finds the
//! ledger's owner gone claims the file by renaming it and cleans it up.
//!
//! Cleaning is best effort and bounded in time: a server that is away
//! never holds up a test process's exit, and what could not be removed
//! stays listed for the next sweep.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::{Mutex, Once},
    time::Duration,
};

/// How long cleaning at exit may take before the process exits anyway.
const CLEAN_WITHIN: Duration = Duration::from_secs(10);

/// One thing made on a shared server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A database on the PostgreSQL server at `server` (any database URL on it).
    Database { server: String, name: String },
    /// An event namespace: its streams on `nats`, its keys on `redis`.
    Namespace {
        nats: String,
        redis: String,
        namespace: String,
    },
}

impl Entry {
    fn line(&self) -> String {
        match self {
            Self::Database { server, name } => format!("db\t{server}\t{name}\n"),
            Self::Namespace {
                nats,
                redis,
                namespace,
            } => format!("ns\t{nats}\t{redis}\t{namespace}\n"),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["db", server, name] => Some(Self::Database {
                server: server.to_owned(),
                name: name.to_owned(),
            }),
            ["ns", nats, redis, namespace] => Some(Self::Namespace {
                nats: nats.to_owned(),
                redis: redis.to_owned(),
                namespace: namespace.to_owned(),
            }),
            _ => None,
        }
    }
}

static OPEN: Once = Once::new();
static LEDGER: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);
static SWEEPER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Records `entry` in this process's ledger, before the caller makes it.
/// The first call also starts sweeping the ledgers of processes that are
/// gone, and arranges for this one's to be cleaned at exit.
pub fn record(entry: &Entry) {
    OPEN.call_once(|| {
        let _ = fs::create_dir_all(dir());
        if let Ok(mut sweeper) = SWEEPER.lock() {
            *sweeper = Some(std::thread::spawn(sweep_abandoned));
        }
        register_at_exit();
    });
    let Ok(mut ledger) = LEDGER.lock() else {
        return;
    };
    if ledger.is_none() {
        let path = dir().join(format!("{}.ledger", process_id(std::process::id())));
        if let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) {
            *ledger = Some((path, file));
        }
    }
    if let Some((_, file)) = ledger.as_mut() {
        // One unbuffered write per entry: on disk before the resource exists.
        let _ = file.write_all(entry.line().as_bytes());
    }
}

/// Where the ledgers are.
pub fn dir() -> PathBuf {
    std::env::temp_dir().join("syncchain-tests")
}

/// A process's identity: its pid and start time, so a reused pid is told
/// apart from the process that wrote a ledger.
fn process_id(pid: u32) -> String {
    format!("{pid}-{}", start_time(pid).unwrap_or_default())
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22, counted after the command name (which may hold spaces).
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process a `pid-start` identity names still runs.
fn alive(identity: &str) -> bool {
    let Some((pid, _)) = identity.split_once('-') else {
        return false;
    };
    pid.parse().is_ok_and(|pid| process_id(pid) == identity)
}

/// The process a ledger file belongs to now: its claimer when claimed.
fn holder(file_name: &str) -> Option<&str> {
    let (owner, claimed) = match file_name.split_once(".ledger") {
        Some((owner, "")) => (owner, None),
        Some((owner, rest)) => (owner, rest.strip_prefix(".claimed-")),
        None => return None,
    };
    Some(claimed.unwrap_or(owner))
}

/// Cleans the ledgers whose holder is gone, claiming each first.
pub fn sweep_abandoned() {
    let me = process_id(std::process::id());
    let Ok(entries) = fs::read_dir(dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(holder) = holder(&name) else {
            continue;
        };
        if holder == me || alive(holder) {
            continue;
        }
        let owner = name.split(".ledger").next().unwrap_or_default();
        let claimed = dir().join(format!("{owner}.ledger.claimed-{me}"));
        // Only one sweeper wins the rename; the others find the file gone.
        if fs::rename(entry.path(), &claimed).is_ok() {
            clean_file(&claimed);
        }
    }
}

/// Removes what a ledger lists; deletes the ledger when all went, else
/// keeps the rest listed in it for a later sweep.
fn clean_file(path: &Path) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    let entries: Vec<Entry> = text.lines().filter_map(Entry::parse).collect();
    let left = clean(entries);
    if left.is_empty() {
        let _ = fs::remove_file(path);
    } else {
        let text: String = left.iter().map(Entry::line).collect();
        let _ = fs::write(path, text);
    }
}

/// Removes `entries` on a thread of its own with its own runtime (the
/// caller may be an exit handler, where the runtime a test used is gone),
/// within [`CLEAN_WITHIN`]. Returns those that could not be removed.
pub fn clean(entries: Vec<Entry>) -> Vec<Entry> {
    if entries.is_empty() {
        return entries;
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let copy = entries.clone();
    let worker = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = done_tx.send(copy);
            return;
        };
        let left = runtime.block_on(async {
            tokio::time::timeout(CLEAN_WITHIN, remove_all(copy.clone()))
                .await
                .unwrap_or(copy)
        });
        let _ = done_tx.send(left);
    });
    let left = done_rx
        .recv_timeout(CLEAN_WITHIN + Duration::from_secs(2))
        .unwrap_or(entries);
    drop(worker);
    left
}

async fn remove_all(entries: Vec<Entry>) -> Vec<Entry> {
    let mut left = Vec::new();
    for entry in entries {
        let removed = match &entry {
            Entry::Database { server, name } => drop_database(server, name).await,
            Entry::Namespace {
                nats,
                redis,
                namespace,
            } => {
                let streams = delete_streams(nats, namespace).await;
                let keys = delete_keys(redis, namespace).await;
                streams && keys
            }
        };
        if !removed {
            left.push(entry);
        }
    }
    left
}

async fn drop_database(server: &str, name: &str) -> bool {
    use sqlx::Connection;
    let Ok(options) = server.parse::<sqlx::postgres::PgConnectOptions>() else {
        return false;
    };
    let Ok(mut admin) = sqlx::PgConnection::connect_with(&options).await else {
        return false;
    };
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "")
    );
    let dropped = sqlx::query(&sql).execute(&mut admin).await.is_ok();
    let _ = admin.close().await;
    dropped
}

/// Deletes the namespace's streams (`{NS}_…`). A server that cannot be
/// reached counts as a failure; one without such streams as done.
async fn delete_streams(url: &str, namespace: &str) -> bool {
    use futures::TryStreamExt;
    let Ok(client) = async_nats::connect(url).await else {
        return false;
    };
    let jetstream = async_nats::jetstream::new(client);
    let prefix = format!("{}_", namespace.to_ascii_uppercase());
    let Ok(names) = jetstream.stream_names().try_collect::<Vec<String>>().await else {
        return false;
    };
    let mut all = true;
    for name in names.iter().filter(|n| n.starts_with(&prefix)) {
        all &= jetstream.delete_stream(name).await.is_ok();
    }
    all
}

/// Deletes the keys that start with the namespace (tests use it as their
/// Redis prefix).
async fn delete_keys(url: &str, namespace: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let pattern = format!("{namespace}*");
    let mut cursor: u64 = 0;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async::<(u64, Vec<String>)>(&mut conn)
            .await
        else {
            return false;
        };
        if !keys.is_empty()
            && redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<i64>(&mut conn)
                .await
                .is_err()
        {
            return false;
        }
        if next == 0 {
            return true;
        }
        cursor = next;
    }
}

/// At exit: waits for the sweep of abandoned ledgers, then cleans this
/// process's own.
extern "C" fn clean_at_exit() {
    let sweeper = SWEEPER.lock().ok().and_then(|mut s| s.take());
    if let Some(sweeper) = sweeper {
        let _ = sweeper.join();
    }
    let ledger = LEDGER.lock().ok().and_then(|mut l| l.take());
    if let Some((path, file)) = ledger {
        drop(file);
        clean_file(&path);
    }
}

fn register_at_exit() {
    // SAFETY: `atexit` only stores the function pointer, which is a plain
    // `extern "C" fn` with no captured state; it runs once, on the thread
    // calling `exit`, and does not unwind (it catches nothing that panics:
    // every step above returns errors as values).
    #[allow(unsafe_code)]
    let registered = unsafe { libc::atexit(clean_at_exit) };
    if registered != 0 {
        eprintln!("testkit: cannot register the clean-up at exit; a later run will sweep");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        for entry in [
            Entry::Database {
                server: "postgres://postgres@127.0.0.1:5432/postgres".into(),
                name: "sctest_x".into(),
            },
            Entry::Namespace {
                nats: "nats://127.0.0.1:4222".into(),
                redis: "redis://127.0.0.1:6379".into(),
                namespace: "t0123456789ab".into(),
            },
        ] {
            assert_eq!(Entry::parse(entry.line().trim_end()), Some(entry));
        }
        assert_eq!(Entry::parse("db\tonly-one-field"), None);
    }

    #[test]
    fn a_claimed_ledger_is_held_by_its_claimer() {
        assert_eq!(holder("12-34.ledger"), Some("12-34"));
        assert_eq!(holder("12-34.ledger.claimed-56-78"), Some("56-78"));
        assert_eq!(holder("notes.txt"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = process_id(std::process::id());
        assert!(alive(&me));
        assert!(!alive(&format!("{}-1", std::process::id())));
    }
}
