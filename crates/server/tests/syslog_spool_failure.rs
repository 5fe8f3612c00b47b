//! A TCP syslog connection whose messages the spool refuses (its fsync failed: the spool's
//! fault hook, process-wide, hence this test file of its own) is closed, so that its
//! sender keeps what it sends next instead of it being read and lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use tocsin_server::metrics::Metrics;
use tocsin_server::syslog::{serve_tcp, SyslogSink};
use tocsin_spool::{FileSpool, SpoolConfig};

#[test]
fn a_connection_whose_messages_the_spool_refuses_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::open(dir.path().join("spool"), SpoolConfig::default()).unwrap();
    tocsin_spool::fault::fail_fsync_number(1);
    let metrics = Arc::new(Metrics::default());
    let sink = Arc::new(SyslogSink {
        spool: Arc::new(spool),
        metrics: Arc::clone(&metrics),
        max_backlog_bytes: u64::MAX,
        format: "auto".to_owned(),
        max_message_bytes: 64 * 1024,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(serve_tcp(listener, sink, 4));

    let mut sender = std::net::TcpStream::connect(addr).unwrap();
    sender
        .write_all(b"<13>Dec  5 10:11:12 host app: the first message\n")
        .unwrap();
    sender
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The service never writes to a syslog connection: a read ends when it closes it.
    let mut byte = [0u8; 1];
    let read = sender.read(&mut byte);
    let closed = match &read {
        Ok(0) => true,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(
        closed,
        "the connection was not closed after the spool refused its messages: {read:?}"
    );
    assert_eq!(metrics.snapshot().syslog_messages, 0);
}
