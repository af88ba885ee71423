//! Inflate throughput (RFC 1951, `rusty_socket_core::deflate::Inflater`) on
//! a real corpus compressed by zlib, in the two shapes permessage-deflate
//! meets: whole files, and 150-byte chat-sized messages on one stream with
//! context takeover; and compression (`Deflater`) of the same files in the
//! same two shapes.
//!
//! The corpus is not in the repository; make it first (zcmp is in
//! `../shared/tools`, see its README):
//!
//! ```text
//! zcmp --make-corpus target/deflate-corpus
//! python3 scripts/deflate_corpus.py target/deflate-corpus
//! cargo bench -p rusty_socket_benches --bench deflate
//! ```
//!
//! `RS_DEFLATE_CORPUS` names another folder. Without a corpus the benchmark
//! says so and measures nothing. Throughput is in uncompressed bytes per
//! second, as zcmp reports `decomp_mb_s`, so the two can be set side by
//! side in one run.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rusty_socket_core::deflate::{Deflater, Inflater, Level};
use std::path::PathBuf;

/// The four bytes a permessage-deflate receiver appends to every message
/// (RFC 7692 section 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

fn corpus() -> PathBuf {
    std::env::var_os("RS_DEFLATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/deflate-corpus")
        })
}

/// The 4-byte-length-prefixed messages of a `.msgs150.deflate` file.
fn messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let end = (at + 4 + len as usize).min(bytes.len());
        let mut message = bytes[at + 4..end].to_vec();
        message.extend_from_slice(&TAIL);
        messages.push(message);
        at = end;
    }
    messages
}

fn bench_inflate(c: &mut Criterion) {
    let folder = corpus();
    let mut group = c.benchmark_group("inflate");
    let mut found = false;
    for name in ["chat.jsonl", "text.txt", "binary.bin"] {
        let (Ok(original), Ok(whole), Ok(stream)) = (
            std::fs::read(folder.join(name)),
            std::fs::read(folder.join(format!("{name}.whole.deflate"))),
            std::fs::read(folder.join(format!("{name}.msgs150.deflate"))),
        ) else {
            continue;
        };
        found = true;
        group.throughput(Throughput::Bytes(original.len() as u64));
        let mut out = Vec::with_capacity(original.len());
        group.bench_function(BenchmarkId::new("whole", name), |b| {
            b.iter(|| {
                let mut inflater = Inflater::new(15);
                out.clear();
                inflater
                    .inflate(black_box(&whole), &mut out, usize::MAX)
                    .expect("valid stream");
                assert_eq!(out.len(), original.len());
            })
        });
        let messages = messages(&stream);
        group.bench_function(BenchmarkId::new("messages150_takeover", name), |b| {
            b.iter(|| {
                // One inflater for the stream, as one connection has.
                let mut inflater = Inflater::new(15);
                let mut total = 0;
                for message in &messages {
                    out.clear();
                    inflater
                        .inflate(black_box(message), &mut out, usize::MAX)
                        .expect("valid message");
                    total += out.len();
                }
                assert_eq!(total, original.len());
            })
        });
    }
    group.finish();
    if !found {
        eprintln!(
            "inflate: no corpus in {} (see the comment at the top of benches/deflate.rs)",
            folder.display()
        );
    }
}

/// Compression of the same files (uncompressed bytes per second) as
/// 150-byte messages on one stream with
/// context takeover (one `Deflater` per connection), at [`Level::Fast`] and
/// [`Level::Default`], at the window bits servers use (12 and 15), and
/// whole-file at the default level.
fn bench_compress(c: &mut Criterion) {
    let folder = corpus();
    let mut group = c.benchmark_group("compress");
    // Each iteration compresses the whole file: fewer samples suffice.
    group.sample_size(20);
    for name in ["chat.jsonl", "text.txt", "binary.bin"] {
        let Ok(original) = std::fs::read(folder.join(name)) else {
            continue;
        };
        group.throughput(Throughput::Bytes(original.len() as u64));
        let mut out = Vec::with_capacity(original.len() + 1024);
        for (level, wbits) in [
            (Level::Fast, 12),
            (Level::Default, 12),
            (Level::Default, 15),
        ] {
            let id = format!("{name}/{level:?}/w{wbits}");
            group.bench_function(BenchmarkId::new("messages150_takeover", id), |b| {
                b.iter(|| {
                    let mut deflater = Deflater::new(level, wbits);
                    let mut total = 0;
                    for message in original.chunks(150) {
                        out.clear();
                        deflater.compress_message(black_box(message), &mut out);
                        total += out.len();
                    }
                    black_box(total)
                })
            });
        }
        group.bench_function(
            BenchmarkId::new("whole", format!("{name}/Default/w15")),
            |b| {
                b.iter(|| {
                    let mut deflater = Deflater::new(Level::Default, 15);
                    out.clear();
                    deflater.compress_message(black_box(&original), &mut out);
                    black_box(out.len())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_inflate, bench_compress);
criterion_main!(benches);
