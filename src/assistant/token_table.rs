// The token table's layout, shared by `build.rs` (which writes it into the binary) and
// `tokens.rs` (which reads it): included by both with `include!`, so that the hash and the
// probing can never differ between the two.

/// FNV-1a over the token's bytes, high bits folded in: the table index takes only the low ones.
pub(crate) fn token_hash(bytes: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 29)) as usize
}

/// Open addressing with linear probing over `count` tokens, at most half full so probes stay
/// short: each slot is `rank + 1`, or 0 when empty.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn token_slots<'a>(count: usize, token: impl Fn(usize) -> &'a [u8]) -> Vec<u32> {
    let size = (count * 2).next_power_of_two();
    let mut slots = vec![0; size];
    let mask = size - 1;
    for rank in 0..count {
        let mut i = token_hash(token(rank)) & mask;
        while slots[i] != 0 {
            i = (i + 1) & mask;
        }
        slots[i] = u32::try_from(rank + 1).unwrap_or(u32::MAX);
    }
    slots
}
