//! [`Transport`] over a scripted socket: reads that return a byte at a time, `WouldBlock`
//! between any two bytes, `Interrupted`, socket errors and EOF at chosen points; writes that
//! take a few bytes or none. Plain and TLS (a real rustls server in memory, its records fed
//! to the client one byte per read). What comes out must be exactly what was sent, and each
//! failure must be the typed error the connection acts on.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::fake::{FakeSocket, Step};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

/// Reads until `WouldBlock`, appending to `got`.
fn drain(t: &mut Transport<FakeSocket>, got: &mut Vec<u8>) -> Result<(), TransportError> {
    let mut buf = [0u8; 7];
    loop {
        match t.read(&mut buf)? {
            ReadOutcome::Data(n) => got.extend_from_slice(&buf[..n]),
            ReadOutcome::WouldBlock => return Ok(()),
        }
    }
}

#[test]
fn plain_reads_reassemble_across_would_block_and_interrupted_then_eof() {
    let s = FakeSocket::default();
    s.script().trickle(b"he");
    s.script()
        .reads
        .push_back(Step::Fail(io::ErrorKind::Interrupted));
    s.script()
        .reads
        .push_back(Step::Data(b"llo, world".to_vec()));
    s.script().reads.push_back(Step::Block);
    s.script().reads.push_back(Step::Eof);
    let mut t = Transport::plain(s);
    assert!(t.handshake().unwrap(), "nothing to shake hands for");
    let mut got = Vec::new();
    // Each WouldBlock ends a drain, as a readiness event would start the next.
    for _ in 0..3 {
        drain(&mut t, &mut got).unwrap();
    }
    assert_eq!(got, b"hello, world");
    assert_eq!(drain(&mut t, &mut got), Err(TransportError::Eof));
    assert_eq!(
        drain(&mut t, &mut got),
        Err(TransportError::Eof),
        "EOF stays"
    );
}

#[test]
fn plain_socket_errors_are_typed_and_writes_are_partial() {
    let s = FakeSocket::default();
    s.script().reads.push_back(Step::Data(b"ok".to_vec()));
    s.script()
        .reads
        .push_back(Step::Fail(io::ErrorKind::ConnectionReset));
    s.script().write_cap = Some(3);
    let mut t = Transport::plain(s);
    let mut got = Vec::new();
    assert_eq!(
        drain(&mut t, &mut got),
        Err(TransportError::Io(io::ErrorKind::ConnectionReset))
    );
    assert_eq!(got, b"ok", "what came before the error was delivered");
    assert_eq!(t.write(b"abcdef").unwrap(), 3);
    t.stream().script().write_cap = Some(0);
    assert_eq!(t.write(b"def").unwrap(), 0, "a full socket takes nothing");
    t.stream().script().write_fail = Some(io::ErrorKind::BrokenPipe);
    assert_eq!(
        t.write(b"def"),
        Err(TransportError::Io(io::ErrorKind::BrokenPipe))
    );
    assert_eq!(t.stream().script().written, b"abc");
    assert_eq!(
        TransportError::Io(io::ErrorKind::BrokenPipe).reason(),
        Reason::Io
    );
}

/// A rustls server in memory for `localhost`, and a client transport over a fake socket
/// that trusts its certificate.
fn tls_pair() -> (rustls::ServerConnection, Transport<FakeSocket>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = ck.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert.clone())], key)
    .unwrap();
    let server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
    let client_config = client_config(&[Arc::from(cert.as_slice())]).unwrap();
    let client = Transport::tls(
        FakeSocket::default(),
        client_config,
        server_name("localhost").unwrap(),
    )
    .unwrap();
    (server, client)
}

/// Moves what the client wrote to the server, and the server's answer into the client's
/// script one byte a read (`WouldBlock` between).
fn pump(server: &mut rustls::ServerConnection, client: &mut Transport<FakeSocket>) {
    let mut sock = client.stream().script();
    let mut from_client = &std::mem::take(&mut sock.written)[..];
    while !from_client.is_empty() {
        server.read_tls(&mut from_client).unwrap();
        server.process_new_packets().unwrap();
    }
    let mut to_client = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut to_client).unwrap();
    }
    sock.trickle(&to_client);
}

/// Runs the handshake with every server byte in its own read; returns how many calls.
fn handshake(server: &mut rustls::ServerConnection, client: &mut Transport<FakeSocket>) -> usize {
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 100_000, "the handshake never completes");
        if client.handshake().unwrap() && !server.is_handshaking() {
            return calls;
        }
        pump(server, client);
    }
}

