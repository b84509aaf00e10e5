//! The dev JWT secret: generated once, kept in the dev folder readable by
//! its owner only, and reused on every start so tokens survive restarts.
//! It is never printed; processes read it through
//! `SYNCCHAIN_JWT_SECRET_FILE` like any production secret file.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{RngCore, rngs::OsRng};
use syncchain_platform::auth::MIN_SECRET_BYTES;

/// Random bytes in a new secret (stored base64-encoded: 64 characters).
const SECRET_BYTES: usize = 48;

/// Makes sure `path` holds a usable secret, generating one when missing.
pub fn ensure(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= MIN_SECRET_BYTES => {
            let permissions = std::fs::metadata(path)?.permissions();
            if permissions.mode() & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {} to its owner", path.display()))?;
            }
            Ok(())
        }
        Ok(_) => bail!(
            "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes; delete it and a new one is generated",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn generate(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let text = URL_SAFE_NO_PAD.encode(bytes);
    // Written aside and renamed, so a reader never sees half a secret.
    let staging = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&staging, path).with_context(|| format!("cannot create {}", path.display()))?;
    tracing::info!(file = %path.display(), "generated the dev JWT secret");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file path in a fresh folder, removed with the guard.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!(
                "syncchain-secret-{}",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self) -> std::path::PathBuf {
            self.0.join("jwt-secret")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_secret_is_generated_once_private_and_long_enough() {
        let scratch = Scratch::new();
        let path = scratch.file();

        ensure(&path).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        ensure(&path).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();

        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_short_secret_file_is_refused() {
        let scratch = Scratch::new();
        let path = scratch.file();
        std::fs::write(&path, "too short").unwrap();

        let error = ensure(&path).unwrap_err().to_string();

        assert!(error.contains("shorter than 32 bytes"), "{error}");
    }
}
