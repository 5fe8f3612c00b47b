//! Syslog inputs: UDP (RFC 5426: a datagram is a message) and TCP (RFC 6587: octet
//! counting when a frame starts with a digit, as rsyslog's `omfwd` sends with
//! `TCP_Framing="octet-counted"`, else a message per line), each message into the spool as
//! a line of a record headed by the configured decoder.
//!
//! Plain syslog has no acknowledgement: a sender's message is ours once appended. What
//! back-pressure can do, it does: a TCP connection is not read while the pipeline is
//! behind (the sender's socket buffer fills and it waits), and UDP, which cannot wait,
//! drops and counts (`tocsin_syslog_dropped_total`). A connection whose messages the
//! spool refused (it halted on a failed fsync) is closed: the sender keeps what it has
//! not sent yet, to send again once the service is back. A frame longer than
//! `max_message_bytes` is skipped and counted, never buffered whole.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tocsin_spool::{FileSpool, Spool};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;

use crate::ingest::messages;
use crate::metrics::{add, Metrics};
use crate::tls::TlsListener;

/// The most messages appended in one batch.
const BATCH_MESSAGES: usize = 1000;

/// Where a syslog input's messages go, and when it must wait.
pub struct SyslogSink {
    /// The spool.
    pub spool: Arc<FileSpool>,
    /// Counters (and the backlog, for back-pressure).
    pub metrics: Arc<Metrics>,
    /// The backlog past which TCP waits and UDP drops.
    pub max_backlog_bytes: u64,
    /// The decoder named in each record (`auto` sniffs).
    pub format: String,
    /// The largest message kept, in bytes.
    pub max_message_bytes: usize,
}

impl SyslogSink {
    fn behind(&self) -> bool {
        self.metrics.snapshot().backlog_bytes > self.max_backlog_bytes
    }

    /// Appends messages as records of the input `input`; whether the spool took them. A
    /// spool failure is logged: the messages are lost (syslog has no acknowledgement to
    /// withhold), and a stream input then ends its connection, so that what its sender
    /// sends next waits in the sender's queue rather than being read and lost too.
    async fn append(self: &Arc<Self>, input: &'static str, batch: Vec<Vec<u8>>) -> bool {
        let sink = Arc::clone(self);
        let count = batch.len();
        let appended = tokio::task::spawn_blocking(move || {
            let made = messages(&sink.format, input, &batch);
            if let Some(first) = made.refusals.first() {
                add(&sink.metrics.decode_errors, made.refused as u64);
                tracing::warn!(
                    input,
                    refused = made.refused,
                    error = %first.error,
                    "syslog messages that are not one JSON object each, skipped"
                );
            }
            let records: Vec<&[u8]> = made.records.iter().map(Vec::as_slice).collect();
            if records.is_empty() {
                return Ok(0);
            }
            sink.spool.append(&records).map(|_| made.accepted)
        })
        .await;
        match appended {
            Ok(Ok(count)) => {
                add(&self.metrics.syslog_messages, count as u64);
                true
            }
            Ok(Err(error)) => {
                tracing::error!(%error, input, messages = count, "syslog messages lost: the spool refused them");
                false
            }
            Err(error) => {
                tracing::error!(%error, input, messages = count, "syslog messages lost: their append failed");
                false
            }
        }
    }
}

