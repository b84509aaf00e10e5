//! Pieces for tests that run their own server process: a spare port, a
//! temporary directory that goes away with the test, and finding the binary.

use std::{
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
};

/// Where spare ports come from: below Linux's default ephemeral range
/// (32768-60999), so no outgoing connection of this machine can take a
/// port between the moment it is handed out and the server binding it.
const SPARE_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// The ports this process has handed out, never handed out twice (tests
/// running as threads of one process would otherwise race for the same).
static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A port that was free a moment ago, for a server a test starts: chosen
/// at random in [`SPARE_PORTS`], not given before in this process, and
/// bindable on 127.0.0.1 when chosen. Another process could still take it
/// in between; servers started on it should retry with a new one if they
/// fail.
pub fn spare_port() -> u16 {
    let span = u128::from(SPARE_PORTS.end - SPARE_PORTS.start);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..10_000 {
        let offset = u16::try_from(uuid::Uuid::new_v4().as_u128() % span).unwrap_or(0);
        let port = SPARE_PORTS.start + offset;
        if !given.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("cannot find a spare port on 127.0.0.1 in {SPARE_PORTS:?}")
}

/// `std::env::temp_dir()/syncchain-test-<uuid>`, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("syncchain-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The binary named by `var`, else `name` found on `PATH`, else `fallback`.
pub fn find_binary(var: &str, name: &str, fallback: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(fallback))
}
