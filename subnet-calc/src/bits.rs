//! Range arithmetic shared by IPv4 (`u32`) and IPv6 (`u128`).
//!
//! # Design
//!
//! Every set operation in this crate reduces to inclusive ranges of
//! integers: a network is `[network, last]`, a union of networks is a
//! sorted list of disjoint ranges, and a range goes back to the minimal list
//! of CIDR blocks by taking, at each step, the largest block that is both
//! aligned at the current start and short enough to stay inside the range.
//! Inclusive ends keep `0..=MAX` (all of `0.0.0.0/0` or `::/0`) representable
//! without a wider type; every `+ 1` is guarded by an `== MAX` test.

/// An unsigned address integer: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Uint: Copy + Ord + Eq + std::fmt::Debug {
    /// Address width in bits (32 or 128).
    const BITS: u8;
    /// The all-ones value.
    const MAX: Self;
    /// The mask of the low `host_bits` bits; `host_bits <= BITS`.
    fn low_mask(host_bits: u8) -> Self;
    /// Bitwise or.
    fn or(self, other: Self) -> Self;
    /// `self + 1`; callers check `self != MAX` first.
    fn succ(self) -> Self;
    /// `self - other`; callers ensure `self >= other`.
    fn sub(self, other: Self) -> Self;
    /// Number of trailing zero bits (`BITS` for zero).
    fn trailing_zeros(self) -> u8;
    /// Number of leading zero bits (`BITS` for zero).
    fn leading_zeros(self) -> u8;
}

macro_rules! impl_uint {
    ($t:ty, $bits:expr) => {
        impl Uint for $t {
            const BITS: u8 = $bits;
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn low_mask(host_bits: u8) -> Self {
                // `checked_shl` is `None` for a shift of the full width,
                // which is exactly the all-ones case.
                match (1 as $t).checked_shl(u32::from(host_bits)) {
                    Some(v) => v - 1,
                    None => <$t>::MAX,
                }
            }
            #[inline]
            fn or(self, other: Self) -> Self {
                self | other
            }
            #[inline]
            fn succ(self) -> Self {
                self + 1
            }
            #[inline]
            fn sub(self, other: Self) -> Self {
                self - other
            }
            #[inline]
            fn trailing_zeros(self) -> u8 {
                // At most 128: fits in u8.
                <$t>::trailing_zeros(self) as u8
            }
            #[inline]
            fn leading_zeros(self) -> u8 {
                <$t>::leading_zeros(self) as u8
            }
        }
    };
}

impl_uint!(u32, 32);
impl_uint!(u128, 128);

/// Calls `emit(start, prefix)` for each block of the minimal list of CIDR
/// blocks covering exactly `start..=end`, in address order.
///
/// Requires `start <= end`.
#[inline]
pub(crate) fn range_to_blocks<T: Uint>(mut start: T, end: T, mut emit: impl FnMut(T, u8)) {
    debug_assert!(start <= end);
    loop {
        let span = end.sub(start); // number of addresses - 1
                                   // Largest k with 2^k - 1 <= span.
        let fits = if span == T::MAX {
            T::BITS
        } else {
            T::BITS - span.succ().leading_zeros() - 1
        };
        let aligned = start.trailing_zeros();
        let host_bits = fits.min(aligned);
        emit(start, T::BITS - host_bits);
        let last = start.or(T::low_mask(host_bits));
        if last == end {
            return;
        }
        start = last.succ();
    }
}

/// Sorts `ranges` by start and merges overlapping and adjacent ones, in
/// place. Returns the number of merged ranges, which sit at the front.
pub(crate) fn merge_ranges<T: Uint>(ranges: &mut [(T, T)]) -> usize {
    ranges.sort_unstable_by_key(|r| r.0);
    merge_sorted(ranges)
}

/// Merges ranges already sorted by start; see [`merge_ranges`].
pub(crate) fn merge_sorted<T: Uint>(ranges: &mut [(T, T)]) -> usize {
    let mut out = 0usize;
    for i in 0..ranges.len() {
        let (s, e) = ranges[i];
        if out > 0 {
            let cur = &mut ranges[out - 1];
            if cur.1 == T::MAX || s <= cur.1.succ() {
                if e > cur.1 {
                    cur.1 = e;
                }
                continue;
            }
        }
        ranges[out] = (s, e);
        out += 1;
    }
    out
}

