//! `syncchain health [ROLE]`: asks a role running on this machine whether it
//! is ready (its `/readyz`) and exits 0 only when it answers 200. Container
//! health checks run it inside the container, so the image needs no HTTP
//! client of its own.
//!
//! The address is the one the role listens on, read from the same settings
//! `serve` binds (an unspecified address such as `0.0.0.0` is reached on
//! loopback). Without a role it checks the role that the container's main
//! process serves, found in `/proc/1/cmdline` (`syncchain serve <role>`,
//! directly or behind an init such as `docker run --init`), so one
//! image-wide `HEALTHCHECK` fits every role.
//!
//! The request is one plain HTTP/1.1 `GET` with `Connection: close`: the
//! endpoints are local, unencrypted and answer small JSON bodies.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use clap::ValueEnum;
use syncchain_platform::config::Env;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{cli::Role, serve};

/// The longest a check waits for an answer: a health check that hangs is
/// worse than one that fails.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The most of an answer that is read; `/readyz` answers a few dozen bytes.
const MAX_ANSWER: u64 = 64 * 1024;

pub async fn run(role: Option<Role>, env: Env) -> anyhow::Result<()> {
    let role = match role {
        Some(role) => role,
        None => main_process_role()?,
    };
    let listener = serve::readiness_listener(role);
    let var = listener.addr_var;
    let addr = env.string(var, listener.default_addr);
    let target = resolve(&addr)
        .await
        .with_context(|| format!("cannot resolve {addr} (set by {var})"))?;
    let answer = tokio::time::timeout(TIMEOUT, get(target, "/readyz"))
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {target} within {TIMEOUT:?}"))?
        .with_context(|| format!("cannot ask {target} (set by {var}) whether it is ready"))?;
    println!("{}", answer.body.trim());
    if answer.status != 200 {
        bail!(
            "{} at {target} is not ready (HTTP {})",
            role_name(role),
            answer.status
        );
    }
    Ok(())
}

/// The role that `/proc/1/cmdline` serves.
fn main_process_role() -> anyhow::Result<Role> {
    let cmdline = std::fs::read("/proc/1/cmdline").context("cannot read /proc/1/cmdline")?;
    role_in_command_line(&cmdline).ok_or_else(|| {
        anyhow::anyhow!(
            "name the role to check (syncchain health <gateway|users|products|orders|all>): \
             this container's main process is not `syncchain serve <role>`"
        )
    })
}

/// The role of `syncchain serve <role>` in a NUL-separated command line,
/// wherever it stands in it (an init may come first).
fn role_in_command_line(cmdline: &[u8]) -> Option<Role> {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(3).find_map(|w| {
        let program = std::str::from_utf8(w[0]).ok()?;
        let is_syncchain = std::path::Path::new(program)
            .file_name()
            .is_some_and(|name| name == "syncchain");
        if !is_syncchain || w[1] != b"serve" {
            return None;
        }
        Role::from_str(std::str::from_utf8(w[2]).ok()?, false).ok()
    })
}

fn role_name(role: Role) -> String {
    role.to_possible_value()
        .map_or_else(|| format!("{role:?}"), |v| v.get_name().to_owned())
}

/// The first address `addr` names, with an unspecified IP read as loopback.
async fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    let first = tokio::net::lookup_host(addr)
        .await?
        .next()
        .context("the name has no address")?;
    Ok(serve::reachable(first))
}

/// Polls `/readyz` at `target` until it answers 200 (then `true`), or
/// `within` has passed or shutdown was asked for (then `false`).
pub async fn wait_ready(
    target: SocketAddr,
    within: std::time::Duration,
    shutdown: &syncchain_platform::shutdown::Shutdown,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if matches!(get(target, "/readyz").await, Ok(answer) if answer.status == 200) {
            return true;
        }
        if shutdown.is_cancelled() || tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}

struct Answer {
    status: u16,
    body: String,
}

async fn get(target: SocketAddr, path: &str) -> anyhow::Result<Answer> {
    let mut stream = TcpStream::connect(target).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut raw).await?;
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> anyhow::Result<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = match status_line.split_whitespace().collect::<Vec<_>>()[..] {
        [version, code, ..] if version.starts_with("HTTP/1.") => code.parse().ok(),
        _ => None,
    }
    .with_context(|| format!("not an HTTP answer: {status_line:?}"))?;
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    fn cmdline(args: &[&str]) -> Vec<u8> {
        let mut bytes = args.join("\0").into_bytes();
        bytes.push(0);
        bytes
    }

    #[test]
    fn the_role_is_read_from_the_serve_command_of_the_main_process() {
        let direct = cmdline(&["/usr/local/bin/syncchain", "serve", "orders"]);
        let behind_an_init = cmdline(&["/sbin/docker-init", "--", "syncchain", "serve", "gateway"]);

        assert_eq!(role_in_command_line(&direct), Some(Role::Orders));
        assert_eq!(role_in_command_line(&behind_an_init), Some(Role::Gateway));
    }

    #[test]
    fn no_role_is_found_in_another_command() {
        for args in [
            &["syncchain", "migrate", "all"][..],
            &["other", "serve", "users"],
            &["syncchain", "serve", "billing"],
            &["syncchain", "serve"],
        ] {
            assert_eq!(role_in_command_line(&cmdline(args)), None, "{args:?}");
        }
    }

    /// A one-shot server that answers the first request with `answer`.
    async fn answering(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        addr
    }

    fn env_for_users(addr: SocketAddr) -> Env {
        Env::from_pairs([("SYNCCHAIN_USERS_ADDR", addr.to_string())])
    }

    #[tokio::test]
    async fn a_role_answering_200_is_healthy() {
        let addr =
            answering("HTTP/1.1 200 OK\r\ncontent-length: 18\r\n\r\n{\"status\":\"ready\"}").await;

        run(Some(Role::Users), env_for_users(addr)).await.unwrap();
    }

    #[tokio::test]
    async fn a_role_answering_503_is_not_ready_and_says_so() {
        let addr =
            answering("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}").await;

        let error = run(Some(Role::Users), env_for_users(addr))
            .await
            .unwrap_err();

        assert_eq!(
            error.to_string(),
            format!("users at {addr} is not ready (HTTP 503)")
        );
    }

    #[tokio::test]
    async fn a_role_that_does_not_listen_fails_naming_the_setting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);

        let error = run(Some(Role::Users), env_for_users(addr))
            .await
            .unwrap_err();

        assert!(
            format!("{error:#}").contains("SYNCCHAIN_USERS_ADDR"),
            "{error:#}"
        );
    }

    #[test]
    fn an_answer_that_is_not_http_is_refused() {
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_answer(b"").is_err());
    }
}
