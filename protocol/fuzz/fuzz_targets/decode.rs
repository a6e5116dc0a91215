//! Feeds arbitrary bytes to the decoder in arbitrary chunks: it must never
//! panic, never hold more than it was given, and every frame it yields must
//! re-encode to bytes that decode to the same frame.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use protocol::legacy::ReplyDecoder;
use protocol::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(cut).max(1);
    let mut decoder = Decoder::with_max_payload(4096);
    let mut buf = BytesMut::new();
    'feed: for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let mut again = BytesMut::new();
                    frame.encode(&mut again).expect("a decoded frame re-encodes");
                    let round = Decoder::new().decode(&mut again).expect("re-decodes");
                    assert_eq!(round.as_ref(), Some(&frame));
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        assert!(buf.len() <= rest.len());
    }
    let mut legacy = ReplyDecoder::with_max_reply(4096);
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(_)) = legacy.decode(&mut buf) {}
});
