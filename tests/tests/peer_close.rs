//! A peer that closes right behind its last message: the FIN comes with the data, and the
//! engine must still see the end of the stream (plain TCP reads stop on a short read, which
//! only works for data: a FIN already queued raises no further edge).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwire_engine::config::{ConnectionConfig, EngineConfig};
use tickwire_engine::engine::Engine;
use tickwire_engine::event::StatusKind;
use tickwire_engine::handler::{Context, Message, Reconnect, WsHandler};
use tickwire_engine::reason::Reason;
use tickwire_tests::consume::{collect_until, count_status};
use tickwire_tests::server::TestServer;
use tickwire_tests::test_options;

const T: Duration = Duration::from_secs(30);

/// Says "ready" once live; on the first message, holds the I/O thread until the server
/// has sent its second message and its FIN, so both are queued behind the first read.
struct HoldFirst {
    seen: Arc<AtomicUsize>,
    reached: Sender<()>,
    go: Receiver<()>,
}

impl WsHandler for HoldFirst {
    fn on_connect(&mut self, cx: &mut Context<'_>) {
        let _ = cx.send_text(b"ready");
    }

    fn on_message(&mut self, _msg: Message<'_>, _cx: &mut Context<'_>) {
        if self.seen.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = self.reached.send(());
            // Bounded: a broken server must not hang the engine thread forever.
            let _ = self.go.recv_timeout(T);
        }
    }

    fn on_disconnect(&mut self, _reason: Reason, _cx: &mut Context<'_>) -> Reconnect {
        Reconnect::No
    }
}

#[test]
fn fin_queued_behind_the_last_message_ends_the_session() {
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let reached_rx = Mutex::new(reached_rx);
    let go_tx = Mutex::new(go_tx);
    let server = TestServer::plain(move |peer| {
        // Live: the engine is reading this socket from here on.
        if peer.read_frame(T).is_none() {
            return;
        }
        let _ = peer.send_text("1");
        // The engine thread is inside `on_message("1")`, past its read of "1".
        if reached_rx.lock().unwrap().recv_timeout(T).is_err() {
            return;
        }
        let _ = peer.send_text("2");
        let _ = peer.shutdown_write();
        let _ = go_tx.lock().unwrap().send(());
        // Keep the socket until the engine closes it (no reset from unread data).
        while peer.read_frame(T).is_some() {}
    });
    let mut b = Engine::builder(EngineConfig::default());
    let (cid, mut consumer) = b.consumer(1024);
    let engine = b.start().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let handler = HoldFirst {
        seen: seen.clone(),
        reached: reached_tx,
        go: go_rx,
    };
    let cfg = ConnectionConfig::new(&format!("ws://127.0.0.1:{}/", server.port()))
        .unwrap()
        .options(test_options());
    engine
        .handle()
        .add_connection(cfg, Box::new(handler), &[cid])
        .unwrap();
    let mut events = Vec::new();
    collect_until(&mut consumer, &mut events, T, "the disconnect", |e| {
        count_status(e, StatusKind::Disconnected) == 1
    });
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    engine.join().unwrap();
}
