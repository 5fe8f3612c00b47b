//! Forwarding detections to another SIEM as CEF (ArcSight Common Event Format) lines over
//! syslog UDP or TCP, so that tocsin's findings reach the console a SOC already watches.
//!
//! The pipeline hands each committed detection to a bounded queue and never waits for the
//! SIEM: when the queue is full (the SIEM is down or slow), lines are dropped and counted
//! (`tocsin_forward_dropped_total`). A TCP connection that fails is opened again with
//! back-off. Delivery is at least once: detections of records read again after a crash are
//! forwarded again.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tocsin_event::Level;
use tocsin_incident::{Alert, EntityKind};

use crate::metrics::{add, Metrics};

/// How many lines wait for the SIEM at most.
const QUEUE: usize = 10_000;

/// Where detections are forwarded (`[forward]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Send CEF lines over UDP to this address.
    pub cef_udp: Option<SocketAddr>,
    /// Send CEF lines over TCP (a line each) to this address.
    pub cef_tcp: Option<SocketAddr>,
}

/// The pipeline's end of the forwarder.
#[derive(Clone)]
pub struct Forwarder {
    queue: SyncSender<String>,
    metrics: Arc<Metrics>,
}

impl Forwarder {
    /// Starts the forwarding thread; `None` when nothing is configured.
    pub fn start(
        config: &ForwardConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Option<Forwarder>> {
        let target = match (config.cef_udp, config.cef_tcp) {
            (None, None) => return Ok(None),
            (Some(udp), _) => Target::Udp(udp),
            (None, Some(tcp)) => Target::Tcp(tcp),
        };
        let (queue, lines) = sync_channel(QUEUE);
        let thread_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("tocsin-forward".into())
            .spawn(move || send_all(target, lines, &thread_metrics))?;
        Ok(Some(Forwarder { queue, metrics }))
    }

    /// Queues a detection's CEF line; drops and counts it when the queue is full.
    pub fn forward(&self, alert: &Alert) {
        match self.queue.try_send(cef_line(alert)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                add(&self.metrics.forward_dropped, 1)
            }
        }
    }
}

enum Target {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

/// Sends queued lines until the pipeline's end is dropped.
fn send_all(target: Target, lines: Receiver<String>, metrics: &Metrics) {
    let mut connection: Option<Connection> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let line = match lines.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        loop {
            let sent = match connection.as_mut() {
                Some(open) => open.send(&line),
                None => Connection::open(&target).and_then(|open| {
                    let open = connection.insert(open);
                    open.send(&line)
                }),
            };
            match sent {
                Ok(()) => {
                    add(&metrics.forwarded, 1);
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "forwarding: the SIEM cannot be reached");
                    connection = None;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

enum Connection {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Connection {
    fn open(target: &Target) -> std::io::Result<Connection> {
        match *target {
            Target::Udp(to) => {
                let any: SocketAddr = match to {
                    SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                    SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
                };
                Ok(Connection::Udp(UdpSocket::bind(any)?, to))
            }
            Target::Tcp(to) => {
                let stream = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
                stream.set_write_timeout(Some(Duration::from_secs(10)))?;
                Ok(Connection::Tcp(stream))
            }
        }
    }

    fn send(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Connection::Udp(socket, to) => socket.send_to(line.as_bytes(), *to).map(drop),
            Connection::Tcp(stream) => {
                stream.write_all(line.as_bytes())?;
                stream.write_all(b"\n")
            }
        }
    }
}

/// A detection as a CEF line: the rule as the signature, its level as the severity, the
/// time, and the entities in the extension's standard keys.
pub fn cef_line(alert: &Alert) -> String {
    let severity = match alert.rule.level {
        Level::Informational => 1,
        Level::Low => 3,
        Level::Medium => 5,
        Level::High => 8,
        Level::Critical => 10,
    };
    let mut extension = vec![format!("cat={}", extension_value(alert.kind.as_str()))];
    if let Some(at) = alert.timestamp_micros {
        extension.push(format!("rt={}", at / 1000));
    }
    for (kind, key) in [
        (EntityKind::Host, "dhost"),
        (EntityKind::User, "suser"),
        (EntityKind::SourceIp, "src"),
        (EntityKind::ApiKey, "cs1"),
        (EntityKind::Account, "cs2"),
    ] {
        if let Some(entity) = alert.entities.iter().find(|e| e.kind == kind) {
            extension.push(format!("{key}={}", extension_value(&entity.value)));
        }
    }
    if extension.iter().any(|e| e.starts_with("cs1=")) {
        extension.push("cs1Label=apiKey".into());
    }
    if extension.iter().any(|e| e.starts_with("cs2=")) {
        extension.push("cs2Label=account".into());
    }
    extension.push(format!("externalId={}", extension_value(&alert.key)));
    format!(
        "CEF:0|tocsin|tocsin|{}|{}|{}|{severity}|{}",
        env!("CARGO_PKG_VERSION"),
        header_value(&alert.rule.id),
        header_value(&alert.rule.title),
        extension.join(" ")
    )
}

/// A header field: `\` and `|` escaped, line ends as spaces.
fn header_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// An extension value: `\` and `=` escaped, line ends as `\n` and `\r`.
fn extension_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_cef_specification() {
        assert_eq!(header_value("a|b\\c\nd"), "a\\|b\\\\c d");
        assert_eq!(extension_value("x=1\\y\nz|"), "x\\=1\\\\y\\nz|");
    }
}
