//! Runs every example in `tools/examples/` to completion, offline: each one starts its own
//! simulator or toy venue on loopback, ends by itself after a few seconds or a number of
//! messages, and returns an error if it did not see what it is there to show (a valid book,
//! a reconnect, forwarded messages, a gap and its resync, decisions taken on the I/O thread).
//!
//! The examples are compiled into this test as modules (their `main` is a public function),
//! so `cargo test` runs them without `cargo run --example` and its extra builds.

#[path = "../examples/binance_book.rs"]
mod binance_book;
#[path = "../examples/custom_adapter.rs"]
mod custom_adapter;
#[path = "../examples/inline_consumer.rs"]
mod inline_consumer;
#[cfg(feature = "nats")]
#[path = "../examples/nats_remote.rs"]
mod nats_remote;
#[path = "../examples/raw_forward.rs"]
mod raw_forward;
#[path = "../examples/several_venues.rs"]
mod several_venues;
#[path = "../examples/spread_engines.rs"]
mod spread_engines;
#[path = "../examples/ws_handler.rs"]
mod ws_handler;

#[test]
fn binance_book_prints_valid_tops_of_book() {
    binance_book::main().expect("the binance_book example");
}

#[test]
fn ws_handler_reconnects_and_resubscribes() {
    ws_handler::main().expect("the ws_handler example");
}

#[test]
fn raw_forward_delivers_messages_to_another_thread() {
    raw_forward::main().expect("the raw_forward example");
}

#[test]
fn custom_adapter_resyncs_its_book_after_a_gap() {
    custom_adapter::main().expect("the custom_adapter example");
}

#[test]
fn several_venues_show_valid_books_on_one_engine() {
    several_venues::main().expect("the several_venues example");
}

#[test]
fn spread_engines_run_each_symbol_on_one_engine() {
    spread_engines::main().expect("the spread_engines example");
}

#[test]
fn inline_consumer_keeps_books_on_the_io_thread() {
    inline_consumer::main().expect("the inline_consumer example");
}

#[cfg(feature = "nats")]
#[test]
fn nats_remote_rebuilds_the_books_from_the_bus() {
    let Some(nats) = tickwire_tests::nats::NatsServer::start() else {
        return; // says why; a failure under TICKWIRE_REQUIRE_NATS=1 (CI)
    };
    nats_remote::run(&nats.url()).expect("the nats_remote example");
}
