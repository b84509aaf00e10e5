//! Redis, kept in memory only: the dev system uses it for the product cache,
//! rate-limit counters and the gateway's copy of the session state, all of
//! which may be lost on restart (sign-outs are kept by the users service).

use std::time::Duration;

use syncchain_platform::shutdown::Shutdown;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use super::{
    config::DevConfig,
    infra::{self, Spec},
    process::{Launch, Probe, Supervised},
};

pub async fn ensure(
    config: &DevConfig,
    launch: Launch,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<Supervised>> {
    let port = config.ports.redis;
    let url_var = config.purpose.redis_var();
    if infra::listening(port).await {
        infra::check_existing("Redis", port, || probe(port, url_var)).await?;
        return Ok(None);
    }
    let program = infra::find_program("redis-server").ok_or_else(|| {
        infra::not_installed("Redis", "redis-server", port, config.purpose.redis_var())
    })?;
    let dir = config.redis_dir();
    infra::create_dir(&dir)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
        ])
        .arg(&dir);
    let spec = Spec {
        name: "redis-server",
        command,
        log: config.log_file("redis"),
        stop_signal: infra::REDIS.stop_signal,
        ready_within: Duration::from_secs(30),
    };
    infra::start(spec, launch, shutdown, || probe(port, url_var))
        .await
        .map(Some)
}

/// Sends `PING` and reads the answer.
pub async fn probe(port: u16, url_var: &str) -> Probe {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut line = String::new();
        BufReader::new(stream.take(64 * 1024))
            .read_line(&mut line)
            .await?;
        Ok::<_, std::io::Error>(line)
    };
    match tokio::time::timeout(Duration::from_secs(2), exchange).await {
        Ok(Ok(line)) => answer(port, url_var, &line),
        Ok(Err(e)) => Probe::NotYet(e.to_string()),
        Err(_) => Probe::NotYet("no answer".into()),
    }
}

fn answer(port: u16, url_var: &str, line: &str) -> Probe {
    let line = line.trim();
    if line == "+PONG" {
        Probe::Ready
    } else if line.starts_with("-LOADING") {
        Probe::NotYet("loading its data".into())
    } else if line.starts_with("-NOAUTH") || line.starts_with("-WRONGPASS") {
        Probe::Unsuitable(format!(
            "the Redis server on 127.0.0.1:{port} requires a password; \
             set {url_var}=redis://:PASSWORD@127.0.0.1:{port}, or stop it so that syncchain starts its own"
        ))
    } else {
        Probe::Unsuitable(format!(
            "something listens on 127.0.0.1:{port} but it is not Redis; stop it, or set SYNCCHAIN_DEV_REDIS_PORT to a free port"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pong_is_ready_and_loading_is_not_yet() {
        assert!(matches!(
            answer(6379, "SYNCCHAIN_REDIS_URL", "+PONG\r\n"),
            Probe::Ready
        ));
        assert!(matches!(
            answer(6379, "SYNCCHAIN_REDIS_URL", "-LOADING Redis is loading"),
            Probe::NotYet(_)
        ));
    }

    #[test]
    fn a_password_protected_server_is_unsuitable_and_says_what_to_do() {
        let Probe::Unsuitable(reason) = answer(
            6379,
            "SYNCCHAIN_REDIS_URL",
            "-NOAUTH Authentication required.",
        ) else {
            panic!("expected unsuitable");
        };
        assert!(reason.contains("SYNCCHAIN_REDIS_URL"), "{reason}");
    }
}
