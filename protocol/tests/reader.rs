//! The blocking [`FrameReader`]: frames of every size come out whole and in
//! order however the reader cuts the stream, the end of the stream is told
//! apart from a cut-off frame, and the buffer stays within its bound.

use std::io::{self, Read};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::io::{FrameReader, ReadError, MIN_READ, READ_CHUNK};
use protocol::{DecodeError, Decoder, Frame, FrameRef, DEFAULT_MAX_PAYLOAD, HEADER_LEN};

/// Hands out `wire` in pieces of the given sizes (cycled), and records the
/// largest read it was asked for.
struct Pieces<'a> {
    wire: &'a [u8],
    cuts: Vec<usize>,
    turn: usize,
    largest_ask: usize,
}

impl<'a> Pieces<'a> {
    fn new(wire: &'a [u8], cuts: &[usize]) -> Pieces<'a> {
        Pieces {
            wire,
            cuts: cuts.to_vec(),
            turn: 0,
            largest_ask: 0,
        }
    }
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest_ask = self.largest_ask.max(buf.len());
        let cut = self.cuts[self.turn % self.cuts.len()];
        self.turn += 1;
        let n = cut.min(buf.len()).min(self.wire.len());
        buf[..n].copy_from_slice(&self.wire[..n]);
        self.wire = &self.wire[n..];
        Ok(n)
    }
}

fn wire_of(frames: &[Frame]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    for frame in frames {
        frame.encode(&mut wire).expect("encode");
    }
    wire.to_vec()
}

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn read_all_owned(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut reader = FrameReader::new(Pieces::new(wire, cuts));
    let mut frames = Vec::new();
    while let Some(frame) = reader.read_frame().expect("valid stream") {
        frames.push(frame);
    }
    frames
}

fn read_all_borrowed(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut reader = FrameReader::new(Pieces::new(wire, cuts));
    let mut frames = Vec::new();
    while let Some(frame) = reader.read_frame_ref().expect("valid stream") {
        frames.push(frame.into_owned());
    }
    frames
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        // Data frames from empty to well past one read.
        (0usize..300_000, any::<u8>()).prop_map(|(len, seed)| Frame::Stdout(data(len, seed))),
        (0usize..70_000, any::<u8>()).prop_map(|(len, seed)| Frame::Stderr(data(len, seed))),
        any::<u64>().prop_map(Frame::Ping),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn frames_of_any_size_cut_anywhere_come_out_whole(
        frames in proptest::collection::vec(arb_frame(), 0..8),
        cuts in proptest::collection::vec(1usize..200_000, 1..6),
    ) {
        let wire = wire_of(&frames);
        prop_assert_eq!(&read_all_owned(&wire, &cuts), &frames);
        prop_assert_eq!(&read_all_borrowed(&wire, &cuts), &frames);
        prop_assert_eq!(&read_all_borrowed(&wire, &[usize::MAX]), &frames);
    }
}

#[test]
fn byte_at_a_time_reading_gives_the_same_frames() {
    let frames = vec![
        Frame::Stdout(data(5000, 1)),
        Frame::Ping(9),
        Frame::Stderr(Bytes::new()),
        Frame::Stdout(data(3, 2)),
    ];
    let wire = wire_of(&frames);
    assert_eq!(read_all_borrowed(&wire, &[1]), frames);
}

#[test]
fn borrowed_data_frames_point_into_the_stream() {
    let wire = wire_of(&[Frame::Stdout("out".into()), Frame::Stderr("err".into())]);
    let mut reader = FrameReader::new(&wire[..]);
    assert_eq!(
        reader.read_frame_ref().unwrap(),
        Some(FrameRef::Stdout(b"out"))
    );
    assert_eq!(
        reader.read_frame_ref().unwrap(),
        Some(FrameRef::Stderr(b"err"))
    );
    assert_eq!(reader.read_frame_ref().unwrap(), None);
}

#[test]
fn maximum_size_frames_fit_and_the_buffer_stays_bounded() {
    let frames = vec![
        Frame::Stdout(data(DEFAULT_MAX_PAYLOAD, 3)),
        Frame::Stdout(data(10, 4)),
        Frame::Stdout(data(DEFAULT_MAX_PAYLOAD, 5)),
        Frame::Stdout(data(DEFAULT_MAX_PAYLOAD - 1, 6)),
    ];
    let wire = wire_of(&frames);
    // Odd cuts, so the big frames start in the middle of reads.
    let mut reader = FrameReader::new(Pieces::new(&wire, &[7, 100_001, 65_536, 300_000]));
    let mut seen = Vec::new();
    while let Some(frame) = reader.read_frame().unwrap() {
        seen.push(frame);
    }
    assert_eq!(seen, frames);
    let bound = (2 * READ_CHUNK).max(HEADER_LEN + DEFAULT_MAX_PAYLOAD + MIN_READ);
    assert!(
        reader.capacity() <= bound,
        "buffer {} over its bound {bound}",
        reader.capacity()
    );
    assert!(reader.get_ref().largest_ask <= READ_CHUNK);
}

#[test]
fn small_frames_never_grow_the_buffer_past_its_start() {
    let frames: Vec<Frame> = (0..2000)
        .map(|i| Frame::Stdout(data(1000, i as u8)))
        .collect();
    let wire = wire_of(&frames);
    let mut reader = FrameReader::new(Pieces::new(&wire, &[70_001]));
    let mut count = 0;
    while reader.read_frame_ref().unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, frames.len());
    assert_eq!(reader.capacity(), 2 * READ_CHUNK);
}

#[test]
fn a_stream_cut_inside_a_frame_is_an_unexpected_end() {
    let wire = wire_of(&[Frame::Ping(1), Frame::Stdout(data(1000, 0))]);
    let ping = HEADER_LEN + 8;
    for cut in [wire.len() - 1, wire.len() - 1000, ping + 2] {
        let mut reader = FrameReader::new(&wire[..cut]);
        assert_eq!(reader.read_frame().unwrap(), Some(Frame::Ping(1)));
        assert!(
            matches!(reader.read_frame(), Err(ReadError::UnexpectedEof)),
            "cut at {cut}"
        );
    }
}

#[test]
fn an_oversized_length_is_refused_before_its_payload_is_read() {
    let mut wire = vec![0u8, 0x10, 0, 1, 0x20];
    wire.extend_from_slice(&[0; 64]);
    let mut reader = FrameReader::with_decoder(
        Pieces::new(&wire, &[5, 64]),
        Decoder::with_max_payload(1 << 20),
    );
    assert!(matches!(
        reader.read_frame_ref(),
        Err(ReadError::Decode(DecodeError::FrameTooLarge { .. }))
    ));
    assert_eq!(
        reader.get_ref().turn,
        1,
        "read past a header already refused"
    );
}

#[test]
fn a_header_claiming_a_big_frame_grows_nothing_by_itself() {
    // A header announcing the maximum payload, then only 10 bytes of it.
    let mut wire = protocol::Header::new(protocol::FrameType::Stdout, DEFAULT_MAX_PAYLOAD)
        .expect("header")
        .to_bytes()
        .to_vec();
    wire.extend_from_slice(&[7; 10]);
    let mut reader = FrameReader::new(Pieces::new(&wire, &[3, 4, 100]));
    assert!(matches!(
        reader.read_frame_ref(),
        Err(ReadError::UnexpectedEof)
    ));
    assert_eq!(
        reader.capacity(),
        2 * READ_CHUNK,
        "grew for bytes never sent"
    );
}