/// Sorts `(start, end)` pairs of IPv4 integers by `start` with a three-pass
/// LSD radix sort (11 bits a pass). The order among equal starts is
/// irrelevant to merging. `scratch` is reused as the second buffer.
pub(crate) fn radix_sort_v4(data: &mut Vec<(u32, u32)>, scratch: &mut Vec<(u32, u32)>) {
    const RADIX_BITS: u32 = 11;
    const BUCKETS: usize = 1 << RADIX_BITS;
    const PASSES: usize = 3; // 3 * 11 >= 32
    let mut counts = vec![[0usize; BUCKETS]; PASSES];
    for &(s, _) in data.iter() {
        for (pass, c) in counts.iter_mut().enumerate() {
            // The shifted value is masked to 11 bits: fits usize.
            let digit = ((s >> (pass as u32 * RADIX_BITS)) as usize) & (BUCKETS - 1);
            c[digit] += 1;
        }
    }
    scratch.clear();
    scratch.resize(data.len(), (0, 0));
    for (pass, count) in counts.iter().enumerate() {
        // A pass where every key has the same digit changes nothing.
        if count.contains(&data.len()) {
            continue;
        }
        let mut offsets = [0usize; BUCKETS];
        let mut sum = 0;
        for (o, &c) in offsets.iter_mut().zip(count.iter()) {
            *o = sum;
            sum += c;
        }
        for &item in data.iter() {
            let digit = ((item.0 >> (pass as u32 * RADIX_BITS)) as usize) & (BUCKETS - 1);
            scratch[offsets[digit]] = item;
            offsets[digit] += 1;
        }
        std::mem::swap(data, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks32(s: u32, e: u32) -> Vec<(u32, u8)> {
        let mut v = Vec::new();
        range_to_blocks(s, e, |a, p| v.push((a, p)));
        v
    }

    #[test]
    fn full_range_is_one_block_of_prefix_zero() {
        assert_eq!(blocks32(0, u32::MAX), vec![(0, 0)]);
        let mut v = Vec::new();
        range_to_blocks(0u128, u128::MAX, |a, p| v.push((a, p)));
        assert_eq!(v, vec![(0, 0)]);
    }

    #[test]
    fn single_address_at_top_is_a_slash_32() {
        assert_eq!(blocks32(u32::MAX, u32::MAX), vec![(u32::MAX, 32)]);
    }

    #[test]
    fn unaligned_range_splits_into_growing_then_shrinking_blocks() {
        // 1..=6 -> 1/32, 2/31, 4/31, 6/32
        assert_eq!(blocks32(1, 6), vec![(1, 32), (2, 31), (4, 31), (6, 32)]);
    }

    #[test]
    fn merge_joins_adjacent_and_overlapping_and_keeps_gaps() {
        let mut r = vec![(10u32, 20u32), (0, 4), (5, 6), (21, 21), (23, 30), (12, 13)];
        let n = merge_ranges(&mut r);
        assert_eq!(&r[..n], &[(0, 6), (10, 21), (23, 30)]);
    }

    #[test]
    fn merge_stops_growing_at_max() {
        let mut r = vec![(0u32, u32::MAX), (5, 6)];
        let n = merge_ranges(&mut r);
        assert_eq!(&r[..n], &[(0, u32::MAX)]);
    }

    #[test]
    fn radix_sort_orders_by_start() {
        let mut d: Vec<(u32, u32)> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761), i))
            .collect();
        let mut expect = d.clone();
        expect.sort_unstable_by_key(|r| r.0);
        let mut scratch = Vec::new();
        radix_sort_v4(&mut d, &mut scratch);
        let a: Vec<u32> = d.iter().map(|r| r.0).collect();
        let b: Vec<u32> = expect.iter().map(|r| r.0).collect();
        assert_eq!(a, b);
    }
}