#[test]
fn tls_handshake_and_data_survive_one_byte_reads() {
    let (mut server, mut client) = tls_pair();
    let calls = handshake(&mut server, &mut client);
    assert!(calls > 100, "each byte came on its own ({calls} calls)");
    // Server → client: two records, each byte its own read.
    server.writer().write_all(b"first record, ").unwrap();
    server.writer().write_all(b"second record").unwrap();
    pump(&mut server, &mut client);
    let mut got = Vec::new();
    while got.len() < 27 {
        drain(&mut client, &mut got).unwrap();
    }
    assert_eq!(got, b"first record, second record");
    // Client → server through a socket that takes 5 bytes a write.
    client.stream().script().write_cap = Some(5);
    let n = client.write(b"ping").unwrap();
    assert_eq!(n, 4, "the plaintext is taken whole (rustls buffers it)");
    while !client.flush().unwrap() {}
    pump(&mut server, &mut client);
    let mut plain = [0u8; 4];
    server.reader().read_exact(&mut plain).unwrap();
    assert_eq!(&plain, b"ping");
}

#[test]
fn tls_close_notify_is_eof_after_the_data_before_it() {
    let (mut server, mut client) = tls_pair();
    handshake(&mut server, &mut client);
    server.writer().write_all(b"last words").unwrap();
    server.send_close_notify();
    pump(&mut server, &mut client);
    let mut got = Vec::new();
    let end = loop {
        if let Err(e) = drain(&mut client, &mut got) {
            break e;
        }
    };
    assert_eq!(got, b"last words");
    assert_eq!(end, TransportError::Eof);
}

#[test]
fn tls_truncation_without_close_notify_is_eof() {
    let (mut server, mut client) = tls_pair();
    handshake(&mut server, &mut client);
    server.writer().write_all(b"abc").unwrap();
    pump(&mut server, &mut client);
    client.stream().script().reads.push_back(Step::Eof);
    let mut got = Vec::new();
    let end = loop {
        if let Err(e) = drain(&mut client, &mut got) {
            break e;
        }
    };
    assert_eq!(got, b"abc");
    assert_eq!(end, TransportError::Eof);
}

#[test]
fn tls_a_corrupted_record_fails_after_the_good_records_before_it() {
    let (mut server, mut client) = tls_pair();
    handshake(&mut server, &mut client);
    server.writer().write_all(b"good").unwrap();
    let mut records = Vec::new();
    while server.wants_write() {
        server.write_tls(&mut records).unwrap();
    }
    let good_len = records.len();
    server.writer().write_all(b"spoiled").unwrap();
    while server.wants_write() {
        server.write_tls(&mut records).unwrap();
    }
    // Flip a byte of the second record's ciphertext; both records in one read.
    let last = records.len() - 1;
    records[last] ^= 0x55;
    assert!(last > good_len);
    client
        .stream()
        .script()
        .reads
        .push_back(Step::Data(records.clone()));
    let mut got = Vec::new();
    let end = loop {
        if let Err(e) = drain(&mut client, &mut got) {
            break e;
        }
    };
    assert_eq!(got, b"good");
    assert_eq!(end, TransportError::Tls(Reason::TlsRecord));
}

#[test]
fn tls_socket_errors_mid_handshake_and_untrusted_certificates_are_typed() {
    let (mut server, mut client) = tls_pair();
    assert!(
        !client.handshake().unwrap(),
        "the ClientHello is out, nothing back yet"
    );
    pump(&mut server, &mut client);
    // A few bytes of the server's flight, then the socket fails.
    let mut sock = client.stream().script();
    let keep: VecDeque<Step> = sock
        .reads
        .drain(..)
        .filter(|s| !matches!(s, Step::Block))
        .take(20)
        .collect();
    sock.reads = keep;
    sock.reads
        .push_back(Step::Fail(io::ErrorKind::ConnectionReset));
    drop(sock);
    assert_eq!(
        client.handshake(),
        Err(TransportError::Io(io::ErrorKind::ConnectionReset))
    );

    // A client that does not trust the server's certificate names why.
    let (mut server, trusting) = tls_pair();
    drop(trusting);
    let mut client = Transport::tls(
        FakeSocket::default(),
        client_config(&[]).unwrap(),
        server_name("localhost").unwrap(),
    )
    .unwrap();
    let end = loop {
        match client.handshake() {
            Ok(true) => panic!("an untrusted certificate was accepted"),
            Ok(false) => pump(&mut server, &mut client),
            Err(e) => break e,
        }
    };
    assert_eq!(end, TransportError::Tls(Reason::CertUnknownIssuer));
}
