//! `syncchain events`: the event flow from the command line. `status`
//! shows, per stream, its messages and bytes and, per durable consumer,
//! what is still to deliver, delivered but not yet acknowledged, and
//! redelivered; per service database, the outbox rows not yet published
//! and the age of the oldest, and the dead letters held. `dead-letters`
//! lists, shows, redrives or discards parked messages. Every command reads
//! the same settings the services read (`SYNCCHAIN_*_DATABASE_URL`,
//! `SYNCCHAIN_NATS_URL`, `SYNCCHAIN_EVENTS_NAMESPACE`), so with none set it
//! looks at what `syncchain dev` runs; `--json` prints one JSON document
//! for scripts instead of text for people.
//!
//! A redrive publishes the parked bytes again on their subject, with the
//! message id `redrive-<service>-<id>`, and records the time in the same
//! transaction that locked the row: a row is redriven at most once (a
//! second redrive is refused; a redrive retried after a lost commit is
//! dropped by JetStream's duplicate window), and a redriven message that
//! fails again is parked again as a new row with its new reason. Every
//! consumer of that subject sees it again; those that applied it before
//! skip it by its event id for as long as they remember applying it
//! (`processed::RETENTION`, about eight days), so a letter parked more than
//! [`REDRIVE_WITHIN`] ago is redriven only with `--force`. Consumers that
//! keep no record (the cache invalidation) repeat what is harmless to repeat.
//!
//! `status` and `list` report a database or stream they cannot read and go
//! on with the others: they are what an operator runs during an outage.

use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use futures::TryStreamExt;
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};
use syncchain_events::{EventsConfig, dead_letter, outbox, streams};
use syncchain_platform::{config::Env, deps};

use crate::cli::{DeadLetterCommand, EventsCommand, EventsService};

/// How old a letter may be and still be redriven without `--force`: the
/// streams' retention, well inside the consumers' memory of applied events.
const REDRIVE_WITHIN: Duration = streams::MAX_AGE;

pub async fn run(command: EventsCommand, env: Env) -> anyhow::Result<()> {
    match command {
        EventsCommand::Status { json } => status(&env, json).await,
        EventsCommand::DeadLetters { command } => dead_letters(&env, command).await,
    }
}

impl EventsService {
    const ALL: [EventsService; 3] = [Self::Users, Self::Products, Self::Orders];

    fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Products => "products",
            Self::Orders => "orders",
        }
    }

    /// A small pool on this service's database, from its settings.
    async fn pool(self, env: &Env) -> anyhow::Result<PgPool> {
        let options = match self {
            Self::Users => syncchain_users::DatabaseConfig::from_env(env)?.options,
            Self::Products => syncchain_products::DatabaseConfig::from_env(env)?.options,
            Self::Orders => syncchain_orders::config::DatabaseConfig::from_env(env)?.options,
        };
        let address = deps::postgres_address(&options);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot reach the {} database at {address}", self.name()))?;
        anyhow::ensure!(
            dead_letter::schema_is_current(&pool).await?,
            "the {name} database at {address} is not migrated to this version of syncchain: run `syncchain migrate {name}` (or start the {name} service of this version) first",
            name = self.name()
        );
        Ok(pool)
    }
}

async fn jetstream(env: &Env) -> anyhow::Result<(EventsConfig, async_nats::jetstream::Context)> {
    let config = EventsConfig::from_env(env)?;
    let nats = deps::connect_nats(&config.nats_url, "SYNCCHAIN_NATS_URL").await?;
    Ok((config, async_nats::jetstream::new(nats)))
}