/// Accepts TCP connections (at most `max_connections` at once) and reads each.
pub async fn serve_tcp(listener: TcpListener, sink: Arc<SyslogSink>, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "syslog TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            if let Err(error) = read_connection(stream, &sink).await {
                tracing::warn!(%error, %peer, "syslog TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Reads one connection's frames, appending a batch whenever no more input is buffered.
async fn read_connection(stream: impl AsyncRead + Unpin, sink: &Arc<SyslogSink>) -> io::Result<()> {
    let mut reader = FrameReader::new(BufReader::new(stream), sink.max_message_bytes);
    let mut batch = Vec::new();
    loop {
        let frame = reader.next().await?;
        let done = frame.is_none();
        match frame {
            Some(Frame::Message(message)) => batch.push(message),
            Some(Frame::Oversize) => add(&sink.metrics.syslog_oversize, 1),
            None => {}
        }
        let idle = reader.inner.buffer().is_empty();
        if !batch.is_empty() && (done || idle || batch.len() >= BATCH_MESSAGES) {
            // The first segments of a message whose last has not arrived wait for it, so
            // that one record (and one step of the pipeline) holds the whole message.
            let held = match done || batch.len() >= 2 * BATCH_MESSAGES {
                true => 0,
                false => unfinished_segments(&batch),
            };
            if held < batch.len() {
                let rest = batch.split_off(batch.len() - held);
                while sink.behind() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let spooled = sink
                    .append("syslog-tcp", std::mem::replace(&mut batch, rest))
                    .await;
                if !spooled {
                    return Err(io::Error::other(
                        "the spool refused the messages read (see the error before): \
                         the connection is closed so that the sender keeps what it sends next",
                    ));
                }
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// How many messages at the end of `batch` are the first segments of an appliance
/// message whose last segment is still to come (0 when the last message ends one).
fn unfinished_segments(batch: &[Vec<u8>]) -> usize {
    let Some(last) = batch.last() else {
        return 0;
    };
    let text = String::from_utf8_lossy(last);
    match tocsin_decode::appliance_segment(text.trim_end()) {
        Some((segment, total)) if segment < total => segment.min(batch.len()),
        _ => 0,
    }
}

/// Reads the connections a TLS listener established (RFC 5425: the same framing as TCP).
pub async fn serve_tls(mut listener: TlsListener, sink: Arc<SyslogSink>) {
    while let Some((stream, peer)) = listener.next().await {
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            if let Err(error) = read_connection(stream, &sink).await {
                tracing::warn!(%error, %peer, "syslog TLS connection ended");
            }
        });
    }
}

/// Receives datagrams, appending what arrived together; drops (and counts) while the
/// pipeline is behind.
pub async fn serve_udp(socket: UdpSocket, sink: Arc<SyslogSink>) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let mut batch = Vec::new();
        match socket.recv_from(&mut buffer).await {
            Ok((len, _)) => batch.push(buffer[..len].to_vec()),
            Err(error) => {
                tracing::warn!(%error, "syslog UDP receive failed");
                continue;
            }
        }
        while batch.len() < BATCH_MESSAGES {
            match socket.try_recv_from(&mut buffer) {
                Ok((len, _)) => batch.push(buffer[..len].to_vec()),
                Err(_) => break,
            }
        }
        if sink.behind() {
            add(&sink.metrics.syslog_dropped, batch.len() as u64);
            continue;
        }
        batch.retain(|message| {
            let keep = message.len() <= sink.max_message_bytes;
            if !keep {
                add(&sink.metrics.syslog_oversize, 1);
            }
            keep
        });
        // A datagram cannot be refused: those the spool did not take are lost, and their
        // number logged.
        sink.append("syslog-udp", batch).await;
    }
}

/// One frame of a TCP syslog stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message.
    Message(Vec<u8>),
    /// A message longer than the limit, skipped.
    Oversize,
}

/// Splits a byte stream into RFC 6587 frames, never holding more than the limit.
pub struct FrameReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> FrameReader<R> {
    /// Frames of `inner`, each at most `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        FrameReader { inner, max }
    }

    /// The next frame; `None` at the end of the stream.
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        let first = loop {
            let buffer = self.inner.fill_buf().await?;
            match buffer.first() {
                None => return Ok(None),
                Some(b'\n' | b'\r' | b'\0') => self.inner.consume(1),
                Some(&byte) => break byte,
            }
        };
        match first.is_ascii_digit() {
            true => self.octet_counted().await,
            false => self.line().await.map(Some),
        }
    }

    /// `LEN SP MESSAGE`.
    async fn octet_counted(&mut self) -> io::Result<Option<Frame>> {
        let mut length: usize = 0;
        loop {
            let mut byte = [0u8];
            if self.inner.read(&mut byte).await? == 0 {
                return Ok(None);
            }
            match byte[0] {
                b' ' => break,
                digit @ b'0'..=b'9' => {
                    length = length
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(usize::from(digit - b'0')))
                        .ok_or_else(|| bad("octet count too large"))?;
                }
                _ => return Err(bad("octet count not followed by a space")),
            }
        }
        if length > self.max {
            let skipped = tokio::io::copy(
                &mut (&mut self.inner).take(length as u64),
                &mut tokio::io::sink(),
            )
            .await?;
            return Ok((skipped == length as u64).then_some(Frame::Oversize));
        }
        let mut message = vec![0u8; length];
        match self.inner.read_exact(&mut message).await {
            Ok(_) => Ok(Some(Frame::Message(message))),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Up to a line feed (or the end of the stream).
    async fn line(&mut self) -> io::Result<Frame> {
        let mut message = Vec::new();
        let mut oversize = false;
        loop {
            let buffer = self.inner.fill_buf().await?;
            if buffer.is_empty() {
                break;
            }
            let (part, found) = match buffer.iter().position(|&b| b == b'\n') {
                Some(end) => (&buffer[..end], Some(end + 1)),
                None => (buffer, None),
            };
            if message.len() + part.len() > self.max {
                oversize = true;
            } else if !oversize {
                message.extend_from_slice(part);
            }
            let used = found.unwrap_or(buffer.len());
            self.inner.consume(used);
            if found.is_some() {
                break;
            }
        }
        Ok(match oversize {
            true => Frame::Oversize,
            false => Frame::Message(message),
        })
    }
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> (Vec<Frame>, Option<io::Error>) {
        let mut reader = FrameReader::new(BufReader::with_capacity(7, input), max);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => return (out, None),
                Err(error) => return (out, Some(error)),
            }
        }
    }

    fn message(text: &str) -> Frame {
        Frame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn the_first_segments_of_an_unfinished_message_are_held() {
        let line = |segment: usize, total: usize| {
            format!("Nov 15 11:29:41 rs BG[1]: 4135:{segment:02}:{total:02}:a=b").into_bytes()
        };
        let whole = vec![line(1, 1), line(1, 2), line(2, 2)];
        assert_eq!(unfinished_segments(&whole), 0);
        let cut = vec![line(1, 1), line(1, 3), line(2, 3)];
        assert_eq!(unfinished_segments(&cut), 2);
        assert_eq!(unfinished_segments(&[line(1, 2)]), 1);
        assert_eq!(
            unfinished_segments(&[b"<13>not an appliance line".to_vec()]),
            0
        );
        assert_eq!(
            unfinished_segments(&[line(3, 4)]),
            1,
            "bounded by the batch"
        );
    }

    #[tokio::test]
    async fn lines_and_octet_counted_frames_mix_on_one_stream() {
        let input = b"<13>one\n9 <13>two\nx\r\n\n<13>three";
        let (got, error) = frames(input, 100).await;
        assert!(error.is_none());
        assert_eq!(
            got,
            [
                message("<13>one"),
                message("<13>two\nx"),
                message("<13>three")
            ]
        );
    }

    #[tokio::test]
    async fn long_frames_are_skipped_not_held() {
        let long = "y".repeat(50);
        let input = format!("<1>{long}\n<2>ok\n50 {long}<3>ok\n");
        let (got, error) = frames(input.as_bytes(), 20).await;
        assert!(error.is_none());
        assert_eq!(
            got,
            [
                Frame::Oversize,
                message("<2>ok"),
                Frame::Oversize,
                message("<3>ok")
            ]
        );
    }

    #[tokio::test]
    async fn a_bad_count_ends_the_connection_and_a_cut_frame_is_dropped() {
        let (got, error) = frames(b"12x <13>a\n", 100).await;
        assert!(got.is_empty());
        assert_eq!(error.unwrap().kind(), io::ErrorKind::InvalidData);
        let (got, error) = frames(b"99999999999999999999999 x", 100).await;
        assert!(got.is_empty() && error.is_some());
        let (got, error) = frames(b"<1>a\n20 <13>cut", 100).await;
        assert_eq!((got, error.is_none()), (vec![message("<1>a")], true));
    }
}
