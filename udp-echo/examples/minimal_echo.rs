//! The baseline the benchmark compares `udp-echo serve` with: the simplest
//! correct echo loop in Rust, one `recv_from` and one `send_to` per datagram.
//!
//! `cargo run --release -p udp-echo --example minimal_echo -- 127.0.0.1:0`
use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8002".into());
    let sock = UdpSocket::bind(addr)?;
    eprintln!("listening on {}", sock.local_addr()?);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = sock.recv_from(&mut buf)?;
        let _ = sock.send_to(&buf[..n], from);
    }
}
