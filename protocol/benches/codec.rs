//! Encode + decode throughput of data frames, with a plain copy of the same
//! bytes measured in the same run as the reference.
//!
//! Each iteration moves a batch of frames through a reused buffer: encode
//! them all, then decode them all. The memcpy reference copies the same
//! payload bytes, batch for batch, into a reused buffer. Compare the
//! `encode_decode/N` and `memcpy/N` lines: their ratio is the figure that
//! `docs/BENCHMARKS.md` records.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::{Decoder, Frame};

/// (payload size, frames per batch): batches are ~1 MiB or 4096 frames,
/// whichever is fewer frames, so small frames are not dominated by loop
/// overhead and large ones stay cache-realistic.
const CASES: &[(usize, usize)] = &[(16, 4096), (1024, 1024), (64 * 1024, 16)];

fn bench_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    for &(size, batch) in CASES {
        let payload = bytes::Bytes::from(vec![0xA5u8; size]);
        let frame = Frame::Stdout(payload.clone());
        group.throughput(Throughput::Elements(batch as u64));

        let mut buf = BytesMut::with_capacity(batch * frame.encoded_len());
        let mut decoder = Decoder::new();
        group.bench_with_input(BenchmarkId::new("encode_decode", size), &size, |b, _| {
            b.iter(|| {
                buf.clear();
                for _ in 0..batch {
                    frame.encode(&mut buf).expect("encode");
                }
                let mut n = 0;
                while let Some(frame) = decoder.decode(&mut buf).expect("decode") {
                    black_box(&frame);
                    n += 1;
                }
                assert_eq!(n, batch);
            })
        });

        group.bench_with_input(
            BenchmarkId::new("encode_decode_borrowed", size),
            &size,
            |b, _| {
                b.iter(|| {
                    buf.clear();
                    for _ in 0..batch {
                        frame.encode(&mut buf).expect("encode");
                    }
                    let mut at = 0;
                    let mut n = 0;
                    while let Some((frame, used)) =
                        decoder.decode_borrowed(&buf[at..]).expect("decode")
                    {
                        black_box(&frame);
                        at += used;
                        n += 1;
                    }
                    assert_eq!(n, batch);
                })
            },
        );

        let mut dst = vec![0u8; batch * size];
        group.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| {
                for chunk in dst.chunks_exact_mut(size) {
                    chunk.copy_from_slice(black_box(&payload));
                }
                black_box(&dst);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