async fn status(env: &Env, as_json: bool) -> anyhow::Result<()> {
    let (config, jetstream) = jetstream(env).await?;
    let mut stream_reports = Vec::new();
    for (name, _) in streams::STREAMS {
        let full = config.namespace.stream(name);
        let report = match stream_report(&jetstream, &full).await {
            Ok(report) => report,
            Err(error) => json!({ "stream": full, "error": format!("{error:#}") }),
        };
        stream_reports.push(report);
    }
    let mut database_reports = Vec::new();
    for service in EventsService::ALL {
        let report = match database_report(env, service).await {
            Ok(report) => report,
            Err(error) => json!({ "service": service.name(), "error": format!("{error:#}") }),
        };
        database_reports.push(report);
    }
    let report = json!({
        "namespace": config.namespace.to_string(),
        "streams": stream_reports,
        "databases": database_reports,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return unreadable(&report);
    }
    println!("streams (namespace {}):", config.namespace);
    for stream in &stream_reports {
        if let Some(error) = stream["error"].as_str() {
            println!("  {:<24} cannot be read: {error}", text(&stream["stream"]));
            continue;
        }
        println!(
            "  {:<24} {} messages, {}",
            text(&stream["stream"]),
            stream["messages"],
            bytes(stream["bytes"].as_u64().unwrap_or(0))
        );
        for consumer in stream["consumers"].as_array().into_iter().flatten() {
            println!(
                "    consumer {:<20} pending {}, waiting for ack {}, redelivered {}",
                text(&consumer["consumer"]),
                consumer["pending"],
                consumer["waiting_for_ack"],
                consumer["redelivered"]
            );
        }
    }
    println!("databases:");
    for db in &database_reports {
        if let Some(error) = db["error"].as_str() {
            println!("  {:<10} cannot be read: {error}", text(&db["service"]));
            continue;
        }
        let oldest = match db["oldest_outbox_row_seconds"].as_f64() {
            Some(age) => format!(", oldest {age:.1} s"),
            None => String::new(),
        };
        println!(
            "  {:<10} outbox {} rows{oldest}; dead letters held {}",
            text(&db["service"]),
            db["outbox_rows"],
            db["dead_letters"]
        );
    }
    unreadable(&report)
}

/// Fails, after the report is printed, naming every part that could not
/// be read, so a script sees a non-zero exit.
fn unreadable(report: &Value) -> anyhow::Result<()> {
    let errors: Vec<&str> = ["streams", "databases"]
        .iter()
        .flat_map(|part| report[part].as_array().into_iter().flatten())
        .filter_map(|entry| entry["error"].as_str())
        .collect();
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(())
}

async fn stream_report(
    jetstream: &async_nats::jetstream::Context,
    name: &str,
) -> anyhow::Result<Value> {
    let stream = jetstream
        .get_stream(name)
        .await
        .with_context(|| format!("cannot read stream {name} (the services create it at start)"))?;
    let state = stream.cached_info().state.clone();
    let consumers: Vec<Value> = stream
        .consumers()
        .map_ok(|info| {
            json!({
                "consumer": info.name,
                "pending": info.num_pending,
                "waiting_for_ack": info.num_ack_pending,
                "redelivered": info.num_redelivered,
            })
        })
        .try_collect()
        .await
        .with_context(|| format!("cannot list the consumers of {name}"))?;
    Ok(json!({
        "stream": name,
        "messages": state.messages,
        "bytes": state.bytes,
        "consumers": consumers,
    }))
}

async fn database_report(env: &Env, service: EventsService) -> anyhow::Result<Value> {
    let pool = service.pool(env).await?;
    let rows = outbox::pending(&pool).await?;
    let oldest = outbox::oldest_age(&pool).await?;
    let parked = dead_letter::held(&pool).await?;
    pool.close().await;
    Ok(json!({
        "service": service.name(),
        "outbox_rows": rows,
        "oldest_outbox_row_seconds": oldest.map(|age| age.as_secs_f64()),
        "dead_letters": parked,
    }))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A parked message as the commands print it; the payload only when asked.
fn letter_json(
    service: EventsService,
    letter: &dead_letter::DeadLetter,
    with_payload: bool,
) -> Value {
    let mut value = json!({
        "service": service.name(),
        "id": letter.id,
        "consumer": letter.consumer,
        "subject": letter.subject,
        "event_id": letter.event_id,
        "reason": letter.reason,
        "deliveries": letter.deliveries,
        "parked_at": letter.parked_at,
        "redriven_at": letter.redriven_at,
        "discarded_at": letter.discarded_at,
    });
    if with_payload {
        value["payload"] = match serde_json::from_slice::<Value>(&letter.payload) {
            Ok(parsed) => parsed,
            Err(_) => match std::str::from_utf8(&letter.payload) {
                Ok(raw) => json!(raw),
                Err(_) => json!({
                    "base64": base64::engine::general_purpose::STANDARD.encode(&letter.payload)
                }),
            },
        };
    }
    value
}

async fn dead_letters(env: &Env, command: DeadLetterCommand) -> anyhow::Result<()> {
    match command {
        DeadLetterCommand::List {
            service,
            json: as_json,
        } => {
            let services = service.map_or(EventsService::ALL.to_vec(), |s| vec![s]);
            let mut letters = Vec::new();
            let mut unreadable = Vec::new();
            for service in services {
                match held_letters(env, service).await {
                    Ok(held) => letters.extend(held),
                    Err(error) => {
                        eprintln!("warning: {error:#}");
                        unreadable.push(service.name());
                    }
                }
            }
            if as_json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() && unreadable.is_empty() {
                println!("no dead letters held");
            } else {
                for letter in &letters {
                    let reason = text(&letter["reason"]);
                    let short: String = reason.chars().take(100).collect();
                    println!(
                        "{} {:>5}  {}  {}  {} deliveries, parked {}: {short}",
                        text(&letter["service"]),
                        letter["id"],
                        text(&letter["consumer"]),
                        text(&letter["subject"]),
                        letter["deliveries"],
                        text(&letter["parked_at"])
                    );
                }
            }
            anyhow::ensure!(
                unreadable.is_empty(),
                "could not read the dead letters of {}",
                unreadable.join(", ")
            );
            Ok(())
        }
        DeadLetterCommand::Show {
            service,
            id,
            json: as_json,
        } => {
            let pool = service.pool(env).await?;
            let letter = dead_letter::find(&pool, id)
                .await?
                .with_context(|| format!("{} holds no dead letter {id}", service.name()))?;
            let value = letter_json(service, &letter, true);
            if as_json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for (key, field) in value.as_object().into_iter().flatten() {
                    match field {
                        Value::String(s) => println!("{key}: {s}"),
                        Value::Null => println!("{key}: -"),
                        other if key == "payload" => {
                            println!("{key}:\n{}", serde_json::to_string_pretty(other)?);
                        }
                        other => println!("{key}: {other}"),
                    }
                }
            }
            Ok(())
        }
        DeadLetterCommand::Redrive {
            service,
            id,
            force,
            json: as_json,
        } => {
            let pool = service.pool(env).await?;
            let (_, jetstream) = jetstream(env).await?;
            let mut tx = pool.begin().await?;
            let letter = dead_letter::lock_held(&mut tx, id).await?.with_context(|| {
                format!(
                    "{} holds no dead letter {id} still to redrive (see `syncchain events dead-letters show {} {id}`)",
                    service.name(),
                    service.name()
                )
            })?;
            let age = (chrono::Utc::now() - letter.parked_at)
                .to_std()
                .unwrap_or_default();
            anyhow::ensure!(
                force || age <= REDRIVE_WITHIN,
                "{} dead letter {id} was parked {} days ago: consumers that applied it may have forgotten that they did, and could apply it twice; redrive with --force if it is safe to apply again",
                service.name(),
                age.as_secs() / 86_400
            );
            let message_id = format!("redrive-{}-{id}", service.name());
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message_id.as_str());
            let ack = jetstream
                .publish_with_headers(
                    letter.subject.clone(),
                    headers,
                    letter.payload.clone().into(),
                )
                .await
                .context("cannot publish to NATS")?
                .await
                .context("JetStream did not store the redriven message")?;
            dead_letter::mark_redriven(&mut tx, id).await?;
            tx.commit().await?;
            let report = json!({
                "service": service.name(),
                "id": id,
                "subject": letter.subject,
                "message_id": message_id,
                "stream": ack.stream,
                "sequence": ack.sequence,
                "duplicate": ack.duplicate,
            });
            if as_json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "redrove {} dead letter {id}: published again on {} ({} sequence {}); consumer {} applies it, or parks it again with the new reason",
                    service.name(),
                    letter.subject,
                    ack.stream,
                    ack.sequence,
                    letter.consumer
                );
            }
            Ok(())
        }
        DeadLetterCommand::Discard {
            service,
            id,
            json: as_json,
        } => {
            let pool = service.pool(env).await?;
            let discarded = dead_letter::discard(&pool, id).await?;
            anyhow::ensure!(
                discarded,
                "{} holds no dead letter {id} still to discard",
                service.name()
            );
            if as_json {
                println!(
                    "{}",
                    json!({ "service": service.name(), "id": id, "discarded": true })
                );
            } else {
                println!(
                    "discarded {} dead letter {id}; it stays on record (`show` prints it)",
                    service.name()
                );
            }
            Ok(())
        }
    }
}

async fn held_letters(env: &Env, service: EventsService) -> anyhow::Result<Vec<Value>> {
    let pool = service.pool(env).await?;
    let held = dead_letter::held_letters(&pool).await?;
    pool.close().await;
    Ok(held
        .iter()
        .map(|letter| letter_json(service, letter, false))
        .collect())
}
