//! Criterion benchmarks for rusty_socket live in `benches/`.
