//! Helpers shared by tickwire's integration tests: loopback WebSocket servers (plain and
//! TLS), a counting global allocator, fixture loaders.
