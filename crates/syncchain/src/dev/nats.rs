//! NATS with JetStream. A server already listening is used only when its
//! greeting says JetStream is on: the Debian `nats-server` service, for one,
//! runs without it, and the services would fail later in a less obvious way.

use std::time::Duration;

use syncchain_platform::shutdown::Shutdown;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
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
    let port = config.ports.nats;
    if infra::listening(port).await {
        infra::check_existing("NATS", port, || probe(port)).await?;
        return Ok(None);
    }
    let program = infra::find_program("nats-server").ok_or_else(|| {
        infra::not_installed("NATS", "nats-server", port, config.purpose.nats_var())
    })?;
    let store = config.nats_store();
    infra::create_dir(&store)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(&store);
    let spec = Spec {
        name: "nats-server",
        command,
        log: config.log_file("nats"),
        stop_signal: infra::NATS.stop_signal,
        ready_within: Duration::from_secs(30),
    };
    infra::start(spec, launch, shutdown, || probe(port))
        .await
        .map(Some)
}

/// Reads the server's `INFO {json}` greeting.
pub async fn probe(port: u16) -> Probe {
    let connect = tokio::time::timeout(
        Duration::from_secs(2),
        TcpStream::connect(("127.0.0.1", port)),
    );
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Probe::NotYet(e.to_string()),
        Err(_) => return Probe::NotYet("no answer".into()),
    };
    let mut line = String::new();
    let mut reader = BufReader::new(stream.take(64 * 1024));
    match tokio::time::timeout(Duration::from_secs(2), reader.read_line(&mut line)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Probe::NotYet(e.to_string()),
        Err(_) => return Probe::NotYet("no greeting".into()),
    }
    greeting(port, &line)
}

fn greeting(port: u16, line: &str) -> Probe {
    let Some(info) = line.strip_prefix("INFO ") else {
        return Probe::Unsuitable(format!(
            "something listens on 127.0.0.1:{port} but it is not NATS; stop it, or set SYNCCHAIN_DEV_NATS_PORT to a free port"
        ));
    };
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap_or_default();
    if info["jetstream"] == serde_json::Value::Bool(true) {
        Probe::Ready
    } else {
        Probe::Unsuitable(format!(
            "the NATS server on 127.0.0.1:{port} runs without JetStream, which syncchain needs. \
             Restart it with `-js` (or add `jetstream: enabled` to its configuration), \
             or stop it (e.g. `sudo systemctl disable --now nats-server`) so that syncchain starts its own"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_with_jetstream_is_ready() {
        let line =
            r#"INFO {"server_id":"x","version":"2.9.10","jetstream":true,"max_payload":1048576}"#;
        assert!(matches!(greeting(4222, line), Probe::Ready));
    }

    #[test]
    fn a_greeting_without_jetstream_is_unsuitable_and_says_what_to_do() {
        let Probe::Unsuitable(reason) = greeting(4222, r#"INFO {"server_id":"x"}"#) else {
            panic!("expected unsuitable");
        };
        assert!(reason.contains("JetStream"), "{reason}");
    }

    #[test]
    fn another_protocol_is_unsuitable() {
        assert!(matches!(greeting(4222, "+OK\r\n"), Probe::Unsuitable(_)));
    }
}
