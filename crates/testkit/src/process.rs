//! Pieces for tests that run their own server process: a spare port, a
//! temporary directory that goes away with the test, and finding the binary.

use std::{
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
};

/// A port that was free a moment ago: bound on 127.0.0.1 port 0, then
/// released for the server to take. Another process could take it in
/// between; servers started on it should retry with a new one if they fail.
pub fn spare_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot find a spare port on 127.0.0.1: {e}"))
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
