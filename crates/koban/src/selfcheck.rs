//! `koban selfcheck`: the command room's daily check. It verifies storage, the audit log,
//! the reference data (geocoder, boundaries, road index) and the event bus, prints one
//! line per check, and exits non-zero on any fault.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::StorageArgs;

#[derive(Args, Debug)]
pub struct SelfcheckArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// NATS server of the event bus (host:port); without it the bus check is skipped.
    #[arg(long, env = "KOBAN_NATS")]
    nats: Option<String>,
}

/// An outbox event older than this means the relay to the bus is stuck.
const OUTBOX_STUCK_S: i64 = 60;

/// Time allowed to reach the event bus.
const BUS_TIMEOUT_MS: u64 = 3000;

struct Report {
    faults: usize,
}

impl Report {
    fn line(&mut self, ok: Option<bool>, what: &str, detail: &str) {
        let mark = match ok {
            Some(true) => "OK  ",
            Some(false) => {
                self.faults += 1;
                "FAIL"
            }
            None => "--  ",
        };
        println!("{mark} {what:<14} {detail}");
    }
}

/// Connects to NATS and checks that it greets with INFO and reports JetStream.
fn check_nats(addr: &str) -> Result<String, String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_millis(BUS_TIMEOUT_MS))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(BUS_TIMEOUT_MS)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).map_err(|e| format!("{addr}: {e}"))?;
    let info = String::from_utf8_lossy(&buf[..n]);
    if !info.starts_with("INFO ") {
        return Err(format!("{addr}: not a NATS server"));
    }
    let _ = s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    let jetstream = info.contains("\"jetstream\":true");
    Ok(format!(
        "{addr} answers{}",
        if jetstream {
            ", JetStream on"
        } else {
            " (JetStream not reported)"
        }
    ))
}

pub async fn run(args: SelfcheckArgs) -> Result<ExitCode> {
    let mut r = Report { faults: 0 };
    println!(
        "koban selfcheck — {}",
        koban_service::clock::rfc3339(koban_service::Clock::now_us(&koban_service::SystemClock))
    );
    let (koban, store) = match crate::open(&args.storage).await {
        Ok(x) => x,
        Err(e) => {
            r.line(Some(false), "storage", &format!("{e:#}"));
            return Ok(ExitCode::from(1));
        }
    };
    match (store.ping().await, store.migrations().await) {
        (Ok(()), Ok(m)) => r.line(
            Some(true),
            "storage",
            &format!("{} answers, migrations {:?}", store.backend(), m),
        ),
        (Err(e), _) | (_, Err(e)) => r.line(Some(false), "storage", &e.to_string()),
    }
    let started = std::time::Instant::now();
    match koban_service::verify::verify_store(
        store.as_ref(),
        Some(args.storage.storage_data()),
        |_| {},
    )
    .await
    {
        Ok(koban_service::verify::VerifyOutcome::Intact { summary, .. }) => r.line(
            Some(true),
            "audit log",
            &format!(
                "{} events, {} checkpoints intact ({} ms)",
                summary.events_checked,
                summary.checkpoints_checked,
                started.elapsed().as_millis()
            ),
        ),
        Ok(koban_service::verify::VerifyOutcome::Tampered { fault, .. }) => {
            r.line(Some(false), "audit log", &fault.to_string())
        }
        Err(e) => r.line(Some(false), "audit log", &e.to_string()),
    }
    let geo = koban.geo_status();
    for (name, state, hint) in [
        ("geocoder", geo.addresses, "koban import addresses"),
        ("boundaries", geo.boundaries, "koban import boundaries"),
        ("road index", geo.roads, "koban import roads"),
    ] {
        match state {
            Some((n, true)) => r.line(
                Some(true),
                name,
                &format!("{n} records loaded, sample query answered"),
            ),
            Some((n, false)) => r.line(
                Some(false),
                name,
                &format!("{n} records loaded but the sample query failed"),
            ),
            None => r.line(None, name, &format!("not imported ({hint})")),
        }
    }
    match &args.nats {
        Some(addr) => match check_nats(addr) {
            Ok(d) => r.line(Some(true), "event bus", &d),
            Err(e) => r.line(Some(false), "event bus", &e),
        },
        None => r.line(None, "event bus", "not configured (--nats host:port)"),
    }
    // The outbox: with a bus, events older than a minute still waiting mean the relay is
    // stuck (other instances' consoles are not seeing them live).
    match (store.live_bounds().await, store.live_outbox(1).await) {
        (Ok((oldest, head)), Ok(waiting)) => {
            let now = koban_service::Clock::now_us(&koban_service::SystemClock);
            let stuck_s = waiting.first().map(|e| (now - e.at_us) / 1_000_000);
            let detail = format!(
                "events {oldest}..{head} kept{}",
                match stuck_s {
                    Some(s) => format!("; outbox waiting since {s} s"),
                    None => "; outbox empty".into(),
                }
            );
            let bad = args.nats.is_some() && stuck_s.is_some_and(|s| s > OUTBOX_STUCK_S);
            r.line(Some(!bad), "live events", &detail);
        }
        (Err(e), _) | (_, Err(e)) => r.line(Some(false), "live events", &e.to_string()),
    }
    store.close().await;
    println!("{} fault(s)", r.faults);
    Ok(if r.faults == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
