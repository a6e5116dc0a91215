//! The wire format pinned down: golden bytes for every frame type, named
//! edge cases, and a property test over arbitrary chunkings.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use protocol::legacy::{self, LegacyError, ReplyDecoder};
use protocol::{
    Auth, Challenge, DecodeError, Decoder, ErrorCode, ErrorFrame, Exec, Exit, Frame, FrameType,
    Hello, Signal, Termination, Welcome, DEFAULT_MAX_PAYLOAD, HEADER_LEN,
};

fn encode(frame: &Frame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frame.encode(&mut buf).expect("encode");
    buf.to_vec()
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf)? {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "bytes left over: {buf:?}");
    Ok(frames)
}

fn golden(frame: Frame, wire: &[u8]) {
    assert_eq!(encode(&frame), wire, "encoding of {frame:?}");
    assert_eq!(decode_all(wire).expect("decode"), vec![frame]);
}

#[test]
fn golden_hello() {
    golden(
        Frame::Hello(Hello::default()),
        &[0, 0, 0, 6, 0x01, b'R', b'C', b'M', b'D', 0, 1],
    );
}

#[test]
fn golden_challenge() {
    let mut wire = vec![0, 0, 0, 34, 0x02, 0, 1];
    wire.extend((0..32).collect::<Vec<u8>>());
    let nonce: [u8; 32] = std::array::from_fn(|i| i as u8);
    golden(Frame::Challenge(Challenge { version: 1, nonce }), &wire);
}

#[test]
fn golden_auth() {
    let mut wire = vec![0, 0, 0, 32, 0x03];
    wire.extend([0xAB; 32]);
    golden(Frame::Auth(Auth { proof: [0xAB; 32] }), &wire);
}

#[test]
fn golden_welcome() {
    golden(
        Frame::Welcome(Welcome { version: 1 }),
        &[0, 0, 0, 2, 0x04, 0, 1],
    );
}

#[test]
fn golden_exec_plain() {
    golden(
        Frame::Exec(Exec::new("ls")),
        &[0, 0, 0, 5, 0x10, 0x00, 0, 0, b'l', b's'],
    );
}

#[test]
fn golden_exec_with_every_option() {
    let exec = Exec {
        command: Bytes::from_static(b"pwd"),
        timeout_ms: Some(1500),
        cwd: Some(Bytes::from_static(b"/tmp")),
        env: vec![(Bytes::from_static(b"A"), Bytes::from_static(b"bc"))],
        stdin: true,
    };
    #[rustfmt::skip]
    let wire = [
        0, 0, 0, 25, 0x10,
        0x07,                   // flags: timeout, cwd, stdin
        0, 0, 0x05, 0xDC,       // timeout 1500 ms
        0, 4, b'/', b't', b'm', b'p',
        0, 1,                   // one variable
        0, 1, b'A', 0, 0, 0, 2, b'b', b'c',
        b'p', b'w', b'd',
    ];
    golden(Frame::Exec(exec), &wire);
}

#[test]
fn golden_stdin() {
    golden(
        Frame::Stdin(Bytes::from_static(&[0, 0xFF, b'\n'])),
        &[0, 0, 0, 3, 0x11, 0, 0xFF, b'\n'],
    );
}

#[test]
fn golden_stdin_eof() {
    golden(Frame::StdinEof, &[0, 0, 0, 0, 0x12]);
}

#[test]
fn golden_signal() {
    golden(Frame::Signal(Signal { signal: 2 }), &[0, 0, 0, 1, 0x13, 2]);
}

#[test]
fn golden_stdout() {
    golden(
        Frame::Stdout("a\n".into()),
        &[0, 0, 0, 2, 0x20, b'a', b'\n'],
    );
}

#[test]
fn golden_stderr() {
    golden(Frame::Stderr("e".into()), &[0, 0, 0, 1, 0x21, b'e']);
}

#[test]
fn golden_exit_code() {
    golden(
        Frame::Exit(Exit {
            termination: Termination::Code(3),
            timed_out: false,
            runtime_us: 0x0102,
        }),
        &[0, 0, 0, 14, 0x22, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2],
    );
}

