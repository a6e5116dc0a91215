//! Benchmark helper (not run in CI): times `Ipv4Net::aggregate` against
//! `ipnet::Ipv4Net::aggregate` on the same networks, read one CIDR per line
//! from the file given as the only argument. Both libraries get the same
//! already-parsed input; each is run `ROUNDS` times and the best time kept.
//!
//! `cargo run --release -p subnet-calc --example aggregate_vs_ipnet -- FILE`

use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

fn best(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        n = std::hint::black_box(f());
        best = best.min(t.elapsed());
    }
    (best, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: aggregate_vs_ipnet FILE")?;
    let text = std::fs::read_to_string(path)?;
    let ours: Vec<subnet_calc::Ipv4Net> = text.lines().map(str::parse).collect::<Result<_, _>>()?;
    let theirs: Vec<ipnet::Ipv4Net> = text.lines().map(str::parse).collect::<Result<_, _>>()?;
    let (t_ours, n_ours) = best(|| subnet_calc::Ipv4Net::aggregate(&ours).len());
    let (t_theirs, n_theirs) = best(|| ipnet::Ipv4Net::aggregate(&theirs).len());
    assert_eq!(n_ours, n_theirs, "the two libraries disagree");
    println!("inputs:                       {}", ours.len());
    println!("outputs:                      {n_ours}");
    println!(
        "subnet_calc::Ipv4Net::aggregate  {:>9.2} ms (best of {ROUNDS})",
        t_ours.as_secs_f64() * 1e3
    );
    println!(
        "ipnet::Ipv4Net::aggregate        {:>9.2} ms (best of {ROUNDS})",
        t_theirs.as_secs_f64() * 1e3
    );
    println!(
        "ratio (ours / ipnet):            {:>9.3}",
        t_ours.as_secs_f64() / t_theirs.as_secs_f64()
    );
    Ok(())
}
