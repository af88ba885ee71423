//! Criterion benchmarks for rusty_socket: see `benches/protocol.rs`.
