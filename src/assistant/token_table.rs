// The token table's layout, shared by `build.rs` (which writes it into the binary) and
// `tokens.rs` (which reads it): included by both with `include!`, so that the hash and the
// probing can never differ between the two.

/// FNV-1a over the token's bytes, high bits folded in: the table index takes the low bits, the
/// slot's tag the top ones.
pub(crate) fn token_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 29)
}

/// A slot is `rank + 1` in its low bits (0: empty) under a tag of the token's hash: a probe
/// passes over other tokens by their tag, without reading their bytes. o200k has 199,998 ranks.
pub(crate) const RANK_BITS: u32 = 18;
pub(crate) const RANK_MASK: u32 = (1 << RANK_BITS) - 1;

/// The tag a token's hash gives its slot: the hash's top `32 - RANK_BITS` bits.
pub(crate) fn token_tag(hash: u64) -> u32 {
    (hash >> (64 - (32 - RANK_BITS))) as u32
}

/// How many slots a table of `count` tokens has: a power of two, at most four fifths full.
pub(crate) fn token_table_size(count: usize) -> usize {
    (count + count / 4).next_power_of_two()
}

/// Open addressing with linear probing over `count` tokens (fewer than 2^RANK_BITS): each slot
/// is `token_tag << RANK_BITS | (rank + 1)`, or 0 when empty.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn token_slots<'a>(count: usize, token: impl Fn(usize) -> &'a [u8]) -> Vec<u32> {
    let size = token_table_size(count);
    let mut slots = vec![0; size];
    let mask = size - 1;
    for rank in 0..count {
        let hash = token_hash(token(rank));
        let mut i = hash as usize & mask;
        while slots[i] != 0 {
            i = (i + 1) & mask;
        }
        let rank = u32::try_from(rank + 1).unwrap_or(u32::MAX);
        slots[i] = token_tag(hash) << RANK_BITS | (rank & RANK_MASK);
    }
    slots
}