#[test]
fn golden_exit_signal_timed_out() {
    golden(
        Frame::Exit(Exit {
            termination: Termination::Signal(9),
            timed_out: true,
            runtime_us: 1,
        }),
        &[0, 0, 0, 14, 0x22, 1, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    );
}

#[test]
fn golden_error() {
    golden(
        Frame::Error(ErrorFrame::new(ErrorCode::AuthFailed, "no")),
        &[0, 0, 0, 4, 0x30, 0, 5, b'n', b'o'],
    );
}

#[test]
fn golden_ping_pong() {
    golden(
        Frame::Ping(258),
        &[0, 0, 0, 8, 0x40, 0, 0, 0, 0, 0, 0, 1, 2],
    );
    golden(
        Frame::Pong(258),
        &[0, 0, 0, 8, 0x41, 0, 0, 0, 0, 0, 0, 1, 2],
    );
}

#[test]
fn every_frame_type_has_a_golden_test() {
    // The golden tests above cover these; a new type must add one.
    assert_eq!(FrameType::ALL.len(), 14);
}

#[test]
fn read_incomplete_head_needs_more() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&[0u8, 0, 0, 1][..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 4, "a partial header is not consumed");
}

#[test]
fn read_incomplete_payload_needs_more() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0x20, b'a'][..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"bc");
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Frame::Stdout("abc".into())))
    );
}

#[test]
fn read_zero_length_data_frames() {
    let wire = [0u8, 0, 0, 0, 0x20, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0x11];
    assert_eq!(
        decode_all(&wire).unwrap(),
        vec![
            Frame::Stdout(Bytes::new()),
            Frame::Stderr(Bytes::new()),
            Frame::Stdin(Bytes::new())
        ]
    );
}

#[test]
fn read_max_frame_len_is_accepted() {
    let frame = Frame::Stdout(Bytes::from(vec![7u8; DEFAULT_MAX_PAYLOAD]));
    assert_eq!(decode_all(&encode(&frame)).unwrap(), vec![frame]);
}

#[test]
fn read_one_byte_over_max_is_rejected_from_the_header_alone() {
    let len = (DEFAULT_MAX_PAYLOAD + 1) as u32;
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&[0x20]);
    assert_eq!(
        Decoder::new().decode(&mut buf),
        Err(DecodeError::FrameTooLarge {
            len: u64::from(len),
            max: DEFAULT_MAX_PAYLOAD
        })
    );
}

#[test]
fn read_length_ffffffff_is_rejected_without_allocating() {
    let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0xFF, 0xFF, 0x20][..]);
    let capacity = buf.capacity();
    let err = Decoder::new().decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            len: 0xFFFF_FFFF,
            max: DEFAULT_MAX_PAYLOAD
        }
    );
    assert_eq!(buf.capacity(), capacity, "nothing reserved for the claim");
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);
}

#[test]
fn configured_max_applies_per_decoder() {
    let mut small = Decoder::with_max_payload(2);
    let mut buf = BytesMut::from(&encode(&Frame::Stdout("abc".into()))[..]);
    assert!(matches!(
        small.decode(&mut buf),
        Err(DecodeError::FrameTooLarge { len: 3, max: 2 })
    ));
}

#[test]
fn read_unknown_type_is_an_error() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0, 0x99][..]);
    assert_eq!(
        Decoder::new().decode(&mut buf),
        Err(DecodeError::UnknownType { frame_type: 0x99 })
    );
}

#[test]
fn read_truncated_fixed_payload_is_an_error() {
    // A Welcome must carry 2 bytes; this one carries 1.
    let mut buf = BytesMut::from(&[0u8, 0, 0, 1, 0x04, 1][..]);
    assert!(matches!(
        Decoder::new().decode(&mut buf),
        Err(DecodeError::Truncated {
            frame_type: FrameType::Welcome,
            ..
        })
    ));
}

#[test]
fn read_trailing_bytes_in_fixed_payload_is_an_error() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 1, 0x12, 0][..]);
    assert!(matches!(
        Decoder::new().decode(&mut buf),
        Err(DecodeError::TrailingBytes {
            frame_type: FrameType::StdinEof,
            extra: 1
        })
    ));
}

#[test]
fn read_exec_with_impossible_env_count_is_an_error() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 0x10, 0, 0xFF, 0xFF][..]);
    assert!(matches!(
        Decoder::new().decode(&mut buf),
        Err(DecodeError::Malformed {
            frame_type: FrameType::Exec,
            ..
        })
    ));
}

#[test]
fn read_garbage_is_an_error_not_a_panic() {
    // An HTTP request is not a frame: its first 4 bytes claim ~1.2 GB.
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
    assert!(Decoder::new().decode(&mut buf).is_err());
}

#[test]
fn unknown_error_codes_survive_a_round_trip() {
    let frame = Frame::Error(ErrorFrame {
        code: ErrorCode::Other(999),
        message: Bytes::new(),
    });
    assert_eq!(decode_all(&encode(&frame)).unwrap(), vec![frame]);
}

#[test]
fn legacy_reply_header_is_signed_little_endian() {
    let mut buf = BytesMut::new();
    legacy::encode_reply(&[b'x'; 258], &mut buf).unwrap();
    assert_eq!(&buf[..4], &[2, 1, 0, 0]);
}

