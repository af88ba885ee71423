//! Throughput of the hot paths of the core: SHA-1, base64, masking, frame
//! encode and decode, UTF-8 validation and handshake parsing.
//!
//! Run with `cargo bench -p rusty_socket_benches`; criterion prints time per
//! iteration and throughput (bytes or elements per second).

use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use rusty_socket_core::frame::{encode_frame, FrameHeader};
use rusty_socket_core::http::{Limits, Request};
use rusty_socket_core::mask::{apply_mask, apply_mask_reference};
use rusty_socket_core::utf8::Utf8Validator;
use rusty_socket_core::Decoded;
use rusty_socket_core::{base64, handshake, sha1, Config, OpCode, Receiver, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn bench_sha1_base64(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha1");
    for size in [60usize, 1024, 64 * 1024] {
        let data = vec![0x61u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &data, |b, data| {
            b.iter(|| sha1::sha1(black_box(data)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("base64");
    for size in [16usize, 1024, 64 * 1024] {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let encoded = base64::encode(&data);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &data, |b, data| {
            b.iter(|| base64::encode(black_box(data)))
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &encoded, |b, text| {
            b.iter(|| base64::decode(black_box(text.as_bytes())))
        });
    }
    group.finish();

    c.bench_function("accept_key", |b| {
        b.iter(|| handshake::accept_key(black_box("dGhlIHNhbXBsZSBub25jZQ==")))
    });
}

fn bench_mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [1024usize, 64 * 1024, 1024 * 1024] {
        let mut data = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut data), KEY, 0))
        });
        group.bench_function(BenchmarkId::new("reference", size), |b| {
            b.iter(|| apply_mask_reference(black_box(&mut data), KEY, 0))
        });
    }
    group.finish();
}

fn bench_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for size in [64usize, 16 * 1024] {
        let payload = vec![b'x'; size];
        let mut masked = Vec::new();
        encode_frame(&mut masked, true, OpCode::Text, &payload, Some(KEY));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("decode_header", size), |b| {
            b.iter(|| match FrameHeader::decode(black_box(&masked)) {
                Ok(Decoded::Complete(header, used)) => (header.payload_len, used),
                _ => unreachable!("a whole frame is there"),
            })
        });
        // A whole server-side receive: header rules, unmasking, UTF-8
        // validation, and the message handed out.
        let mut receiver = Receiver::new(Role::Server, Config::default());
        group.bench_function(BenchmarkId::new("receive_message", size), |b| {
            b.iter(|| {
                let (used, message) = receiver.decode(black_box(&masked)).expect("valid frame");
                (used, message.map(|m| m.len()))
            })
        });
        // The same, in place (`WebSocket::read_in_place`): the payload is
        // unmasked where it lies and nothing is allocated. Each run gets a
        // fresh masked copy, made outside the measurement.
        group.bench_function(BenchmarkId::new("receive_in_place", size), |b| {
            b.iter_batched_ref(
                || masked.clone(),
                |frame| {
                    let found = receiver.decode_in_place(frame).expect("valid frame");
                    found.map(|found| found.used)
                },
                BatchSize::SmallInput,
            )
        });
        let mut out = Vec::with_capacity(size + 14);
        group.bench_function(BenchmarkId::new("encode_server", size), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(&mut out, true, OpCode::Text, black_box(&payload), None);
                out.len()
            })
        });
        group.bench_function(BenchmarkId::new("encode_client_masked", size), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(&mut out, true, OpCode::Text, black_box(&payload), Some(KEY));
                out.len()
            })
        });
    }
    group.finish();
}

fn bench_utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    let ascii = "hello websocket ".repeat(4096); // 64 KiB
    let mixed = "héllo wörld κόσμε 𝄞 ".repeat(2048);
    for (name, text) in [("ascii_64k", ascii.as_bytes()), ("mixed", mixed.as_bytes())] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("incremental_1k_pieces", name), |b| {
            b.iter(|| {
                let mut validator = Utf8Validator::new();
                for piece in black_box(text).chunks(1024) {
                    validator.feed(piece).expect("valid");
                }
                validator.finish().expect("complete")
            })
        });
    }
    group.finish();
}

fn bench_handshake(c: &mut Criterion) {
    let request = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n\r\n";
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Bytes(request.len() as u64));
    group.bench_function("parse_request", |b| {
        b.iter(
            || match Request::parse(black_box(request), Limits::default()) {
                Ok(Decoded::Complete(request, used)) => (request.headers.0.len(), used),
                _ => unreachable!("a whole request is there"),
            },
        )
    });
    group.bench_function("parse_validate_respond", |b| {
        b.iter(|| {
            let Ok(Decoded::Complete(request, _)) =
                Request::parse(black_box(request), Limits::default())
            else {
                unreachable!("a whole request is there")
            };
            let upgrade = handshake::validate_request(&request).expect("valid");
            handshake::response_101(upgrade.key, None, None).len()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_sha1_base64,
    bench_mask,
    bench_frames,
    bench_utf8,
    bench_handshake
);
criterion_main!(benches);