#[test]
fn legacy_negative_length_is_rejected() {
    let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0xFF, 0xFF][..]);
    assert_eq!(
        ReplyDecoder::new().decode(&mut buf),
        Err(LegacyError::NegativeLength(-1))
    );
}

#[test]
fn legacy_reply_split_anywhere_decodes() {
    let mut wire = BytesMut::new();
    legacy::encode_reply(b"hello world", &mut wire).unwrap();
    let mut decoder = ReplyDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = None;
    for byte in wire.iter() {
        buf.extend_from_slice(&[*byte]);
        if let Some(reply) = decoder.decode(&mut buf).unwrap() {
            out = Some(reply);
        }
    }
    assert_eq!(out.as_deref(), Some(&b"hello world"[..]));
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(magic, version)| Frame::Hello(Hello { magic, version })),
        (any::<u16>(), any::<[u8; 32]>())
            .prop_map(|(version, nonce)| Frame::Challenge(Challenge { version, nonce })),
        any::<[u8; 32]>().prop_map(|proof| Frame::Auth(Auth { proof })),
        any::<u16>().prop_map(|version| Frame::Welcome(Welcome { version })),
        (
            arb_bytes(64),
            proptest::option::of(any::<u32>()),
            proptest::option::of(arb_bytes(16)),
            proptest::collection::vec((arb_bytes(8), arb_bytes(8)), 0..4),
            any::<bool>()
        )
            .prop_map(|(command, timeout_ms, cwd, env, stdin)| Frame::Exec(Exec {
                command,
                timeout_ms,
                cwd,
                env,
                stdin
            })),
        arb_bytes(300).prop_map(Frame::Stdin),
        Just(Frame::StdinEof),
        any::<u8>().prop_map(|signal| Frame::Signal(Signal { signal })),
        arb_bytes(300).prop_map(Frame::Stdout),
        arb_bytes(300).prop_map(Frame::Stderr),
        (any::<bool>(), any::<i32>(), any::<bool>(), any::<u64>()).prop_map(
            |(sig, value, timed_out, runtime_us)| Frame::Exit(Exit {
                termination: if sig {
                    Termination::Signal(value)
                } else {
                    Termination::Code(value)
                },
                timed_out,
                runtime_us
            })
        ),
        (any::<u16>(), arb_bytes(40)).prop_map(|(code, message)| Frame::Error(ErrorFrame {
            code: ErrorCode::from_u16(code),
            message
        })),
        any::<u64>().prop_map(Frame::Ping),
        any::<u64>().prop_map(Frame::Pong),
    ]
}

/// Feeds `wire` to a decoder in the given chunk sizes (cycled).
fn decode_chunked(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts[i % cuts.len()].clamp(1, rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = decoder.decode(&mut buf).expect("valid stream") {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty() && decoder.is_idle());
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_frames_cut_anywhere_decode_to_the_same_frames(
        frames in proptest::collection::vec(arb_frame(), 0..12),
        cuts in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut wire).unwrap();
        }
        prop_assert_eq!(&decode_chunked(&wire, &[usize::MAX]), &frames);
        prop_assert_eq!(&decode_chunked(&wire, &[1]), &frames);
        prop_assert_eq!(&decode_chunked(&wire, &cuts), &frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = Decoder::with_max_payload(256);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decoder.decode(&mut buf) {}
        prop_assert!(buf.len() <= bytes.len());
    }

    #[test]
    fn encoded_len_matches_encoding(frame in arb_frame()) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf).unwrap();
        prop_assert_eq!(buf.len(), frame.encoded_len());
        prop_assert_eq!(buf.len(), HEADER_LEN + frame.payload_len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn borrowed_decoding_agrees_with_owned_decoding(
        frames in proptest::collection::vec(arb_frame(), 0..12),
    ) {
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut wire).unwrap();
        }
        let decoder = Decoder::new();
        let mut at = 0;
        let mut seen = Vec::new();
        while let Some((frame, used)) = decoder.decode_borrowed(&wire[at..]).unwrap() {
            seen.push(frame.to_owned());
            at += used;
        }
        prop_assert_eq!(at, wire.len());
        prop_assert_eq!(seen, frames);
    }
}

#[test]
fn borrowed_decoding_checks_the_length_first() {
    let decoder = Decoder::with_max_payload(8);
    assert_eq!(
        decoder.decode_borrowed(&[0, 0, 0, 9, 0x20]),
        Err(DecodeError::FrameTooLarge { len: 9, max: 8 })
    );
    assert_eq!(decoder.decode_borrowed(&[0, 0, 0, 3, 0x20, 1]), Ok(None));
}
